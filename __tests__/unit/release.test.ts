/**
 * scripts/release.mjs against throwaway git repositories: tags vX.Y.Z, moves vX, pins the reusable
 * workflow to the release, and refuses a dirty tree, a stale dist/, a bad or old version and a
 * missing changelog entry. Its origin pushes into a local bare repository, which must stay empty:
 * the script never pushes.
 */
import { afterAll, beforeEach, describe, expect, it } from '@jest/globals'
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { tempDir } from '../support/temp-dirs.js'

const ROOT = path.resolve(
  import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname),
  '../..'
)
const SCRIPT = path.join(ROOT, 'scripts', 'release.mjs')
const WORKFLOW = '.github/workflows/publish.yml'
const GIT_ENV = {
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
  GIT_CONFIG_NOSYSTEM: '1'
}

let repo: string
let bare: string

const git = (...args: string[]): string =>
  execFileSync('git', args, {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, ...GIT_ENV }
  }).trim()

function write(file: string, content: string): void {
  mkdirSync(path.dirname(path.join(repo, file)), { recursive: true })
  writeFileSync(path.join(repo, file), content)
}

/** Runs the release script in the throwaway repository; the "build" copies src/ to dist/. */
function release(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, ...GIT_ENV, RELEASE_BUILD_COMMAND: 'cp src/index.js dist/index.js' }
  })
  return { status: r.status, out: r.stdout + r.stderr }
}

const roots: string[] = []
afterAll(() => roots.forEach(dir => rmSync(dir, { recursive: true, force: true })))

beforeEach(() => {
  const root = tempDir('release-test-')
  roots.push(root)
  repo = path.join(root, 'repo')
  bare = path.join(root, 'remote.git')
  mkdirSync(repo)
  execFileSync('git', ['init', '-q', '--bare', bare])
  git('init', '-q', '-b', 'main')
  // origin looks like GitHub, but pushes would land in the local bare repository.
  git('remote', 'add', 'origin', 'https://github.com/acme/publish-container.git')
  git('config', `url.${bare}.pushInsteadOf`, 'https://github.com/acme/publish-container.git')
  mkdirSync(path.join(repo, '.github/workflows'), { recursive: true })
  copyFileSync(path.join(ROOT, WORKFLOW), path.join(repo, WORKFLOW))
  write('CHANGELOG.md', '# Changelog\n\n## [1.3.0] - 2025-02-01\n\n## [1.2.3] - 2025-01-01\n')
  write('src/index.js', 'console.log(1)\n')
  write('dist/index.js', 'console.log(1)\n')
  git('add', '-A')
  git('commit', '-q', '-m', 'init')
})

const remoteRefs = (): string =>
  execFileSync('git', ['--git-dir', bare, 'for-each-ref'], { encoding: 'utf8' }).trim()

describe('scripts/release.mjs', () => {
  it('tags vX.Y.Z, moves vX, pins the reusable workflow to the release, and pushes nothing', () => {
    const main = git('rev-parse', 'main')
    const r = release('v1.2.3')
    expect(r.out).toContain('Tagged v1.2.3')
    expect(r.out).toContain('git push --force origin v1')
    expect(r.status).toBe(0)
    // The release commit: the branch head plus the pinned workflow line.
    const tagged = git('rev-parse', 'v1.2.3^{commit}')
    expect(git('rev-parse', `${tagged}^`)).toBe(main)
    expect(git('cat-file', '-t', 'v1.2.3')).toBe('tag') // annotated
    expect(git('rev-parse', 'v1^{commit}')).toBe(tagged)
    const pinned = git('show', `v1.2.3:${WORKFLOW}`)
    expect(pinned).toMatch(
      /^ +uses: acme\/publish-container@v1\.2\.3 # release: this line is pinned to the release tag$/m
    )
    expect(git('diff', '--stat', main, 'v1.2.3')).toMatch(
      /1 file changed, 1 insertion\(\+\), 1 deletion/
    )
    // The branch did not move, is checked out again, and the tree is clean.
    expect(git('rev-parse', 'main')).toBe(main)
    expect(git('symbolic-ref', '--short', 'HEAD')).toBe('main')
    expect(git('status', '--porcelain')).toBe('')
    expect(readFileSync(path.join(repo, WORKFLOW), 'utf8')).toContain(
      'OWNER/publish-container@v1 #'
    )
    expect(remoteRefs()).toBe('')
  })

  it('moves the major tag on the next release', () => {
    expect(release('v1.2.3').status).toBe(0)
    const first = git('rev-parse', 'v1^{commit}')
    write('src/index.js', 'console.log(2)\n')
    write('dist/index.js', 'console.log(2)\n')
    git('commit', '-q', '-am', 'change')
    expect(release('v1.3.0').status).toBe(0)
    expect(git('rev-parse', 'v1^{commit}')).toBe(git('rev-parse', 'v1.3.0^{commit}'))
    expect(git('rev-parse', 'v1^{commit}')).not.toBe(first)
    expect(git('rev-parse', 'v1.2.3^{commit}')).toBe(first)
  })

  it('takes the repository from --repo', () => {
    expect(release('v1.2.3', '--repo', 'other-org/fork').status).toBe(0)
    expect(git('show', `v1.2.3:${WORKFLOW}`)).toContain('uses: other-org/fork@v1.2.3 #')
  })

  it('refuses when dist/ is not the build of the committed source, and restores dist/', () => {
    write('src/index.js', 'console.log("changed")\n')
    git('commit', '-q', '-am', 'src without dist')
    const r = release('v1.2.3')
    expect(r.status).toBe(1)
    expect(r.out).toMatch(/release: dist\/ is not the build of the committed source/)
    expect(git('status', '--porcelain')).toBe('')
    expect(git('tag')).toBe('')
  })

  it.each([
    ['a modified file', () => write('src/index.js', 'x\n')],
    ['an untracked file', () => write('notes.txt', 'x\n')]
  ])('refuses a dirty tree (%s)', (_what, dirty) => {
    dirty()
    const r = release('v1.2.3')
    expect(r.status).toBe(1)
    expect(r.out).toContain('release: the work tree is not clean')
    expect(git('tag')).toBe('')
  })

  it.each([
    ['1.2.3', "'1.2.3' is not a release version: use vX.Y.Z"],
    ['v1.2', "'v1.2' is not a release version"],
    ['v2.0.0', 'CHANGELOG.md has no section for 2.0.0']
  ])('refuses the version %s', (version, message) => {
    const r = release(version)
    expect(r.status).toBe(1)
    expect(r.out).toContain(message)
  })

  it('refuses an existing or older version', () => {
    expect(release('v1.3.0').status).toBe(0)
    expect(release('v1.3.0').out).toContain('tag v1.3.0 exists already')
    const older = release('v1.2.3')
    expect(older.status).toBe(1)
    expect(older.out).toContain('v1.2.3 is not newer than the latest release v1.3.0')
  })

  it('a prerelease does not move the major tag', () => {
    write('CHANGELOG.md', '## [2.0.0-rc.1]\n')
    git('commit', '-q', '-am', 'rc')
    expect(release('v2.0.0-rc.1').status).toBe(0)
    expect(git('tag')).toBe('v2.0.0-rc.1')
  })
})
