/**
 * End to end: the advice of src/report/diagnostics.ts as a user sees it, from dist/index.js.
 * - SAML/SSO: the real Docker engine pushes through a stand-in proxy that answers uploads with
 *   GitHub's SAML-enforcement 403 (fixtures/forbidding-proxy.mjs); everything else reaches the real
 *   registry.
 * - Classic PAT: the notice is printed from the inputs alone, before any docker call.
 */
import { describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { buildKitPushes, closedPort, e2eEnv, fakeDocker, Runner, startFixture } from './harness.js'

const env = e2eEnv()

/** Starts the proxy in front of the test registry; resolves with its host:port and a stop function. */
async function forbiddingProxy(): Promise<{ registry: string; stop: () => void }> {
  const proxy = await startFixture('forbidding-proxy.mjs', [`http://${env.registry}`])
  return { registry: `127.0.0.1:${proxy.port}`, stop: proxy.stop }
}

/**
 * A docker on PATH that records its calls and fails each of them but `docker version`, which
 * answers as an engine would (so the step goes on past its question whether there is one).
 */
function forbidDocker(runner: Runner): string {
  // It reads stdin as `docker login --password-stdin` does (every other command gets none).
  return fakeDocker(
    runner,
    calls =>
      `echo "$@" >> '${calls}'\n` +
      `if [ "$1" = version ]; then echo 28.5.2; exit 0; fi\n` +
      `cat >/dev/null\necho 'stub: refused' >&2\nexit 1\n`
  )
}

describe('diagnostics', () => {
  it('a registry where nothing answers: the connection failure is named, the token is not blamed', async () => {
    const registry = `127.0.0.1:${await closedPort()}`
    const runner = new Runner()
    runner.write('Dockerfile', 'FROM scratch\n')
    const main = await runner.mainAsync({
      registry,
      token: env.password,
      username: env.user,
      retries: '0',
      'image-name': 'nobody-home'
    })
    expect(main.code).toBe(1)
    const errors = main.out.split('\n').filter(l => l.startsWith('::error::'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(
      new RegExp(
        `connection refused.*The connection to ${registry.replace(/\./g, '\\.')} failed \\(refused, unreachable or timed out\\), so the token was not tried`
      )
    )
    expect(errors[0]).not.toMatch(/expired|revoked|belongs to the username/)
  })

  it('a push refused with a SAML-enforcement 403 explains that the token needs SSO authorization', async () => {
    const proxy = await forbiddingProxy()
    try {
      const runner = new Runner()
      runner.write('Dockerfile', 'FROM scratch\nCOPY hello.txt /\n')
      runner.write('hello.txt', randomBytes(8).toString('hex'))
      const main = runner.main({
        registry: proxy.registry,
        token: env.password,
        username: env.user,
        'image-name': 'sso-protected'
      })
      expect(main.exitCode).toBe(1)
      // the registry’s own reason, then the explanation, on one ::error:: line.
      // (From the action's client, or from BuildKit where it pushes: produce/way.ts.)
      const refused = buildKitPushes
        ? /::error::docker buildx build failed \(exit code 1\): .*denied: Resource protected by organization SAML enforcement/
        : /::error::POST \/v2\/\S+\/blobs\/uploads\/ on [\d.:]+: 403 denied: Resource protected by organization SAML enforcement/
      expect(main.stdout).toMatch(refused)
      expect(main.stdout).toMatch(
        /SAML enforcement.*\. The organization enforces SAML single sign-on, and the token is not authorized for it: authorize it \(GitHub → Settings → Developer settings → Personal access tokens → Configure SSO → Authorize/
      )
      expect(main.stdout).not.toMatch(/\n\s+at /)
      expect(runner.post().exitCode).toBe(0)
    } finally {
      proxy.stop()
    }
  })

  it('a classic PAT pushing to the repository’s own ghcr.io package gets a notice recommending GITHUB_TOKEN', () => {
    const runner = new Runner()
    runner.write('Dockerfile', 'FROM scratch\n')
    const calls = forbidDocker(runner)
    const pat = 'ghp_' + randomBytes(18).toString('hex')
    const main = runner.main({ token: pat }) // registry ghcr.io, owner octo-org from the context
    const notice = main.stdout.indexOf(
      "::notice::A classic personal access token is used to push to ghcr.io/octo-org, a package of this repository's owner. GITHUB_TOKEN with `permissions: packages: write` is the recommended, safer choice"
    )
    expect(notice).toBeGreaterThan(-1)
    // Printed from the inputs, before the first docker call (which the stub then fails).
    expect(notice).toBeLessThan(main.stdout.indexOf('[command]'))
    // The first docker calls: whether there is an engine, then the buildx probe (run while
    // docker logs in) and the login.
    const argv = readFileSync(calls, 'utf8').split('\n')
    expect(argv[0]).toMatch(/^version /)
    expect(argv).toEqual(expect.arrayContaining([expect.stringMatching(/^login ghcr.io /)]))
    expect(main.stdout).toMatch(/::error::docker login failed \(exit code 1\): stub: refused/)
    expect(main.stdout.replace(`::add-mask::${pat}`, '')).not.toContain(pat)
    expect(runner.post().exitCode).toBe(0)

    // No notice for another owner's package.
    const other = new Runner()
    other.write('Dockerfile', 'FROM scratch\n')
    forbidDocker(other)
    const otherMain = other.main({ token: pat, owner: 'someone-else' })
    expect(otherMain.stdout).toContain('[command]')
    expect(otherMain.stdout).not.toContain('classic personal access token is used')
  })
})
