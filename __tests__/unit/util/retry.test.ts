import { describe, expect, it } from '@jest/globals'
import { UserError } from '../../../src/util/errors.js'
import {
  DEFAULT_POLICY,
  backoffMs,
  parseRetryAfter,
  withRetries,
  type Verdict
} from '../../../src/util/retry.js'
import { classifyDockerText } from '../../../src/docker/errors.js'

/** A clock that moves only when the code under test sleeps. */
function fakeTime() {
  let t = 0
  const waits: number[] = []
  return {
    waits,
    hooks: {
      now: () => t,
      sleep: async (ms: number) => {
        waits.push(ms)
        t += ms
      },
      random: () => 0.5
    }
  }
}

const transient =
  (reason = '503', retryAfterSeconds?: number) =>
  (): Verdict => ({
    transient: true,
    reason,
    retryAfterSeconds
  })

/**
 * withRetries of an operation `name` that always throws `error` (a message, or the error itself):
 * what it ended with, how many calls it made, and the waits.
 */
async function alwaysFailing(
  name: string,
  error: string | Error,
  classify: () => Verdict,
  policy = DEFAULT_POLICY
): Promise<{ err: Error; calls: number; waits: number[] }> {
  const time = fakeTime()
  let calls = 0
  const err = await withRetries(
    name,
    async () => {
      calls++
      throw typeof error === 'string' ? new Error(error) : error
    },
    classify,
    policy,
    time.hooks
  ).catch((e: unknown) => e as Error)
  return { err, calls, waits: time.waits }
}

describe('withRetries', () => {
  it('retries transient failures with growing, capped, jittered waits, then succeeds', async () => {
    const time = fakeTime()
    let calls = 0
    const result = await withRetries(
      'op',
      async () => {
        if (++calls < 4) throw new Error('503 Service Unavailable')
        return 'ok'
      },
      transient(),
      DEFAULT_POLICY,
      time.hooks
    )
    expect(result).toBe('ok')
    expect(calls).toBe(4)
    // equal jitter with random 0.5: 3/4 of 1 s, 2 s, 4 s
    expect(time.waits).toEqual([750, 1500, 3000])
  })

  it('never retries a permanent failure', async () => {
    const denied = new Error('denied: permission_denied: write_package')
    const { err, calls, waits } = await alwaysFailing('op', denied, () => ({
      transient: false,
      reason: '403'
    }))
    expect(err).toBe(denied)
    expect(calls).toBe(1)
    expect(waits).toEqual([])
  })

  it('gives up after `retries` retries with a message that says so', async () => {
    const { err, calls } = await alwaysFailing(
      'docker push ghcr.io/o/i:1',
      'received unexpected HTTP status: 503 Service Unavailable',
      transient(),
      { ...DEFAULT_POLICY, retries: 2 }
    )
    expect(calls).toBe(3)
    expect(err).toBeInstanceOf(UserError)
    expect(err.message).toMatch(
      /^docker push ghcr.io\/o\/i:1 failed after 3 attempts over 2\.3 s \(retries: 2\); .*\(last: 503\): received unexpected HTTP status: 503 Service Unavailable\. Re-run the job later, or raise the retries input/
    )
  })

  it('honours Retry-After, and stops when it would exceed the time bound', async () => {
    const { err, calls, waits } = await alwaysFailing(
      'op',
      'toomanyrequests',
      transient('429', 30),
      {
        ...DEFAULT_POLICY,
        totalMs: 45_000
      }
    )
    expect(waits).toEqual([30_000]) // the server's 30 s, not the 0.75 s backoff
    expect(calls).toBe(2)
    expect(err.message).toMatch(/the registry asked to wait 30 s, beyond the time bound of 45 s/)
  })

  it('retries: 0 means one attempt', async () => {
    const { err, calls } = await alwaysFailing('op', 'x', transient(), {
      ...DEFAULT_POLICY,
      retries: 0
    })
    expect(err.message).toMatch(/failed after 1 attempt over/)
    expect(calls).toBe(1)
  })

  it('backoff is capped and never below half the ceiling', () => {
    expect(backoffMs(1, DEFAULT_POLICY, () => 0)).toBe(500)
    expect(backoffMs(1, DEFAULT_POLICY, () => 1)).toBe(1000)
    expect(backoffMs(10, DEFAULT_POLICY, () => 1)).toBe(15_000)
  })
})

describe('Retry-After', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('120')).toBe(120)
    expect(
      parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))
    ).toBe(10)
    expect(parseRetryAfter('soon')).toBeUndefined()
    expect(parseRetryAfter(null)).toBeUndefined()
  })
})

describe("docker's words", () => {
  it.each([
    [
      'Error response from daemon: login attempt to https://r/v2/ failed with status: 503 Service Unavailable',
      '5xx'
    ],
    ['received unexpected HTTP status: 502 Bad Gateway', '5xx'],
    ['toomanyrequests: retry-after: 1s', 'toomanyrequests'],
    [
      'Get "http://r/v2/": read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer',
      'connection reset'
    ],
    [
      'Get "http://r/v2/": dial tcp 127.0.0.1:5000: connect: connection refused',
      'connection refused'
    ],
    [
      'Get "https://r/v2/": net/http: request canceled (Client.Timeout exceeded while awaiting headers)',
      'timeout'
    ],
    ['Put "http://r/v2/o/i/manifests/1": EOF', 'connection dropped']
  ])('transient: %s', (text, reason) => {
    expect(classifyDockerText(text)).toEqual({ transient: true, reason })
  })
  it.each([
    'denied: permission_denied: write_package',
    'unauthorized: unauthenticated: User cannot be authenticated with the token provided.',
    'Error response from daemon: login attempt to http://r/v2/ failed with status: 401 Unauthorized',
    'denied: denied',
    'manifest unknown',
    'An image does not exist locally with the tag: r/o/i',
    // permanent words win over transient ones in the same line
    'unauthorized: authentication required (after 503)'
  ])('permanent: %s', text => {
    expect(classifyDockerText(text).transient).toBe(false)
  })
})
