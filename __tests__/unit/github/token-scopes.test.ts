import { describe, expect, it } from '@jest/globals'
import { runnerServer } from '../../../src/github/hosts.js'
import { checkTokenScopes, scopeCheckApi } from '../../../src/github/token-scopes.js'
import { UserError } from '../../../src/util/errors.js'

const ctx = {
  token: 'ghp_' + 'a'.repeat(36),
  push: true,
  registry: 'ghcr.io',
  server: runnerServer('https://github.com', 'https://api.github.com')
}

function fakeApi(status: number, scopes: string | null) {
  const calls: { url: string; auth: string }[] = []
  const fetchFn = (async (url: string, init: RequestInit) => {
    calls.push({ url, auth: (init.headers as Record<string, string>).authorization })
    return new Response('{}', {
      status,
      headers: scopes === null ? {} : { 'X-OAuth-Scopes': scopes }
    })
  }) as unknown as typeof fetch
  return { calls, fetchFn }
}

describe('classic PAT scopes (X-OAuth-Scopes)', () => {
  it('reads them from GITHUB_API_URL/user, sending the token only there', async () => {
    const api = fakeApi(200, 'read:packages, write:packages')
    expect(await checkTokenScopes(ctx, api.fetchFn)).toEqual({
      scopes: ['read:packages', 'write:packages']
    })
    expect(api.calls).toEqual([{ url: 'https://api.github.com/user', auth: `token ${ctx.token}` }])
  })
  it('fails without write:packages, listing what the token has', async () => {
    const err = await checkTokenScopes(ctx, fakeApi(200, 'read:packages, gist').fetchFn).catch(
      e => e
    )
    expect(err).toBeInstanceOf(UserError)
    expect(err.message).toMatch(
      /lacks the write:packages scope, which pushing needs \(it has: read:packages, gist\)/
    )
    expect(err.message).not.toContain(ctx.token)
  })
  it('warns when repo is there: far more than publishing needs', async () => {
    const r = await checkTokenScopes(ctx, fakeApi(200, 'repo, write:packages').fetchFn)
    expect(r.warning).toMatch(/has the repo scope, .*publishing needs only write:packages/)
  })
  it('fails on a token the API refuses (401)', async () => {
    await expect(checkTokenScopes(ctx, fakeApi(401, null).fetchFn)).rejects.toThrow(
      /refuses the classic personal access token \(401\)/
    )
  })
  it('goes on with a notice when the API cannot be reached or says nothing', async () => {
    const down = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ENOTFOUND' } })
    }) as unknown as typeof fetch
    expect((await checkTokenScopes(ctx, down)).notice).toMatch(
      /Could not read .*\(ENOTFOUND\); going on/
    )
    expect((await checkTokenScopes(ctx, fakeApi(200, null).fetchFn)).notice).toMatch(/HTTP 200/)
  })
  it('asks nothing for GITHUB_TOKEN, fine-grained tokens, other registries, or without a push', async () => {
    for (const change of [
      { token: 'ghs_abc' },
      { token: 'github_pat_abc' },
      { registry: 'registry.example.com' },
      { push: false }
    ]) {
      const api = fakeApi(200, '')
      expect(await checkTokenScopes({ ...ctx, ...change }, api.fetchFn)).toEqual({})
      expect(api.calls).toEqual([])
    }
  })
  it('asks the API of the server that issued the token: api.github.com for ghcr.io on GHES', async () => {
    const ghes = {
      ...ctx,
      server: runnerServer('https://ghe.example.com', 'https://ghe.example.com/api/v3')
    }
    expect(scopeCheckApi(ghes)).toBe('https://api.github.com')
    expect(scopeCheckApi({ ...ghes, registry: 'containers.ghe.example.com' })).toBe(
      'https://ghe.example.com/api/v3'
    )
    expect(scopeCheckApi(ctx)).toBe('https://api.github.com')
  })
})
