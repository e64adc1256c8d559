/**
 * Retries of transient failures: HTTP 5xx, 429 (honouring Retry-After), connections reset or
 * refused, timeouts. Capped exponential backoff with jitter, within a total time bound. Permanent
 * failures (400, 401, 403, 404, and anything not known to be transient) are never retried.
 */
import { UserError } from './errors.js'

export interface RetryPolicy {
  /** Retries after the first attempt (the `retries` input). */
  retries: number
  /** First backoff, doubled each retry, capped at maxDelayMs. */
  baseDelayMs: number
  maxDelayMs: number
  /** The whole operation, waits included, gives up once this much time has passed. */
  totalMs: number
}

export const DEFAULT_POLICY: RetryPolicy = {
  retries: 3,
  baseDelayMs: 1000,
  maxDelayMs: 15_000,
  totalMs: 120_000
}

/** Gave up on a failure that stayed transient: retries or time ran out. */
export class RetriesExhausted extends UserError {
  constructor(
    message: string,
    /** What was tried ("docker login", "PUT /v2/… on ghcr.io"), and how often. */
    readonly what: string,
    readonly attempts: number
  ) {
    super(message)
  }
}

/** What the caller says about one failure. */
export interface Verdict {
  transient: boolean
  /** Seconds the server asked to wait (Retry-After), when it did. */
  retryAfterSeconds?: number
  /** A short name for the log: "503", "ECONNRESET", "toomanyrequests". */
  reason: string
}

export interface RetryHooks {
  sleep?: (ms: number) => Promise<void>
  random?: () => number
  now?: () => number
  /** Called before each wait, for the log. */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void
}

/** Backoff before retry `n` (1-based): half fixed, half random ("equal jitter"), capped. */
export function backoffMs(n: number, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

/** `Retry-After: 120` or an HTTP date, in seconds from now; undefined when absent or unreadable. */
export function parseRetryAfter(
  value: string | null | undefined,
  now = Date.now()
): number | undefined {
  if (!value) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim())
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000))
}

/**
 * Runs `operation`, retrying while `classify` calls its failure transient, up to policy.retries
 * times and within policy.totalMs. When it gives up on a transient failure, the error says how
 * often and for how long it tried; a permanent failure is rethrown at once, unchanged.
 */
export async function withRetries<T>(
  what: string,
  operation: (attempt: number) => Promise<T>,
  classify: (error: unknown) => Verdict,
  policy: RetryPolicy = DEFAULT_POLICY,
  hooks: RetryHooks = {}
): Promise<T> {
  const sleep = hooks.sleep ?? ((ms: number) => new Promise<void>(r => setTimeout(r, ms)))
  const random = hooks.random ?? Math.random
  const now = hooks.now ?? Date.now
  const start = now()
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt)
    } catch (error) {
      const verdict = classify(error)
      if (!verdict.transient) throw error
      const elapsed = now() - start
      const wanted = Math.max(
        backoffMs(attempt, policy, random),
        (verdict.retryAfterSeconds ?? 0) * 1000
      )
      const giveUp = (why: string): never => {
        const message = error instanceof Error ? error.message : String(error)
        throw new RetriesExhausted(
          `${what} failed after ${attempt} attempt${attempt === 1 ? '' : 's'} over ` +
            `${(elapsed / 1000).toFixed(1)} s (${why}); the registry kept answering with transient ` +
            `errors (last: ${verdict.reason}): ${message.replace(/[.\s]+$/, '')}. ` +
            'Re-run the job later, or raise the retries input if the registry is often this flaky.',
          what,
          attempt
        )
      }
      if (attempt > policy.retries) giveUp(`retries: ${policy.retries}`)
      if (elapsed + wanted > policy.totalMs) {
        giveUp(
          verdict.retryAfterSeconds !== undefined &&
            verdict.retryAfterSeconds * 1000 > policy.totalMs - elapsed
            ? `the registry asked to wait ${verdict.retryAfterSeconds} s, beyond the time bound of ${policy.totalMs / 1000} s`
            : `time bound of ${policy.totalMs / 1000} s`
        )
      }
      hooks.onRetry?.({ attempt, delayMs: wanted, reason: verdict.reason })
      await sleep(wanted)
    }
  }
}
