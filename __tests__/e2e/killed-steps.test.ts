/**
 * End to end: a main step cancelled (SIGINT to its process group, as the runner sends) or killed
 * (SIGKILL) in the middle of a build with a `secrets` value, then the post step: the value is in
 * no file under the temporary folders, RUNNER_TEMP or HOME (docs/facts/content-trust.md).
 */
import { describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { readdirSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { Runner, buildKitRunner, e2eEnv, filesContaining, inputsFor } from './harness.js'

const env = e2eEnv()
const nonce = (): string => randomBytes(8).toString('hex')

/** Every file holding `needle` under the runner, the temporary folder, and /tmp's publish-container-* folders. */
function filesWith(runner: Runner, needle: string): string[] {
  const tmpFolders = readdirSync('/tmp')
    .filter(name => name.startsWith('publish-container'))
    .map(name => path.join('/tmp', name))
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
