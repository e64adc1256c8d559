import { describe, expect, it } from '@jest/globals'
import {
  explainFailure,
  withExplanation,
  type FailureRule
} from '../../../src/report/diagnostics.js'
import { tokenAdvice, type TokenContext } from '../../../src/plan/token-advice.js'
import type { Phase } from '../../../src/report/diagnostics.js'
import { DockerCommandError } from '../../../src/docker/errors.js'
import { UserError } from '../../../src/util/errors.js'
import { RegistryError } from '../../../src/registry/errors.js'
import { lastErrorLine } from '../../../src/docker/errors.js'

// The text GitHub answers with when an organization enforces SAML SSO and the token is not authorized.
const SAML =
  'denied: Resource protected by organization SAML enforcement. You must grant your Personal Access token access to this organization.'

describe('explainFailure', () => {
  it.each(['push', 'login', 'read-back'] as const)('explains a SAML/SSO 403 at %s', phase => {
    expect(explainFailure(SAML, { phase, registry: 'ghcr.io' })).toMatch(
      /enforces SAML single sign-on, and the token is not authorized for it: authorize it .*Configure SSO/
    )
    expect(
      explainFailure('GET /v2/o/i/manifests/v1 on ghcr.io: 403 forbidden: SSO required', {
        phase,
        registry: 'ghcr.io'
      })
    ).toMatch(/SAML single sign-on/)
  })

  it('needs a 403/denied, not just the word', () => {
    expect(
      explainFailure('manifest unknown: ssoimage:1', { phase: 'push', registry: 'r' })
    ).toBeUndefined()
    expect(
      explainFailure('unauthorized: SAML is nice', { phase: 'push', registry: 'r' })
    ).toBeUndefined()
  })

  it('explains any failed login with what to check, after the specific rules', () => {
    expect(
      explainFailure('error: something unexpected', { phase: 'login', registry: 'ghcr.io' })
    ).toBe(
      'Check that the token is valid for ghcr.io and belongs to the username: GITHUB_TOKEN (with `permissions: packages: write`) or a classic personal access token with write:packages; fine-grained tokens are not accepted by GitHub Packages.'
    )
    expect(explainFailure('401 Unauthorized', { phase: 'login', registry: 'ghcr.io' })).toMatch(
      /^The registry refused the credentials: the token is missing, expired or revoked/
    )
    expect(explainFailure(SAML, { phase: 'login', registry: 'ghcr.io' })).toMatch(/SAML/)
    expect(
      explainFailure('blob upload unknown', { phase: 'push', registry: 'ghcr.io' })
    ).toBeUndefined()
  })

  it.each([
    [
      'denied: permission_denied: write_package',
      'push',
      /permissions: packages: write.*Manage Actions access.*org\.opencontainers\.image\.source.*push: false/
    ],
    [
      'denied: installation not allowed to Create organization package',
      'push',
      /permissions: packages: write/
    ],
    [
      'denied: installation not allowed to Write organization package',
      'read-back',
      /permissions: packages: write/
    ],
    [
      'denied: permission_denied: The requested installation does not exist.',
      'push',
      /does not exist yet and this token cannot create it/
    ],
    [
      'unauthorized: unauthenticated: User cannot be authenticated with the token provided.',
      'login',
      /missing, expired or revoked/
    ],
    ['Error response from daemon: denied: denied', 'login', /missing, expired or revoked/],
    [
      'HEAD https://ghcr.io/v2/o/i/blobs/sha256:abc: 403 Forbidden',
      'push',
      /forbids this operation .*403/
    ],
    [
      'docker push failed after 4 attempts over 9.1 s (retries: 3); the registry kept answering with transient errors (last: toomanyrequests): toomanyrequests',
      'push',
      /rate-limits/
    ]
  ] as [string, Phase, RegExp][])('explains %s', (text, phase, advice) => {
    // A text that gave up on transient errors comes from a RetriesExhausted (withExplanation says so).
    const exhausted = text.includes('kept answering with transient errors')
    expect(explainFailure(text, { phase, registry: 'ghcr.io', exhausted })).toMatch(advice)
  })

  it('explains a platforms build on the docker driver, naming setup-buildx and the matrix way', () => {
    // What buildx prints; docker's last error line is the third one.
    const stderr =
      'ERROR: Multi-platform build is not supported for the docker driver.\n' +
      'Switch to a different driver, or turn on the containerd image store, and try again.\n' +
      'Learn more at https://docs.docker.com/go/build-multi-platform/\n'
    const error = new DockerCommandError('buildx build', 1, lastErrorLine(stderr, ''))
    const explained = withExplanation(error, { phase: 'build', registry: 'ghcr.io' })
    expect(explained).toBeInstanceOf(UserError)
    expect((explained as Error).message).toMatch(
      /^docker buildx build failed \(exit code 1\): Learn more at https:\/\/docs.docker.com\/go\/build-multi-platform\/\. A platforms build needs a builder that can build for several platforms: add docker\/setup-qemu-action and docker\/setup-buildx-action .*push-by-digest: true .*merge-digests/
    )
    const first = stderr.split('\n')[0]
    expect(explainFailure(first, { phase: 'build', registry: 'ghcr.io' })).toMatch(/setup-buildx/)
    expect(explainFailure(first, { phase: 'push', registry: 'ghcr.io' })).toBeUndefined()
  })

  it.each([
    [
      'Cache export is not supported for the docker driver.',
      'build-cache-backends/',
      /exports no cache but type=inline: add a docker\/setup-buildx-action step .*containerd image store/
    ],
    [
      'Attestation is not supported for the docker driver.',
      'attestations/',
      /^provenance and sbom need a builder that makes attestations.*docker\/setup-buildx-action/
    ]
  ])('explains %s (buildx on the classic store)', (error, page, advice) => {
    const stderr =
      `ERROR: failed to build: ${error}\n` +
      'Switch to a different driver, or turn on the containerd image store, and try again.\n' +
      `Learn more at https://docs.docker.com/go/${page}\n`
    const last = lastErrorLine(stderr, '')
    expect(explainFailure(last, { phase: 'build', registry: 'ghcr.io' })).toMatch(advice)
    expect(explainFailure(stderr.split('\n')[0], { phase: 'build', registry: 'ghcr.io' })).toMatch(
      advice
    )
    expect(explainFailure(last, { phase: 'push', registry: 'ghcr.io' })).toBeUndefined()
  })

  it('takes another table (the shape later rules plug into)', () => {
    const rules: FailureRule[] = [
      { id: 'a', phases: ['push'], matches: t => t.includes('x'), explain: () => 'A' },
      { id: 'b', matches: () => true, explain: c => `B ${c.registry}` }
    ]
    expect(explainFailure('x', { phase: 'push', registry: 'r' }, rules)).toBe('A')
    expect(explainFailure('x', { phase: 'login', registry: 'r' }, rules)).toBe('B r')
  })
})

describe('withExplanation', () => {
  it('turns docker and registry failures into one-line user errors with the advice', () => {
    const docker = new DockerCommandError('push', 1, SAML)
    const explained = withExplanation(docker, { phase: 'push', registry: 'ghcr.io' })
    expect(explained).toBeInstanceOf(UserError)
    expect((explained as Error).message).toMatch(
      /^docker push failed \(exit code 1\): denied: Resource protected .* organization\. The organization enforces SAML/
    )
    expect((explained as Error).message).not.toContain('\n')
    const registry = new RegistryError(`GET x on ghcr.io: 403 denied: ${SAML}`, 403, 'DENIED')
    expect(withExplanation(registry, { phase: 'read-back', registry: 'ghcr.io' })).toBeInstanceOf(
      UserError
    )
  })

  it('leaves unmatched failures and our own bugs alone', () => {
    const plain = new DockerCommandError('push', 1, 'blob upload unknown')
    expect(withExplanation(plain, { phase: 'push', registry: 'r' })).toBe(plain)
    const bug = new TypeError('x is undefined')
    expect(withExplanation(bug, { phase: 'login', registry: 'r' })).toBe(bug)
  })
})

describe('tokenAdvice', () => {
  const base: TokenContext = {
    token: 'ghp_' + 'a'.repeat(36),
    registry: 'ghcr.io',
    owner: 'octo-org',
    push: true,
    repositoryOwner: 'Octo-Org',
    serverUrl: 'https://github.com',
    inWorkflow: true
  }

  it('recommends GITHUB_TOKEN over a classic PAT for the repository’s own package', () => {
    const advice = tokenAdvice(base)
    expect(advice).toHaveLength(1)
    expect(advice[0].level).toBe('notice')
    expect(advice[0].message).toMatch(
      /classic personal access token is used to push to ghcr.io\/octo-org, a package of this repository's owner\. GITHUB_TOKEN with `permissions: packages: write` is the recommended, safer choice/
    )
    expect(advice[0].message).not.toContain(base.token)
  })

  it('also on GHES, for its Container registry', () => {
    expect(
      tokenAdvice({
        ...base,
        registry: 'containers.ghe.example.com',
        serverUrl: 'https://ghe.example.com'
      })
    ).toHaveLength(1)
  })

  it.each([
    ['GITHUB_TOKEN', { token: 'ghs_abc' }],
    ['another owner’s package', { owner: 'someone-else' }],
    ['another registry', { registry: 'registry.example.com' }],
    ['no push', { push: false }],
    ['outside a workflow', { inWorkflow: false }],
    ['unknown repository owner', { repositoryOwner: '' }]
  ])('says nothing for %s', (_what, change) => {
    expect(tokenAdvice({ ...base, ...change })).toEqual([])
  })

  it('warns that fine-grained tokens are not accepted by GitHub Packages (github-registries facts)', () => {
    const [advice] = tokenAdvice({ ...base, token: 'github_pat_x' })
    expect(advice.level).toBe('warning')
    expect(advice.message).toMatch(/does not accept them: use GITHUB_TOKEN .* write:packages\.$/)
  })
})

describe('DNS and connection failures are named as such, never blamed on the token', () => {
  const login = { phase: 'login' as Phase, registry: 'ghcr.example.com' }
  it.each([
    'Error response from daemon: Get "https://ghcr.example.com/v2/": dial tcp: lookup ghcr.example.com on 127.0.0.53:53: no such host',
    'Get "https://x/v2/": dial tcp: lookup x on 10.0.0.2:53: server misbehaving',
    'cannot reach ghcr.example.com (ENOTFOUND)',
    'cannot reach ghcr.example.com (EAI_AGAIN)'
  ])('DNS: %s', text => {
    for (const phase of ['login', 'push', 'read-back'] as Phase[]) {
      const why = explainFailure(text, { ...login, phase })
      expect(why).toMatch(/^The name ghcr\.example\.com could not be resolved \(DNS\)/)
      expect(why).not.toMatch(/expired|revoked|belongs to the username/)
    }
  })
  it.each([
    'Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
    'cannot reach ghcr.example.com (ECONNREFUSED)',
    'Get "https://10.1.2.3/v2/": dial tcp 10.1.2.3:443: i/o timeout',
    'dial tcp 10.1.2.3:443: connect: no route to host',
    'cannot reach ghcr.example.com (UND_ERR_CONNECT_TIMEOUT)'
  ])('connection: %s', text => {
    const why = explainFailure(text, login)
    expect(why).toMatch(/^The connection to ghcr\.example\.com failed/)
    expect(why).not.toMatch(/expired|revoked|belongs to the username/)
  })
  it('as a whole message, from a docker login that failed', () => {
    const error = new DockerCommandError(
      'login',
      1,
      'Error response from daemon: Get "https://nohost.invalid/v2/": dial tcp: lookup nohost.invalid: no such host'
    )
    const explained = withExplanation(error, { phase: 'login', registry: 'nohost.invalid' })
    expect((explained as Error).message).toMatch(
      /no such host\. The name nohost\.invalid could not be resolved \(DNS\)/
    )
  })
})

describe("docker's last error line", () => {
  it('is one line, without the credentials a registry echoed', () => {
    const line = lastErrorLine(
      'Error: denied: header Authorization: Bearer eyJabc.def.ghi was refused\u200b\n',
      ''
    )
    expect(line).toBe('Error: denied: header Authorization: *** was refused\\u200b')
  })
})
