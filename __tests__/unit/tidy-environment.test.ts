/**
 * The jest environment every test file runs in (__tests__/support/tidy-environment.js): a
 * temporary folder of the file's own, which must be empty when the file is done. Checked by
 * running jest itself on two small test files, one tidy and one that leaves a folder behind.
 */
import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { ROOT } from '../support/action-runner.js'
import { tempDir } from '../support/temp-dirs.js'

const ENVIRONMENT = path.join(ROOT, '__tests__/support/tidy-environment.js')

/** Runs jest (this repository's) on one test file `body` in a project of its own. */
function jestOn(body: string): { code: number | null; out: string; tmp: string } {
  const project = tempDir('tidy-project-')
  const tmp = tempDir('tidy-tmp-')
  writeFileSync(
    path.join(project, 'jest.config.cjs'),
    `module.exports = ${JSON.stringify({
      testEnvironment: ENVIRONMENT,
      testMatch: ['**/*.test.cjs'],
      cacheDirectory: path.join(project, 'cache')
    })}\n`
  )
  writeFileSync(path.join(project, 'probe.test.cjs'), body)
  const r = spawnSync(
    process.execPath,
    [path.join(ROOT, 'node_modules/jest/bin/jest.js'), '--rootDir', project, '--ci'],
    { cwd: project, env: { ...process.env, TMPDIR: tmp }, encoding: 'utf8', timeout: 120_000 }
  )
  return { code: r.status, out: r.stdout + r.stderr, tmp }
}

const MAKES_A_FOLDER = `
const { mkdtempSync, rmSync } = require('node:fs')
const os = require('node:os')
const path = require('node:path')
let made
test('makes a folder', () => {
  made = mkdtempSync(path.join(os.tmpdir(), 'probe-'))
  expect(path.dirname(made)).toMatch(/jest-file-/)
})
`

describe('each test file’s own temporary folder', () => {
  it('is what both projects of jest.config.js run in', async () => {
    const config = (await import(path.join(ROOT, 'jest.config.js'))) as {
      default: { projects: { testEnvironment: string }[] }
    }
    const projects = config.default.projects
    expect(projects.length).toBeGreaterThan(1)
    for (const p of projects)
      expect(p.testEnvironment).toBe('<rootDir>/__tests__/support/tidy-environment.js')
  })

  it('passes a file that removes what it made, and is gone after it', () => {
    const run = jestOn(`${MAKES_A_FOLDER}\nafterAll(() => rmSync(made, { recursive: true }))\n`)
    expect(run.out).toMatch(/Tests:\s+1 passed, 1 total/)
    expect(run.code).toBe(0)
    expect(readdirSync(run.tmp)).toEqual([])
  }, 120_000)

  it('fails a file that leaves a folder behind, naming it, and removes the folder all the same', () => {
    const run = jestOn(MAKES_A_FOLDER)
    expect(run.out).toMatch(/Tests:\s+1 passed, 1 total/) // its own test passed…
    expect(run.out).toMatch(
      /probe\.test\.cjs left 1 entries in its temporary folder \(probe-\w+\): remove what a test makes/
    )
    expect(run.code).toBe(1) // …and the file failed
    expect(readdirSync(run.tmp)).toEqual([])
  }, 120_000)

  it('does not fail a file whose every test was skipped (jest then runs no afterAll), and removes the folder', () => {
    const run = jestOn(
      `${MAKES_A_FOLDER.replace("test('makes", "test.skip('makes")}\nmkdtempSync(path.join(os.tmpdir(), 'module-'))\n`
    )
    expect(run.out).toMatch(/Tests:\s+1 skipped, 1 total/)
    expect(run.out).not.toMatch(/left \d+ entries/)
    expect(run.code).toBe(0)
    expect(readdirSync(run.tmp)).toEqual([])
  }, 120_000)
})
