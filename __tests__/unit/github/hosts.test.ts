import { describe, expect, it } from '@jest/globals'
import {
  GITHUB_COM,
  apiForToken,
  defaultRegistry,
  isGitHubRegistry,
  registryServer,
  runnerServer
} from '../../../src/github/hosts.js'

const dotcom = runnerServer('https://github.com')
const ghes = runnerServer('https://ghe.example.com')

describe('GitHub’s hosts (one answer for every module)', () => {
  it('reads the runner’s server, with the GHES API at /api/v3 by default', () => {
    expect(dotcom).toEqual(GITHUB_COM)
    expect(runnerServer(undefined)).toEqual(GITHUB_COM)
    expect(runnerServer('not a url')).toEqual(GITHUB_COM)
    expect(ghes).toEqual({
      url: 'https://ghe.example.com',
      host: 'ghe.example.com',
      apiUrl: 'https://ghe.example.com/api/v3'
    })
    expect(runnerServer('https://ghe.example.com/', 'https://api.ghe.example.com/').apiUrl).toBe(
      'https://api.ghe.example.com'
    )
  })
  it('defaults to ghcr.io, or containers.HOST on GHES', () => {
    expect(defaultRegistry(dotcom)).toBe('ghcr.io')
    expect(defaultRegistry(ghes)).toBe('containers.ghe.example.com')
  })
  it('knows GitHub’s registries, on github.com and on GHES; a port makes another host', () => {
    for (const r of ['ghcr.io', 'docker.pkg.github.com', 'ghcr.io:443', 'GHCR.IO']) {
      expect(isGitHubRegistry(r, dotcom)).toBe(true)
    }
    for (const r of ['containers.ghe.example.com', 'docker.ghe.example.com', 'ghe.example.com']) {
      expect(isGitHubRegistry(r, ghes)).toBe(true)
      expect(isGitHubRegistry(r, dotcom)).toBe(false)
    }
    expect(isGitHubRegistry('ghcr.io:5000', dotcom)).toBe(false)
    expect(isGitHubRegistry('containers.ghe.example.com:8443', ghes)).toBe(false)
    expect(isGitHubRegistry('localhost:5000', dotcom)).toBe(false)
    expect(isGitHubRegistry('ghe.example.com.evil.test', ghes)).toBe(false)
  })
  it('ghcr.io belongs to github.com, also seen from a GHES runner', () => {
    expect(registryServer('ghcr.io', ghes)).toEqual(GITHUB_COM)
    expect(registryServer('containers.ghe.example.com', ghes)).toBe(ghes)
  })
  it('sends a token only to the API of the server that issued it', () => {
    // A ghcr.io token on a GHES runner: api.github.com may have it, the GHES API may not.
    expect(apiForToken('ghcr.io', ghes)).toBe('https://api.github.com')
    expect(apiForToken('ghcr.io', ghes, ghes.apiUrl)).toBeUndefined()
    // The GHES registry's token: the GHES API only.
    expect(apiForToken('containers.ghe.example.com', ghes, ghes.apiUrl)).toBe(
      'https://ghe.example.com/api/v3'
    )
    expect(
      apiForToken('containers.ghe.example.com', ghes, 'https://api.github.com')
    ).toBeUndefined()
    // Any other registry's token: no GitHub API at all.
    expect(apiForToken('registry.example.com', dotcom)).toBeUndefined()
    expect(apiForToken('127.0.0.1:5000', dotcom, dotcom.apiUrl)).toBeUndefined()
    expect(apiForToken('ghcr.io', dotcom, dotcom.apiUrl)).toBe('https://api.github.com')
  })
})
