/**
 * The post step (src/post.ts) with the state as the main step left it, or as it should never be:
 * it only cleans up, acts only on state values of the action's own making (src/state.ts), and a
 * keep-login record it cannot read leaves no login behind silently. End to end:
 * e2e/killed-steps.test.ts.
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { post } from '../../src/post.js'
import { readState, type StepState } from '../../src/state.js'
import { tempDir } from '../support/temp-dirs.js'

const tmp = tempDir

/** What the step printed (workflow commands included) while `fn` ran, and the logouts it asked for. */
async function runPost(
  state: Partial<Record<keyof StepState, string>>,
  temp: string,
  runnerConfig: string
) {
  const printed: string[] = []
  const write = jest.spyOn(process.stdout, 'write').mockImplementation(chunk => {
    printed.push(String(chunk))
    return true
  })
  const logouts: string[] = []
  try {
    const parsed = readState(key => state[key] ?? '', temp, runnerConfig)
    const saved = process.env.DOCKER_CONFIG
    process.env.DOCKER_CONFIG = runnerConfig
    await post(parsed, dir => async registry => void logouts.push(`${dir} ${registry}`))
    process.env.DOCKER_CONFIG = saved
  } finally {
    write.mockRestore()
  }
  return { out: printed.join(''), logouts }
}

afterEach(() => {
  process.exitCode = undefined
})

describe('the post step', () => {
  it('with an empty state (main never got as far as saving it): no logout, nothing removed, exit 0', async () => {
    const temp = tmp('post-temp-')
    mkdirSync(path.join(temp, 'publish-container-abc'))
    const { out, logouts } = await runPost({}, temp, tmp('post-runner-docker-'))
    expect(logouts).toEqual([])
    expect(out).toContain('Nothing to clean up.')
    expect(out).not.toContain('::error::')
    expect(process.exitCode).toBeUndefined()
    expect(existsSync(path.join(temp, 'publish-container-abc'))).toBe(true)
  })

  it('removes the config folder (the login in it with it, no docker logout) and work folder the main step named under RUNNER_TEMP', async () => {
    const temp = tmp('post-temp-')
    const config = path.join(temp, 'publish-container-Ab12')
    const work = path.join(temp, 'publish-container-save-Xy34')
    mkdirSync(config)
    mkdirSync(work)
    writeFileSync(
      path.join(config, 'config.json'),
      JSON.stringify({ auths: { 'ghcr.io': { auth: 'dTpw' } }, credHelpers: { 'ghcr.io': '' } })
    )
    const { out, logouts } = await runPost(
      { configDir: config, workDir: work, registry: 'ghcr.io', loggedIn: 'true' },
      temp,
      tmp('post-runner-docker-')
    )
    expect(logouts).toEqual([])
    expect(existsSync(config)).toBe(false)
    expect(existsSync(work)).toBe(false)
    expect(out).toContain(
      `Removed the action's Docker config directory ${config}, and the login to ghcr.io in it.`
    )
  })

  it('leaves alone a configDir or workDir that is not a folder of the action under RUNNER_TEMP', async () => {
    const temp = tmp('post-temp-')
    const elsewhere = tmp('precious-')
    const sneaky = path.join(temp, 'publish-container-x', '..', '..', path.basename(elsewhere))
    const { out, logouts } = await runPost(
      { configDir: elsewhere, workDir: sneaky, registry: 'ghcr.io', loggedIn: 'true' },
      temp,
      tmp('post-runner-docker-')
    )
    expect(existsSync(elsewhere)).toBe(true)
    expect(logouts).toEqual([])
    expect(out).toMatch(
      /::warning::The main step's state configDir \(.*precious-.*\) is not a folder of the action's/
    )
    expect(out).toMatch(/::warning::The main step's state workDir/)
  })

  it('a keep-login record it cannot read: logs the runner config out of that registry, and fails', async () => {
    const temp = tmp('post-temp-')
    const runnerConfig = tmp('post-runner-docker-')
    const { out, logouts } = await runPost(
      { registry: 'ghcr.io', keptLogin: '{"dir": 42, "registry": "ghcr.io"' },
      temp,
      runnerConfig
    )
    expect(logouts).toEqual([`${runnerConfig} ghcr.io`])
    expect(out).toMatch(/::error::keep-login: the main step's record .* logged out of ghcr.io/)
    expect(process.exitCode).toBe(1)
  })

  it('a keep-login record that names a folder other than the runner config is not followed', () => {
    const runnerConfig = tmp('post-runner-docker-')
    const kept = {
      dir: '/etc',
      registry: 'ghcr.io',
      existed: true,
      dirExisted: true,
      backup: '',
      after: ''
    }
    const state = readState(
      key => (key === 'keptLogin' ? JSON.stringify(kept) : ''),
      tmp('post-temp-'),
      runnerConfig
    )
    expect(state.keptLogin).toBeUndefined()
    expect(state.keptLoginCorrupt).toEqual({ registry: 'ghcr.io' })
  })
})

describe('the post bundle', () => {
  it('holds nothing that logs in, builds or pushes (dist/post/index.js)', () => {
    const dist = path.join(path.dirname(new URL(import.meta.url).pathname), '../../dist')
    const bundle = readFileSync(path.join(dist, 'post', 'index.js'), 'utf8')
    expect(bundle).toContain('logout')
    // docker login's flag, docker build's and save's argv words, the registry's upload path.
    const found = ['--password-stdin', '"build"', '--iidfile', '"save"', 'blobs/uploads'].filter(
      word => bundle.includes(word)
    )
    expect(found).toEqual([])
    // …which the main bundle holds (the check can fail).
    const main = readFileSync(path.join(dist, 'index.js'), 'utf8')
    expect(['--password-stdin', '--iidfile', 'blobs/uploads'].every(w => main.includes(w))).toBe(
      true
    )
  })
})
