/**
 * `npm run demo` (scripts/demo.sh) against the running test environment: it publishes, its real
 * checks (skopeo, docker pull IMAGE@DIGEST, docker run) pass, what it prints is a readable story
 * (no raw workflow commands) ending with the result, and the registry password it hands to the
 * action appears neither in what it prints nor in its log file.
 */
import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import * as path from 'node:path'
import { e2eEnv, ROOT } from './harness.js'
import { tempDir } from '../support/temp-dirs.js'

const env = e2eEnv()

describe('npm run demo', () => {
  it('publishes, checks with real clients, prints no secret and ends with the result', () => {
    // The demo stops an environment it did not find running: it must find this one running.
    const status = spawnSync('bash', [path.join(ROOT, 'scripts', 'e2e-env.sh'), 'status'], {
      encoding: 'utf8'
    })
    expect(status.status).toBe(0)

    const dir = tempDir('demo-test-')
    try {
      const logFile = path.join(dir, 'demo.log')
      const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'demo.sh')], {
        env: { ...process.env, DEMO_LOG: logFile },
        encoding: 'utf8',
        timeout: 170_000
      })
      const out = r.stdout + r.stderr
      expect({ status: r.status, out }).toEqual({ status: 0, out: expect.any(String) })
      const log = readFileSync(logFile, 'utf8')

      // No secret: the password, nor docker's base64 user:password, anywhere.
      const basic = Buffer.from(`${env.user}:${env.password}`).toString('base64')
      for (const text of [out, log]) {
        expect(text).not.toContain(env.password)
        expect(text).not.toContain(basic)
      }
      // The action did announce the mask (so the check above is about a value that was there).
      expect(log).toContain('::add-mask::***')

      // Readable: no raw workflow commands on the terminal, the log file named once at the top.
      expect(out).not.toMatch(/^\s*::[a-z-]+[^:]*::/m)
      expect(out).not.toContain('[command]')
      expect(out.split('\n').filter(l => l.includes(logFile))).toHaveLength(1)
      expect(out).toContain('already running: reusing them')

      // The result is last: image, tags, digest and the reference pulled back, matching the log.
      const lines = out.trimEnd().split('\n')
      const result = lines.slice(-5)
      expect(result[0]).toMatch(/^Result, after \d+ s: published, pulled back by digest and run/)
      const image = `${env.registry}/octo-org/demo-app`
      expect(result[1]).toBe(`  image:   ${image}`)
      expect(result[2]).toBe('  tags:    1.0.0, latest')
      const digest = /^ {2}digest: {2}(sha256:[0-9a-f]{64})$/.exec(result[3])?.[1]
      expect(digest).toBeDefined()
      expect(result[4]).toBe(`  ref:     ${image}@${digest}`)
      expect(log).toContain(`  digest:   ${digest}\n`)
      expect(out).toContain('  docker run (same reference): "hello from publish-container, built ')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)
})
