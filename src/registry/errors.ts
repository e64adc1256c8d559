/** A registry request that failed, and whether it is worth another try. */
import type { Verdict } from '../util/retry.js'

export class RegistryError extends Error {
  constructor(
    message: string,
    /** HTTP status; 0 when the registry could not be reached. */
    readonly status: number,
    /** The registry's error code (UNAUTHORIZED, DENIED, MANIFEST_UNKNOWN, …), NETWORK, or HTTP_<status>. */
    readonly code: string,
    /** The registry's own error message, when it sent one (for NETWORK: the error code). */
    readonly detail: string = '',
    /** Retry-After of a 429 or 503, in seconds. */
    readonly retryAfterSeconds?: number
  ) {
    super(message)
    this.name = 'RegistryError'
  }
}

/** Network errors worth another try; anything else (a DNS name that does not exist…) is final. */
const TRANSIENT_NETWORK =
  /^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EAI_AGAIN|UND_ERR_SOCKET|UND_ERR_CONNECT_TIMEOUT|UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT|UND_ERR_CLOSED|TimeoutError)$/

/** Whether a failed request may be tried again. */
export function classifyRegistryError(error: unknown): Verdict {
  if (!(error instanceof RegistryError)) return { transient: false, reason: 'error' }
  if (error.code === 'NETWORK') {
    return { transient: TRANSIENT_NETWORK.test(error.detail), reason: error.detail || 'network' }
  }
  if (error.status === 429 || error.status >= 500) {
    return {
      transient: true,
      retryAfterSeconds: error.retryAfterSeconds,
      reason: String(error.status)
    }
  }
  return { transient: false, reason: String(error.status) }
}
