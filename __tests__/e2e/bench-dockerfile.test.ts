/**
 * The benchmark's Dockerfile mode end to end, on its quick fixture (npm run bench -- dockerfile
 * --quick): every case runs for the action and both plain-CLI ways, digests checked by the bench
 * itself. Minutes long (a dozen builds and publishes, with cold engines between them), so it runs
 * only with BENCH_SMOKE=1, not in npm test:
 *   BENCH_SMOKE=1 NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects e2e \
 *     --runInBand __tests__/e2e/bench-dockerfile.test.ts   (with an env file sourced)
 */
import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import * as path from 'node:path'
import { e2eEnv, ROOT } from './harness.js'
import { tempDir } from '../support/temp-dirs.js'

const smoke = process.env.BENCH_SMOKE === '1' ? describe : describe.skip

interface Who {
  seconds: number
  uploadBytes: number
  requests: number
  layers: number
  layersKept?: number
  route?: string
  ratio?: number
}

smoke('npm run bench -- dockerfile --quick', () => {
  it('measures A, B fresh, B warm and C for the action, (b) and (c), and writes the figures', () => {
    e2eEnv()
    const dir = tempDir('bench-smoke-')
    try {
      const file = path.join(dir, 'results.json')
      const r = spawnSync(process.execPath, ['scripts/bench.mjs', 'dockerfile', '--quick'], {
        cwd: ROOT,
        env: { ...process.env, BENCH_RESULTS_FILE: file },
        encoding: 'utf8',
        timeout: 1_500_000
      })
      expect({ status: r.status, stderr: r.status === 0 ? '' : r.stderr.slice(-3000) }).toEqual({
        status: 0,
        stderr: ''
      })
      const all = JSON.parse(readFileSync(file, 'utf8')) as Record<
        string,
        { quick: boolean; cases: Record<string, Record<string, Who>> }
      >
      const [key] = Object.keys(all)
      expect(key).toMatch(/^dockerfile(:.*)?:quick$/)
      const { cases, quick } = all[key]
      expect(quick).toBe(true)
      expect(Object.keys(cases).sort()).toEqual(['A', 'Bfresh', 'Bwarm', 'C'])
      for (const [name, kase] of Object.entries(cases)) {
        for (const who of ['action', 'b', 'c']) {
          expect([name, who, kase[who].seconds > 0, kase[who].requests > 0]).toEqual([
            name,
            who,
            true,
            true
          ])
        }
        expect(kase.action.ratio).toBeCloseTo(
          kase.action.seconds / Math.min(kase.b.seconds, kase.c.seconds),
          6
        )
        expect(kase.action.route).toMatch(/\S/)
      }
      // A first publish sends the fixture (24 MB of files, compressed); an unchanged one sends
      // no layer, and every layer keeps its digest.
      for (const who of ['action', 'b', 'c']) {
        expect(cases.A[who].uploadBytes).toBeGreaterThan(1024 * 1024)
        expect(cases.C[who].layersKept).toBe(cases.C[who].layers)
        expect(cases.C[who].uploadBytes).toBeLessThan(64 * 1024)
      }
      expect(r.stdout).toContain('| B warm self-hosted')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 1_600_000)
})
