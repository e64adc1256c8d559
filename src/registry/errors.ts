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
    /** Retry-After of a 429 or 503 (header, or the wait a 429 body names), in seconds. */
    readonly retryAfterSeconds?: number
  ) {
    super(message)
    this.name = 'RegistryError'
  }
}

/** The shortest wait before retrying a rate-limited request, whatever the registry says. */
export const RATE_LIMIT_FLOOR_SECONDS = 1
/**
 * A 403 for GitHub's secondary rate limit names no wait: GitHub asks clients to wait at least a
 * minute then (docs "Rate limits for the REST API", "secondary rate limits").
 */
export const SECONDARY_RATE_LIMIT_SECONDS = 60

/**
 * The wait a 429 names in its body, in seconds: ghcr.io sends it there, not in a Retry-After
 * header ("retry-after: 10.48ms, allowed: 2000/minute"; docs/facts/github-registries.md, "ghcr.io protocol
 * details"). Units ms, s, m (none: seconds). Never less than RATE_LIMIT_FLOOR_SECONDS; undefined
 * when the text names no wait.
 */
export function retryAfterFromBody(text: string): number | undefined {
  const m = /retry[-_ ]after:?\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\b/i.exec(text)
  if (!m) return undefined
  const value = Number(m[1])
  const seconds = m[2] === 'ms' ? value / 1000 : m[2] === 'm' ? value * 60 : value
  return Math.max(RATE_LIMIT_FLOOR_SECONDS, seconds)
}

/** A 403 that is GitHub's secondary rate limit ("You have exceeded a secondary rate limit"). */
export function isSecondaryRateLimit(status: number, text: string): boolean {
  return status === 403 && /secondary rate limit/i.test(text)
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
      reason: error.status === 429 ? '429 rate limit' : String(error.status)
    }
  }
  if (isSecondaryRateLimit(error.status, error.detail || error.message)) {
    return {
      transient: true,
      retryAfterSeconds: error.retryAfterSeconds ?? SECONDARY_RATE_LIMIT_SECONDS,
      reason: '403 secondary rate limit'
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
