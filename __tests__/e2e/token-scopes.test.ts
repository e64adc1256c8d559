/**
 * A classic PAT's scopes are read from the GitHub API (a fake one on loopback, GITHUB_API_URL)
 * before the build: without write:packages the step fails before building; with repo it warns.
 * The registry is ghcr.io (unreachable here): docker is a recording stub whose login succeeds.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fakeDocker, Runner } from './harness.js'

let scopes = ''
let server: Server
let api = ''
beforeAll(async () => {
  server = createServer((req, res) => {
    res.writeHead(req.url === '/user' ? 200 : 404, {
      'X-OAuth-Scopes': scopes,
      'Content-Type': 'application/json'
    })
    res.end('{}')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  await new Promise(resolve => server.close(resolve))
})

function stubDocker(runner: Runner): string {
  return fakeDocker(
    runner,
    calls =>
      `echo "$1" >> '${calls}'\n[ "$1" = login ] && { cat >/dev/null; echo 'Login Succeeded'; exit 0; }\n` +
      `[ "$1" = version ] && { echo 20.10.24; exit 0; }\necho "stub: $1 refused" >&2; exit 1\n`
  )
}

function mainStep(runner: Runner): Promise<{ code: number; out: string }> {
  return runner.mainAsync(
    { token: 'ghp_' + 'x'.repeat(36), tags: 'v1', 'image-name': 'scoped' },
    { GITHUB_API_URL: api }
  )
}

/** The main step with a FROM-scratch workspace and the docker stub: what it called, and its output. */
async function scopedStep(): Promise<{
  calls: string
  main: Awaited<ReturnType<typeof mainStep>>
}> {
  const runner = new Runner()
  runner.write('Dockerfile', 'FROM scratch\n')
  const calls = stubDocker(runner)
  return { calls, main: await mainStep(runner) }
}

describe('classic PAT scopes, before the build', () => {
  it('without write:packages the step fails before building, saying what the token has', async () => {
    scopes = 'read:packages, gist'
    const { calls, main } = await scopedStep()
    expect(main.code).toBe(1)
    expect(main.out).toMatch(
      /::error::the classic personal access token lacks the write:packages scope, which pushing needs \(it has: read:packages, gist\)/
    )
    const called = existsSync(calls) ? readFileSync(calls, 'utf8') : ''
    expect(called).not.toMatch(/^build$/m)
    expect(main.out.replace(/::add-mask::.*\n/, '')).not.toContain('x'.repeat(36))
  })

  it('with repo it warns that the token grants far more than publishing needs, and goes on', async () => {
    scopes = 'repo, write:packages'
    const { calls, main } = await scopedStep()
    expect(main.out).toMatch(/::warning::The classic personal access token has the repo scope/)
    expect(main.out).toContain('Classic token scopes: repo, write:packages')
    // It went on to the build (which the stub then refuses).
    expect(readFileSync(calls, 'utf8')).toMatch(/^build$/m)
  })
})
