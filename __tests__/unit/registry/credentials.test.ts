/**
 * Every credential the registry client holds is handed over for masking (core.setSecret in the
 * action), and whatever a server echoes of the request's credentials never reaches a message.
 */
import { describe, expect, it } from '@jest/globals'
import { RegistryClient } from '../../../src/registry/client.js'
import { RegistryError } from '../../../src/registry/errors.js'

const PASSWORD = 'ghp_' + 'p'.repeat(36)
const BASIC = Buffer.from(`octocat:${PASSWORD}`).toString('base64')
const ISSUED = 'eyJhbGciOiJFUzI1NiJ9.registry-issued.signature'

/** A registry that answers every authenticated request with an error repeating its headers. */
function echoingRegistry(scheme: 'bearer' | 'basic') {
  const fetchFn = (async (input: string | URL, init?: RequestInit) => {
    const url = new URL(String(input))
    const auth = (init?.headers as Record<string, string> | undefined)?.Authorization
    if (url.pathname === '/token') {
      return Response.json({ token: ISSUED })
    }
    if (!auth) {
      return new Response('', {
        status: 401,
        headers: {
          'WWW-Authenticate':
            scheme === 'bearer'
              ? 'Bearer realm="https://registry.example/token",service="registry.example"'
              : 'Basic realm="registry"'
        }
      })
    }
    return new Response(
      JSON.stringify({
        errors: [
          {
            code: 'DENIED',
            message: `denied: request had Authorization: ${auth}\nand ${auth.split(' ')[1]}`
          }
        ]
      }),
      { status: 403, statusText: `Forbidden (${auth})` }
    )
  }) as unknown as typeof fetch
  return fetchFn
}

async function failure(scheme: 'bearer' | 'basic') {
  const secrets: string[] = []
  const client = new RegistryClient({
    registry: 'registry.example',
    username: 'octocat',
    password: PASSWORD,
    fetchFn: echoingRegistry(scheme),
    retry: { retries: 0, baseDelayMs: 1, maxDelayMs: 1, totalMs: 1000 },
    onSecret: value => secrets.push(value)
  })
  const error = (await client.getManifest('o/app', 'latest').catch(e => e)) as RegistryError
  return { secrets, error }
}

describe('registry client credentials', () => {
  it('hands over the Basic header value at once (the password is masked where it is read)', () => {
    const secrets: string[] = []
    new RegistryClient({
      registry: 'registry.example',
      username: 'octocat',
      password: PASSWORD,
      onSecret: v => secrets.push(v)
    })
    expect(secrets).toEqual([BASIC])
  })

  it('hands over each Bearer token the registry issues, and echoes none of it', async () => {
    const { secrets, error } = await failure('bearer')
    expect(secrets).toEqual([BASIC, ISSUED])
    expect(error).toBeInstanceOf(RegistryError)
    expect(error.message).toMatch(
      /^GET \/v2\/o\/app\/manifests\/latest on registry.example: 403 denied: /
    )
    for (const text of [error.message, error.detail, error.code]) {
      expect(text).not.toContain(ISSUED)
      expect(text).not.toContain('eyJ')
      expect(text).not.toMatch(/[\n\r]/)
    }
    expect(error.message).toContain('Authorization: ***')
  })

  it('echoes nothing of the Basic header either', async () => {
    const { error } = await failure('basic')
    expect(error.message).toMatch(/403 denied/)
    for (const text of [error.message, error.detail]) {
      expect(text).not.toContain(BASIC)
      expect(text).not.toContain(PASSWORD)
    }
  })
})
