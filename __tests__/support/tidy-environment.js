/**
 * The jest environment of every test file (jest.config.js): Node's, with a temporary folder of
 * the file's own. While the file runs, TMPDIR names an empty folder made for it (so os.tmpdir(),
 * mkdtemp and the processes the tests start put their temporary files there). When the file's
 * tests and hooks are done, a file that left anything in that folder fails (next to its own
 * results); then the folder is removed. A test removes what it makes: tempDir() of
 * __tests__/support/temp-dirs.ts makes folders and removes them after the file.
 * Plain JavaScript: jest loads the environment before it transforms anything.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { TestEnvironment } from 'jest-environment-node'

/** The names left in `dir` (none when it is gone). */
function leftovers(dir) {
  try {
    return readdirSync(dir).sort()
  } catch {
    return []
  }
}

export default class TidyEnvironment extends TestEnvironment {
  constructor(config, context) {
    // Set on the real process before Node's environment copies process.env for the tests.
    const outer = process.env.TMPDIR
    const own = mkdtempSync(path.join(os.tmpdir(), 'jest-file-'))
    process.env.TMPDIR = own
    super(config, context)
    this.outerTmp = outer
    this.ownTmp = own
    this.testPath = context.testPath
  }

  /**
   * jest-circus's events: at run_finish every test and hook of the file has run. When no test ran
   * (all skipped or filtered out) jest runs no afterAll either, so what the file's modules made
   * could not be removed: then the folder is only removed, not checked.
   */
  async handleTestEvent(event, state) {
    if (event.name === 'test_fn_start') this.testsRan = true
    if (event.name !== 'run_finish' || !this.testsRan) return
    const error = this.leftBehind()
    if (error) state.unhandledErrors.push(error)
  }

  /** The error for what the file left in its folder, if it left anything. */
  leftBehind() {
    const left = leftovers(this.ownTmp)
    if (left.length === 0) return undefined
    const file = path.relative(process.cwd(), this.testPath)
    const names = left.slice(0, 10).join(', ') + (left.length > 10 ? ', …' : '')
    return new Error(
      `${file} left ${left.length} entries in its temporary folder (${names}): remove what a ` +
        'test makes (tempDir() of __tests__/support/temp-dirs.ts removes its folders after the file)'
    )
  }

  async teardown() {
    if (this.outerTmp === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = this.outerTmp
    rmSync(this.ownTmp, { recursive: true, force: true })
    await super.teardown()
  }
}
