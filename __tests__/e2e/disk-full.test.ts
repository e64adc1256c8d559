/**
 * End to end: RUNNER_TEMP too small for the compressed layers. The action runs against the real
 * engine and registry with RUNNER_TEMP on a 4 MB tmpfs (mounted here; the tests run as root) and
 * a source image whose one layer is 12 MB of random bytes (it does not compress): the step fails
 * with one error line naming the folder and the space it needs, no stack trace, nothing tagged,
 * and the post step leaves RUNNER_TEMP empty.
 */
import { describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { readdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { e2eClient, inputsFor, nonce, Runner, sh, skopeoInspect } from './harness.js'
import { tempDir } from '../support/temp-dirs.js'

const { env, client } = e2eClient()

describe('RUNNER_TEMP without room for the compressed layers', () => {
  it('fails naming the folder and how much it needs; the post step leaves it empty', () => {
    const dir = tempDir('e2e-disk-full-')
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY big.bin /big.bin\n')
    writeFileSync(path.join(dir, 'big.bin'), randomBytes(12 * 1024 * 1024))
    const local = `disk-full:${nonce()}`
    client(['build', '--quiet', '--tag', local, dir])

    const runner = new Runner()
    sh('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0755', 'tmpfs', runner.temp])
    // Unmounted before the harness removes the runner's folders (its afterAll runs first).
    try {
      publishAndClean(runner, local)
    } finally {
      sh('umount', [runner.temp])
    }
  }, 120_000)
})

/** The step on the full RUNNER_TEMP, then the post step. */
function publishAndClean(runner: Runner, local: string): void {
  const imageName = `disk-full-${nonce()}`
  const step = runner.main({
    ...inputsFor(env, imageName),
    tags: 'v1',
    'source-image': local
  })
  expect(step.exitCode).toBe(1)
  const errors = step.stdout.split('\n').filter(l => l.startsWith('::error'))
  expect(errors).toHaveLength(1)
  expect(errors[0]).toContain(`no space left in ${runner.temp} (RUNNER_TEMP)`)
  const need = Number(/about (\d+) MB free is needed/.exec(errors[0])?.[1])
  expect(need).toBeGreaterThanOrEqual(12)
  expect(step.stdout + step.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/)
  expect(() => skopeoInspect(env, `${env.registry}/octo-org/${imageName}:v1`)).toThrow()

  expect(runner.post().exitCode).toBe(0)
  expect(readdirSync(runner.temp)).toEqual([])
}
