/**
 * End to end: a main step cancelled (SIGINT to its process group, as the runner sends) or killed
 * (SIGKILL) in the middle of a build with a `secrets` value, then the post step: the value is in
 * no file under the temporary folders, RUNNER_TEMP or HOME (docs/facts/content-trust.md). And
 * the post step, run with the step's inputs as the runner gives them but with no state (the main
 * step never ran, or was killed before it saved any): it only cleans up — no login, no build, no
 * push, nothing left.
 */
import { describe, expect, it } from '@jest/globals'
import { existsSync, readdirSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import {
  buildKitRunner,
  e2eEnv,
  filesContaining,
  inputsFor,
  nonce,
  Runner,
  skopeoTags
} from './harness.js'

const env = e2eEnv()

/** Every file holding `needle` under the runner, the temporary folder, and /tmp's publish-container-* folders. */
function filesWith(runner: Runner, needle: string): string[] {
  // The test engine's own folder (E2E_DIR: its env file holds the registry's password) is not
  // the action's.
  const engineDir = path.resolve(process.env.E2E_DIR ?? '/tmp/publish-container-e2e')
  const tmpFolders = readdirSync('/tmp')
    .filter(name => name.startsWith('publish-container'))
    .map(name => path.join('/tmp', name))
    .filter(dir => dir !== engineDir)
  return [runner.root, os.tmpdir(), ...tmpFolders].flatMap(dir => filesContaining(dir, needle))
}

async function waitFor(what: () => boolean, ms: number, output: () => string): Promise<void> {
  const end = Date.now() + ms
  while (!what()) {
    if (Date.now() > end) throw new Error(`timed out; the step printed:\n${output()}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

describe('a build with secrets, cancelled or killed, then the post step', () => {
  for (const signal of ['SIGINT', 'SIGKILL'] as const) {
    it(`${signal} to the process group mid-build: the secret value is in no file afterwards`, async () => {
      const secret = `build-secret-${nonce()}`
      // The classic engine's built-in BuildKit (docker build with DOCKER_BUILDKIT=1).
      const runner = buildKitRunner()
      runner.write(
        'Dockerfile',
        `FROM ${env.baseImage}\nRUN --mount=type=secret,id=tok sh -c 'test -s /run/secrets/tok && sleep 60'\n`
      )
      const main = runner.startMain({
        ...inputsFor(env, `killed-${nonce()}`),
        tags: 'v1',
        secrets: `tok=${secret}`
      })
      await waitFor(
        () => /\[command\]docker (buildx )?build/.test(main.output()),
        120_000,
        main.output
      )
      // The build is under way (BuildKit got the secret's source); the step is stopped now.
      await new Promise(resolve => setTimeout(resolve, 1500))
      process.kill(-main.child.pid!, signal)
      await main.exited
      const post = runner.post()
      expect(post.exitCode).toBe(0)
      expect(filesWith(runner, secret)).toEqual([])
    }, 240_000)
  }
})

describe('the post step without a state of the main step', () => {
  /** A runner with a Dockerfile that would build and push, and the step's inputs. */
  function ready(): { runner: Runner; inputs: Record<string, string>; image: string } {
    const runner = new Runner()
    runner.write('Dockerfile', `FROM ${env.baseImage}\nRUN echo built > /built\n`)
    const name = `post-only-${nonce()}`
    return {
      runner,
      inputs: { ...inputsFor(env, name), tags: 'v1' },
      image: `${env.registry}/octo-org/${name}`
    }
  }

  /** What must hold after a post step that had nothing to clean up. */
  function nothingDone(runner: Runner, out: string, image: string): void {
    expect(out).not.toMatch(/\[command\]docker (login|build|buildx|save|push|tag)/)
    expect(skopeoTags(env, image)).toEqual([])
    // No Docker config, work folder or credentials of the action's left in RUNNER_TEMP.
    const left = readdirSync(runner.temp).filter(n => n.startsWith('publish-container'))
    expect(left).toEqual([])
    expect(filesWith(runner, env.password)).toEqual([])
  }

  it('with an empty state: no login, no build, no push, nothing left', () => {
    const { runner, inputs, image } = ready()
    const post = runner.post(inputs)
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toContain('Nothing to clean up.')
    nothingDone(runner, post.stdout + post.stderr, image)
  })

  it('after a main step killed before it saved any state: nothing harmful', async () => {
    const { runner, inputs, image } = ready()
    const main = runner.startMain(inputs)
    // Killed as soon as node runs (well before the login): no state saved.
    await new Promise(resolve => setTimeout(resolve, 30))
    process.kill(-main.child.pid!, 'SIGKILL')
    await main.exited
    expect(existsSync(runner.files.state)).toBe(true)
    const post = runner.post(inputs)
    expect(post.exitCode).toBe(0)
    nothingDone(runner, post.stdout + post.stderr, image)
  })
})
