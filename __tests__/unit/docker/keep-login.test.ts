/**
 * keep-login's bookkeeping (docker/keep-login.ts) with a stand-in docker that edits config.json as
 * `docker login` / `docker logout` would (plain file store): what is recorded, what the post step
 * puts back, and the credential-store case it leaves alone. End to end: e2e/build-step.test.ts.
 */
import { describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { Docker, type ExecFn } from '../../../src/docker/cli.js'
import { keepLogin } from '../../../src/docker/keep-login.js'
import { undoKeptLogin } from '../../../src/docker/kept-login.js'
import type { KeptLogin } from '../../../src/state.js'
import { tempDir } from '../../support/temp-dirs.js'

const tmp = tempDir

/** A docker whose login/logout rewrite DOCKER_CONFIG/config.json (docker's own formatting). */
function fileStoreDocker(dir: string): { docker: Docker; calls: string[][]; inputs: string[] } {
  const calls: string[][] = []
  const inputs: string[] = []
  const file = path.join(dir, 'config.json')
  const fn: ExecFn = async (_c, args, options) => {
    calls.push(args)
    expect(options.env?.DOCKER_CONFIG).toBe(dir)
    const config = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}
    config.auths ??= {}
    if (args[0] === 'login') {
      inputs.push(options.input?.toString() ?? '')
      config.auths[args[1]] = { auth: Buffer.from(`u:${options.input}`).toString('base64') }
    } else if (args[0] === 'logout') {
      delete config.auths[args[1]]
    }
    writeFileSync(file, JSON.stringify(config, null, '\t'))
    return { exitCode: 0, stdout: '', stderr: '' }
  }
  return { docker: new Docker(dir, fn), calls, inputs }
}

const ORIGINAL = '{ "auths": {"ghcr.io": {"auth": "b2xkOm9sZA=="}},\n  "detachKeys": "ctrl-e" }\n'
const LOGIN = { registry: 'ghcr.io', username: 'u', token: 'tok-123' }

async function kept(runnerDir: string): Promise<{ record: KeptLogin; docker: Docker }> {
  const action = tmp('action-config-')
  const d = fileStoreDocker(runnerDir)
  const saved: KeptLogin[] = []
  const done = await keepLogin(runnerDir, LOGIN, action, k => saved.push({ ...k }), d.docker)
  expect(done).toBe(true)
  expect(d.inputs).toEqual(['tok-123']) // the token on stdin
  expect(JSON.stringify(d.calls)).not.toContain('tok-123')
  // Recorded before the login (so the post step undoes a half-done one), and after it.
  expect(saved).toHaveLength(2)
  expect(saved[0].after).toBe('')
  expect(saved[1].after).toMatch(/^[0-9a-f]{64}$/)
  expect(JSON.stringify(saved)).not.toContain('tok-123')
  return { record: saved[1], docker: d.docker }
}

describe('keep-login', () => {
  it('restores the file byte for byte, the previous entry for the registry included', async () => {
    const dir = tmp('runner-docker-')
    const file = path.join(dir, 'config.json')
    writeFileSync(file, ORIGINAL)
    const { record, docker } = await kept(dir)
    expect(statSync(record.backup).mode & 0o777).toBe(0o600)
    expect(JSON.parse(readFileSync(file, 'utf8')).auths['ghcr.io'].auth).not.toBe('b2xkOm9sZA==')
    await undoKeptLogin(record, docker)
    expect(readFileSync(file, 'utf8')).toBe(ORIGINAL)
  })

  it('removes a file (and folder) that did not exist before', async () => {
    const dir = path.join(tmp('runner-home-'), '.docker')
    const { record, docker } = await kept(dir)
    expect(existsSync(path.join(dir, 'config.json'))).toBe(true)
    await undoKeptLogin(record, docker)
    expect(existsSync(dir)).toBe(false)
  })

  it("keeps another step's change; takes out our login and puts back the entry that was there", async () => {
    const dir = tmp('runner-docker-')
    const file = path.join(dir, 'config.json')
    writeFileSync(file, ORIGINAL)
    const { record, docker } = await kept(dir)
    const changed = JSON.parse(readFileSync(file, 'utf8'))
    changed.auths['other.io'] = { auth: 'eA==' }
    writeFileSync(file, JSON.stringify(changed))
    await undoKeptLogin(record, docker)
    const after = JSON.parse(readFileSync(file, 'utf8'))
    expect(after.auths).toEqual({
      'ghcr.io': { auth: 'b2xkOm9sZA==' },
      'other.io': { auth: 'eA==' }
    })
    expect(after.detachKeys).toBe('ctrl-e')
  })

  it('does nothing in the post step when the login never happened', async () => {
    const dir = tmp('runner-docker-')
    const file = path.join(dir, 'config.json')
    writeFileSync(file, ORIGINAL)
    const d = fileStoreDocker(dir)
    const backup = path.join(tmp('action-config-'), 'before')
    writeFileSync(backup, ORIGINAL)
    const record: KeptLogin = {
      dir,
      registry: 'ghcr.io',
      existed: true,
      dirExisted: true,
      backup,
      after: ''
    }
    await undoKeptLogin(record, d.docker)
    expect(d.calls).toEqual([])
    expect(readFileSync(file, 'utf8')).toBe(ORIGINAL)
  })

  it('leaves alone a login for the registry that a credential store holds (it could not be put back)', async () => {
    const dir = tmp('runner-docker-')
    const text = JSON.stringify({ credsStore: 'desktop', auths: { 'ghcr.io': {} } })
    writeFileSync(path.join(dir, 'config.json'), text)
    const d = fileStoreDocker(dir)
    const saved: KeptLogin[] = []
    expect(await keepLogin(dir, LOGIN, tmp('a-'), k => saved.push(k), d.docker)).toBe(false)
    expect(d.calls).toEqual([])
    expect(saved).toEqual([])
    expect(readFileSync(path.join(dir, 'config.json'), 'utf8')).toBe(text)
  })

  it('logs in through a credential store when the registry has no login yet (docker login does)', async () => {
    const dir = tmp('runner-docker-')
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ credsStore: 'pass' }))
    const { record } = await kept(dir)
    expect(record.existed).toBe(true)
  })
})
