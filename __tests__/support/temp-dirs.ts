/**
 * Temporary folders for tests: made in os.tmpdir() and removed when the test file is done (one
 * afterAll per file that imports this module). The jest environment
 * (__tests__/support/tidy-environment.js) fails a file that leaves anything behind.
 */
import { afterAll } from '@jest/globals'
import { mkdtempSync, rmSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

const made: string[] = []

afterAll(() => {
  removeTempDirs()
})

/** A new empty folder `os.tmpdir()/PREFIX…`, removed after the test file. */
export function tempDir(prefix: string): string {
  return removeAfterFile(mkdtempSync(path.join(os.tmpdir(), prefix)))
}

/** Removes `dir` (a folder a test made some other way) after the test file; returns it. */
export function removeAfterFile(dir: string): string {
  made.push(dir)
  return dir
}

/** Removes every folder made or registered so far (what afterAll does). */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
}
