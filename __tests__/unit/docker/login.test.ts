import { describe, expect, it } from '@jest/globals'
import { DockerCommandError } from '../../../src/docker/errors.js'
import {
  classifyLoginFailure,
  loginWithRetries,
  AuthenticationLost
} from '../../../src/docker/login.js'
import { withExplanation } from '../../../src/report/diagnostics.js'
import { DEFAULT_POLICY, RetriesExhausted } from '../../../src/util/retry.js'

const policy = { ...DEFAULT_POLICY, retries: 2 }
const request = { registry: 'ghcr.io', username: 'octocat', token: 'ghs_secret', push: true }

/** A docker whose login fails with each of `failures` in turn, then succeeds. */
function docker(failures: string[]) {
  const calls: string[] = []
  return {
    calls,
    login: async (registry: string, username: string, token: string) => {
      calls.push(`${registry} ${username} ${token === request.token ? 'token' : 'other'}`)
      const detail = failures.shift()
      if (detail !== undefined) throw new DockerCommandError('login', 1, detail)
    }
  }
}

function registry(accepts: boolean) {
  let asked = 0
  return {
    get asked() {
      return asked
    },
    verifyCredentials: async () => {
      asked++
      return accepts
    }
  }
}

function hooks() {
  const log = { info: [] as string[], warning: [] as string[] }
  return {
    log,
    hooks: {
      info: (m: string) => log.info.push(m),
      warning: (m: string) => log.warning.push(m),
      sleep: async () => {}
    }
  }
}

describe('docker login with the retry policy', () => {
  it('retries transient failures (5xx, resets) and then logs in', async () => {
    const d = docker([
      'received unexpected HTTP status: 503 Service Unavailable',
      'read: connection reset by peer'
    ])
    const h = hooks()
    await loginWithRetries(d, request, policy, registry(true), h.hooks)
    expect(d.calls).toHaveLength(3)
    expect(h.log.info[0]).toMatch(/^docker login: transient failure \(5xx\); retry 1 in/)
    expect(h.log.warning).toEqual([])
  })

  it('a 401 the registry confirms (it refuses the credentials) is final, at once', async () => {
    const d = docker(['Error response from daemon: Get "https://ghcr.io/v2/": unauthorized'])
    const r = registry(false)
    await expect(loginWithRetries(d, request, policy, r, hooks().hooks)).rejects.toThrow(
      DockerCommandError
    )
    expect(d.calls).toHaveLength(1)
    expect(r.asked).toBe(1)
  })

  it('a 401 although the registry accepts the credentials is retried (a lost auth challenge)', async () => {
    const d = docker(['Error response from daemon: Get "https://ghcr.io/v2/": unauthorized'])
    await loginWithRetries(d, request, policy, registry(true), hooks().hooks)
    expect(d.calls).toHaveLength(2)
  })

  it('"denied" is never reconsidered: the registry refused this user', async () => {
    const d = docker(['denied: denied'])
    const r = registry(true)
    await expect(loginWithRetries(d, request, policy, r, hooks().hooks)).rejects.toThrow(/denied/)
    expect(r.asked).toBe(0)
  })

  it('transient failures that outlast the retries: a warning when the registry accepts the credentials and the run pushes', async () => {
    const d = docker(['503', '503', '503', '503'])
    const h = hooks()
    await loginWithRetries(d, request, policy, registry(true), h.hooks)
    expect(h.log.warning[0]).toMatch(
      /^docker login failed after 3 attempts, but ghcr\.io accepts the credentials: going on/
    )
  })

  it('…but the failure stands without a push, or when the registry refuses the credentials', async () => {
    await expect(
      loginWithRetries(
        docker(['503', '503', '503']),
        { ...request, push: false },
        policy,
        registry(true),
        hooks().hooks
      )
    ).rejects.toThrow(RetriesExhausted)
    await expect(
      loginWithRetries(
        docker(['503', '503', '503']),
        request,
        policy,
        registry(false),
        hooks().hooks
      )
    ).rejects.toThrow(/^docker login failed after 3 attempts/)
  })

  it('classifies: AuthenticationLost transient, docker words as docker says, anything else final', () => {
    expect(classifyLoginFailure(new AuthenticationLost('login', 1, '401')).transient).toBe(true)
    expect(
      classifyLoginFailure(new DockerCommandError('login', 1, 'toomanyrequests')).transient
    ).toBe(true)
    expect(classifyLoginFailure(new DockerCommandError('login', 1, 'unauthorized')).transient).toBe(
      false
    )
    expect(classifyLoginFailure(new Error('boom')).transient).toBe(false)
  })

  it('the explanation of a login that gave up on transient errors does not blame the token', () => {
    const exhausted = new RetriesExhausted(
      'docker login failed after 3 attempts: 401 unauthorized',
      'docker login',
      3
    )
    const explained = withExplanation(exhausted, { phase: 'login', registry: 'ghcr.io' }) as Error
    expect(explained.message).not.toMatch(/refused the credentials|Check that the token/)
    const plain = new DockerCommandError('login', 1, 'unauthorized: unauthenticated')
    expect(
      (withExplanation(plain, { phase: 'login', registry: 'ghcr.io' }) as Error).message
    ).toMatch(/refused the credentials/)
  })
})
