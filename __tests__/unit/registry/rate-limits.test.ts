/**
 * ghcr.io's rate limits (docs/facts/github-registries.md, "ghcr.io protocol details"): a 429 with
 * the wait in its
 * body only, and a 403 "secondary rate limit"; both retried, after the wait they name (floored).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { RegistryClient } from '../../../src/registry/client.js'
import {
  RegistryError,
  classifyRegistryError,
  isSecondaryRateLimit,
  retryAfterFromBody
} from '../../../src/registry/errors.js'

const GHCR_429 = 'retry-after: 10.48ms, allowed: 2000/minute'
const SECONDARY = 'You have exceeded a secondary rate limit'

describe('the wait named in a rate-limit body', () => {
  it('reads ghcr.io’s "retry-after: 10.48ms, allowed: 2000/minute" (ms!) with a floor of 1 s', () => {
    expect(retryAfterFromBody(GHCR_429)).toBe(1)
    expect(retryAfterFromBody('retry-after: 2500ms, allowed: 2000/minute')).toBe(2.5)
    expect(retryAfterFromBody('retry-after: 3s')).toBe(3)
    expect(retryAfterFromBody('Retry-After: 7')).toBe(7)
    expect(retryAfterFromBody('retry-after: 2m')).toBe(120)
    expect(retryAfterFromBody('toomanyrequests')).toBeUndefined()
  })

  it('tells the secondary rate limit (a 403) from a refusal', () => {
    expect(isSecondaryRateLimit(403, SECONDARY)).toBe(true)
    expect(isSecondaryRateLimit(403, 'denied: permission_denied: write_package')).toBe(false)
    expect(isSecondaryRateLimit(401, SECONDARY)).toBe(false)
    expect(classifyRegistryError(new RegistryError('x', 403, 'DENIED', SECONDARY))).toEqual({
      transient: true,
      retryAfterSeconds: 60,
      reason: '403 secondary rate limit'
    })
    expect(
      classifyRegistryError(new RegistryError('x', 403, 'DENIED', 'permission_denied'))
    ).toMatchObject({ transient: false })
    expect(classifyRegistryError(new RegistryError('x', 429, 'TOOMANYREQUESTS', '', 1))).toEqual({
      transient: true,
      retryAfterSeconds: 1,
      reason: '429 rate limit'
    })
  })
})

describe('a rate-limited registry', () => {
  let server: Server
  let registry = ''
  /** What to answer next, per path: a queue of [status, body]. */
  const answers = new Map<string, [number, string][]>()
  beforeAll(async () => {
    server = createServer((req, res) => {
      const next = answers.get(req.url ?? '')?.shift() ?? [200, '{}']
      res.writeHead(next[0], { 'Content-Type': 'application/json' })
      res.end(next[1])
    })
    await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
    registry = `127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>(r => server.close(() => r())))

  const errors = (code: string, message: string): string =>
    JSON.stringify({ errors: [{ code, message }] })

  function client(waits: number[]): RegistryClient {
    return new RegistryClient({
      registry,
      retry: { retries: 3, baseDelayMs: 10, maxDelayMs: 20, totalMs: 600_000 },
      sleep: async ms => void waits.push(ms)
    })
  }

  it('429 TOOMANYREQUESTS: retried after the body’s wait, at least 1 s', async () => {
    answers.set('/v2/o/i/manifests/v0', [
      [429, errors('TOOMANYREQUESTS', GHCR_429)],
      [429, errors('TOOMANYREQUESTS', 'retry-after: 4200ms, allowed: 2000/minute')]
    ])
    const waits: number[] = []
    expect((await client(waits).getManifest('o/i', 'v0')).bytes.toString()).toBe('{}')
    expect(waits).toEqual([1000, 4200])
  })

  it('403 secondary rate limit: retried as transient (a minute unless told)', async () => {
    answers.set('/v2/o/i/manifests/v1', [[403, errors('DENIED', SECONDARY)]])
    const waits: number[] = []
    const m = await client(waits).getManifest('o/i', 'v1')
    expect(m.bytes.toString()).toBe('{}')
    expect(waits).toEqual([60_000])
  })

  it('any other 403 is final, its message kept', async () => {
    answers.set('/v2/o/i/manifests/v2', [
      [403, errors('DENIED', 'permission_denied: write_package')]
    ])
    const waits: number[] = []
    await expect(client(waits).getManifest('o/i', 'v2')).rejects.toThrow(
      /403 denied: permission_denied: write_package/
    )
    expect(waits).toEqual([])
  })
})
