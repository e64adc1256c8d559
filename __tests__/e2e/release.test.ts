/**
 * scripts/release.mjs on a clone of this repository, with the real build (ncc): the committed
 * dist/ must be what `npm run build` makes of the committed src/, or no release is tagged.
 * (The script's other refusals are unit-tested on throwaway repositories.)
 */
import { afterAll, describe, expect, it } from '@jest/globals'
import { execFileSync, spawnSync } from 'node:child_process'
import { appendFileSync, rmSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { ROOT } from './harness.js'
import { tempDir } from '../support/temp-dirs.js'

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com'
}

const clones: string[] = []
afterAll(() => clones.forEach(dir => rmSync(dir, { recursive: true, force: true })))

describe('release script on a clone of this repository', () => {
  it('checks dist/ with the real build, then tags; refuses once src/ changes without dist/', () => {
    const clone = path.join(tempDir('release-clone-'), 'repo')
    clones.push(path.dirname(clone))
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim()
    const git = (...args: string[]): string =>
      execFileSync('git', args, { cwd: clone, encoding: 'utf8', env: GIT_ENV }).trim()
    execFileSync('git', ['clone', '-q', '--no-checkout', ROOT, clone])
    git('checkout', '-q', '-b', 'release-test', head)
    git('remote', 'set-url', 'origin', 'https://github.com/acme/publish-container.git')
    git('config', 'remote.origin.pushurl', '/nonexistent/never-pushed')
    // A hard-linked copy, not a symlink: ncc numbers modules by their real paths, so a build
    // through a symlinked node_modules differs from the committed one.
    const modules = [path.join(ROOT, 'node_modules'), path.join(clone, 'node_modules')]
    if (spawnSync('cp', ['-al', ...modules]).status !== 0) execFileSync('cp', ['-a', ...modules])
    appendFileSync(path.join(clone, 'CHANGELOG.md'), '\n## [99.0.0] - test\n')
    git('commit', '-q', '-am', 'changelog for the test release')
    const release = () =>
      spawnSync(process.execPath, ['scripts/release.mjs', 'v99.0.0'], {
        cwd: clone,
        encoding: 'utf8',
        env: GIT_ENV
      })

    // A statement with a side effect: an unused `export const` is tree-shaken by the minifying
    // build, which then leaves dist/ unchanged and the check has nothing to find.
    writeFileSync(path.join(clone, 'src', 'extra.ts'), "process.env.RELEASE_TEST = '1'\n")
    appendFileSync(path.join(clone, 'src', 'index.ts'), "import './extra.js'\n")
    git('add', '-A')
    git('commit', '-q', '-m', 'src changed, dist not rebuilt')
    const stale = release()
    expect(stale.stderr).toContain('release: dist/ is not the build of the committed source')
    expect(stale.status).toBe(1)
    expect(git('status', '--porcelain')).toBe('')

    git('reset', '-q', '--hard', 'HEAD^')
    const ok = release()
    expect(ok.stdout).toContain('Tagged v99.0.0')
    expect(ok.status).toBe(0)
    expect(git('show', 'v99.0.0:.github/workflows/publish.yml')).toContain(
      'uses: acme/publish-container@v99.0.0 # release:'
    )
    expect(git('rev-parse', 'v99^{commit}')).toBe(git('rev-parse', 'v99.0.0^{commit}'))
  }, 120_000)
})
