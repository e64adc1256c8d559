import { describe, expect, it } from '@jest/globals'
import type { RunContext } from '../../../src/github/context.js'
import { resolveRepositoryInfo } from '../../../src/github/repository-info.js'
import { runnerServer } from '../../../src/github/hosts.js'
import { fixtureEnv, contextFromEnv } from '../../fixtures/events.js'

/** A fetch that records its calls and answers with `respond`. */
function recordingFetch(respond: () => Response | Promise<Response>) {
  const calls: { url: string; headers: Record<string, string> }[] = []
  const fn = (async (url: string | URL, init?: RequestInit) => {
    calls.push({ url: String(url), headers: (init?.headers ?? {}) as Record<string, string> })
    return respond()
  }) as typeof fetch
  return { fn, calls }
}

/** A schedule payload from before GitHub added the repository to it: just the cron line. */
function bareSchedule(): RunContext {
  return contextFromEnv(
    fixtureEnv('schedule', undefined, f => {
      f.event = { schedule: '0 3 * * *' }
    })
  )
}

const apiBody = JSON.stringify({
  full_name: 'Octo-Org/Hello-World',
  description: 'From the API',
  license: { spdx_id: 'MIT' }
})

describe('repository description and licence', () => {
  it('come from the payload when it has them: no API call', async () => {
    const f = recordingFetch(() => new Response(apiBody))
    const ctx = contextFromEnv(fixtureEnv('push-tag-semver'))
    const result = await resolveRepositoryInfo(ctx, 'ghcr.io', 'ghs_token', f.fn)
    expect(result).toEqual({
      info: {
        description: 'A small web service, published as a container image',
        license: 'Apache-2.0'
      }
    })
    expect(f.calls).toEqual([])
  })

  it('otherwise one GET /repos/OWNER/REPO with the token, on a GitHub registry', async () => {
    const f = recordingFetch(
      () => new Response(apiBody, { status: 200, headers: { 'Content-Type': 'application/json' } })
    )
    const result = await resolveRepositoryInfo(bareSchedule(), 'ghcr.io', 'ghs_token', f.fn)
    expect(result.info).toEqual({ description: 'From the API', license: 'MIT' })
    expect(f.calls).toHaveLength(1)
    expect(f.calls[0].url).toBe('https://api.github.com/repos/Octo-Org/Hello-World')
    expect(f.calls[0].headers.authorization).toBe('token ghs_token')
  })

  it('never sends the token of another registry to GitHub', async () => {
    const f = recordingFetch(() => new Response(apiBody))
    const result = await resolveRepositoryInfo(bareSchedule(), '127.0.0.1:5000', 'secret', f.fn)
    expect(f.calls).toEqual([])
    expect(result.info).toEqual({})
    expect(result.failed).toBeUndefined()
    expect(result.message).toMatch(/127\.0\.0\.1:5000 is not a GitHub registry/)
  })

  it('never sends a ghcr.io token to a GHES API (the token was issued by github.com)', async () => {
    const f = recordingFetch(() => new Response(apiBody))
    const ctx = bareSchedule()
    ctx.server = runnerServer('https://ghe.example.com', 'https://ghe.example.com/api/v3')
    const result = await resolveRepositoryInfo(ctx, 'ghcr.io', 'ghs_token', f.fn)
    expect(f.calls).toEqual([])
    expect(result.message).toMatch(
      /the token for ghcr\.io was not issued by https:\/\/ghe\.example\.com/
    )
  })

  it('skips the call without a token', async () => {
    const f = recordingFetch(() => new Response(apiBody))
    const result = await resolveRepositoryInfo(bareSchedule(), 'ghcr.io', '', f.fn)
    expect(f.calls).toEqual([])
    expect(result.message).toMatch(/no token/)
  })

  it.each([
    [
      'an HTTP error',
      () => new Response('{"message":"Bad credentials"}', { status: 401 }),
      'HTTP 401'
    ],
    [
      'a network error',
      () =>
        Promise.reject(
          Object.assign(new TypeError('fetch failed'), { cause: { code: 'ENOTFOUND' } })
        ),
      'ENOTFOUND'
    ]
  ])(
    'a failed call (%s) leaves the labels out with a notice, never the token',
    async (_, respond, why) => {
      const f = recordingFetch(respond)
      const result = await resolveRepositoryInfo(
        bareSchedule(),
        'ghcr.io',
        'ghs_secret_token',
        f.fn
      )
      expect(result.failed).toBe(true)
      expect(result.info).toEqual({})
      expect(result.message).toContain(`(${why})`)
      expect(result.message).not.toContain('ghs_secret_token')
    }
  )
})
