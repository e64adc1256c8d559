/**
 * Retries against a flaky registry: a fault-injecting proxy (503, 429, dropped connections) in
 * front of the real registry, with the bundled action and the real docker daemon behind it.
 */
import { describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import * as path from 'node:path'
import { startFaultProxy } from '../support/fault-proxy.js'
import { Runner, e2eEnv } from './harness.js'

const env = e2eEnv()

/** The main step without blocking the event loop (the proxy lives in this process). */
function mainStep(
  runner: Runner,
  inputs: Record<string, string>
): Promise<{ code: number; out: string; ms: number }> {
  const start = Date.now()
  const envVars: Record<string, string> = { ...runner.env }
  for (const [k, v] of Object.entries(inputs)) envVars[`INPUT_${k.toUpperCase()}`] = v
  return new Promise(resolve => {
    const child = spawn(process.execPath, [path.resolve('dist/index.js')], {
      cwd: runner.workspace,
      env: envVars
    })
    let out = ''
    child.stdout.on('data', d => (out += d))
    child.stderr.on('data', d => (out += d))
    child.on('close', code => resolve({ code: code ?? -1, out, ms: Date.now() - start }))
  })
}

function project(runner: Runner): void {
  runner.write('Dockerfile', 'FROM scratch\nCOPY hello.txt /hello.txt\n')
  runner.write('hello.txt', `hello ${randomBytes(8).toString('hex')}\n`)
}

describe('a flaky registry', () => {
  it('with every request failing it stops within the time bound, saying it gave up on transient errors', async () => {
    const proxy = await startFaultProxy(env.registry, { rate: 1, seed: 7 })
    try {
      const runner = new Runner()
      project(runner)
      const main = await mainStep(runner, {
        registry: proxy.address,
        username: env.user,
        token: env.password,
        tags: 'x',
        'image-name': 'down',
        'tags-mode': 'replace',
        'registry-type': 'auto',
        context: '.',
        pull: 'false',
        'no-cache': 'false',
        push: 'true',
        retries: '3'
      })
      expect(main.code).toBe(1)
      expect(main.out).toMatch(
        /::error::docker login failed after 4 attempts over \d+\.\d s \(retries: 3\); the registry kept answering with transient errors/
      )
      expect(main.out).not.toMatch(/\n\s+at /)
      // 3 waits of at most 1, 2 and 4 s (or Retry-After: 1), plus four logins.
      expect(main.ms).toBeLessThan(30_000)
    } finally {
      await proxy.stop()
    }
  }, 120_000)
})
