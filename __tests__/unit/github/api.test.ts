/**
 * The GitHub API gets a token only when it is the API of the server that issued it: the rule of
 * hosts.apiForToken, enforced by apiGet itself, where the token leaves.
 */
import { describe, expect, it } from '@jest/globals'
import { apiGet } from '../../../src/github/api.js'
import { apiForToken, runnerServer, type GitHubServer } from '../../../src/github/hosts.js'

const dotcom = runnerServer('https://github.com', 'https://api.github.com')
const ghes = runnerServer('https://ghe.example.com', 'https://ghe.example.com/api/v3')

function recorder() {
  const urls: string[] = []
  const fetchFn = (async (url: string) => {
    urls.push(String(url))
    return new Response('{}', { status: 200, headers: { 'Content-Type': 'application/json' } })
  }) as unknown as typeof fetch
  return { urls, fetchFn }
}

describe('where a token may go', () => {
  it.each([
    // [registry, API asked, allowed, runner]
    ['ghcr.io', 'https://api.github.com', true, dotcom],
    ['ghcr.io', 'https://ghe.example.com/api/v3', false, ghes],
    ['ghcr.io', 'https://api.github.com', true, ghes],
    ['containers.ghe.example.com', 'https://ghe.example.com/api/v3', true, ghes],
    ['containers.ghe.example.com', 'https://api.github.com', false, ghes],
    ['containers.ghe.example.com', 'https://api.github.com', false, dotcom],
    ['registry.example.com', 'https://api.github.com', false, dotcom],
    ['127.0.0.1:5000', 'https://api.github.com', false, dotcom],
    ['ghcr.io:5000', 'https://api.github.com', false, dotcom]
  ] as [string, string, boolean, GitHubServer][])(
    '%s token to %s: %s',
    async (registry, api, allowed, server) => {
      expect(apiForToken(registry, server, api) !== undefined).toBe(allowed)
      const { urls, fetchFn } = recorder()
      const call = apiGet('/user', {}, { baseUrl: api, token: 't', registry, server, fetchFn })
      if (allowed) {
        await expect(call).resolves.toMatchObject({ status: 200 })
        expect(urls).toEqual([`${api}/user`])
      } else {
        await expect(call).rejects.toThrow(/may not be sent to/)
        expect(urls).toEqual([])
      }
    }
  )
})
