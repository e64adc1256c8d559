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

/**
 * A blob upload attempt that failed: what any request retries, and the registry no longer knowing
 * the upload session (it was restarted, or cancelled the session when a body broke off) — which an
 * attempt with a new session mends.
 */
export function classifyUploadError(error: unknown): Verdict {
  const verdict = classifyRegistryError(error)
  if (verdict.transient || !(error instanceof RegistryError)) return verdict
  if (
    error.code === 'BLOB_UPLOAD_UNKNOWN' ||
    error.code === 'BLOB_UPLOAD_INVALID' ||
    error.status === 416
  ) {
    return { transient: true, reason: `${error.code.toLowerCase()}: the upload session is gone` }
  }
  return verdict
}
