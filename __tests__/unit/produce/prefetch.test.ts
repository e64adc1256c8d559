/**
 * The prefetch of the cache source's layers (src/produce/prefetch.ts), with docker stubbed: what
 * it runs, that it removes only what it added, that the end of the build stops it, and that no
 * failure of its own reaches the step. End to end: __tests__/e2e/build-cache.test.ts (both stores).
 */
import { describe, expect, it } from '@jest/globals'
import { Docker, type ExecFn } from '../../../src/docker/cli.js'
import { prefetchLayers } from '../../../src/produce/prefetch.js'

const REF = 'registry.test/o/app@sha256:' + 'a'.repeat(64)

const CONFIG = 'sha256:' + 'c'.repeat(64)

interface Engine {
  /** The engine has REF before the pull; or an image whose ID is CONFIG. */
  has?: boolean
  hasConfig?: boolean
  /** How the pull ends: ok, failed (exit 1), or waits until stopped. */
  pull?: 'ok' | 'fail' | 'hang'
}

function engine({ has = false, hasConfig = false, pull = 'ok' }: Engine) {
  const ran: string[] = []
  let present = has
  const fn: ExecFn = async (_c, args, options) => {
    ran.push(args.join(' '))
    const none = { exitCode: 1, stdout: '', stderr: `Error: No such image: ${REF}` }
    if (args[0] === 'image' && args[1] === 'inspect') {
      if (args.at(-1) === CONFIG)
        return hasConfig ? { exitCode: 0, stdout: CONFIG, stderr: '' } : none
      return present ? { exitCode: 0, stdout: `${CONFIG}\n`, stderr: '' } : none
    }
    if (args[0] === 'image' && args[1] === 'rm') {
      present = false
      return { exitCode: 0, stdout: `Untagged: ${REF}\n`, stderr: '' }
    }
    if (args[0] === 'pull') {
      expect(options.silent).toBe(true)
      if (pull === 'fail') {
        return { exitCode: 1, stdout: '', stderr: 'Error response from daemon: manifest unknown' }
      }
      if (pull === 'hang') {
        await new Promise<void>(resolve =>
          options.signal?.addEventListener('abort', () => resolve())
        )
        return { exitCode: 143, stdout: '', stderr: '' }
      }
      present = true
      return { exitCode: 0, stdout: `${REF}\n`, stderr: '' }
    }
    return { exitCode: 1, stdout: '', stderr: `unexpected docker ${args.join(' ')}` }
  }
  return { docker: new Docker('/c', fn), ran, present: () => present }
}

describe('prefetchLayers', () => {
  it('pulls the cache source out of the log, then removes the reference it added', async () => {
    const e = engine({})
    const line = await prefetchLayers(e.docker, REF, [CONFIG]).finish()
    expect(e.ran).toEqual([
      `image inspect --format {{.Id}} ${CONFIG}`,
      `image inspect --format {{.Id}} ${REF}`,
      `pull --quiet ${REF}`,
      `image rm ${REF}`
    ])
    expect(e.present()).toBe(false)
    expect(line).toMatch(
      /^Prefetch: the cache source's layers .* fetched into the engine in \d+\.\d s/
    )
    expect(line).toContain('the reference removed again')
  })

  it('neither pulls nor removes when the engine has the image, by its config or the reference', async () => {
    const byConfig = engine({ hasConfig: true })
    const line = await prefetchLayers(byConfig.docker, REF, [CONFIG]).finish()
    // Both asked at once (produce/cache-source.ts, engineHolds); nothing pulled, nothing removed.
    expect(byConfig.ran).toEqual([
      `image inspect --format {{.Id}} ${CONFIG}`,
      `image inspect --format {{.Id}} ${REF}`
    ])
    expect(line).toBe(`Prefetch: none needed, the engine has the image of ${REF}.`)
    const byRef = engine({ has: true })
    await prefetchLayers(byRef.docker, REF, [CONFIG], 'linux/amd64').finish()
    expect(byRef.ran).toEqual([
      `image inspect --format {{.Id}} ${CONFIG}`,
      `image inspect --format {{.Id}} ${REF}`
    ])
    expect(byRef.present()).toBe(true)
  })

  it('is stopped when the build is done first, and says so', async () => {
    const e = engine({ pull: 'hang' })
    const prefetch = prefetchLayers(e.docker, REF, [], 'linux/arm64')
    await new Promise(resolve => setTimeout(resolve, 20))
    const line = await prefetch.finish()
    expect(e.ran[1]).toBe(`pull --quiet --platform linux/arm64 ${REF}`)
    expect(line).toMatch(/was stopped after \d+\.\d s \(the build was done first\)/)
    expect(e.ran.filter(r => r.startsWith('image rm'))).toEqual([])
  })

  it('turns a failed pull or a broken engine into a line of the log, never an error', async () => {
    const failing = prefetchLayers(engine({ pull: 'fail' }).docker, REF)
    await new Promise(resolve => setTimeout(resolve, 20))
    const failed = await failing.finish()
    expect(failed).toContain(
      'failed (Error response from daemon: manifest unknown); the build fetched what it used.'
    )
    const broken = new Docker('/c', async () => {
      throw new Error('docker is not installed on this runner')
    })
    expect(await prefetchLayers(broken, REF).finish()).toContain(
      'did not run (docker is not installed on this runner)'
    )
    // Whatever docker (or a registry it quotes) says stays on the one line: no workflow command.
    const hostile = new Docker('/c', async () => {
      throw new Error('boom\n::error::injected')
    })
    const line = await prefetchLayers(hostile, REF).finish()
    expect(line).not.toMatch(/[\r\n]/)
    expect(line).toContain('boom ::error::injected')
  })
})
