#!/usr/bin/env node
// Tags a release of the action: vX.Y.Z, and moves the major tag vX to it. Never pushes.
//
//   node scripts/release.mjs v1.2.3 [--repo OWNER/NAME]
//
// Refuses unless: the version is vX.Y.Z[-pre] and newer than every release tag; CHANGELOG.md has a
// "## [X.Y.Z]" section; the work tree is clean (untracked files included); and dist/ is exactly
// the build of the committed source (the build is run, and dist/ restored, to check).
//
// The release commit is made on a detached HEAD, so the branch is not moved: it is the branch
// head plus one change, the reusable workflow's action step pinned to this release
// (`uses: OWNER/NAME@vX.Y.Z`, the line marked "# release:" in .github/workflows/publish.yml),
// because inside a reusable workflow `uses: ./` would be the caller's checkout. OWNER/NAME comes
// from --repo, else from the origin remote's URL.
//
// RELEASE_BUILD_COMMAND overrides the build (default: npm run -s build), for tests.
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import semver from 'semver'

const WORKFLOW = '.github/workflows/publish.yml'
const PIN = /^(\s*uses:\s*)\S+@\S+(\s+# release: this line is pinned to the release tag)\s*$/m

class ReleaseError extends Error {}

function git(args, options = {}) {
  return execFileSync('git', args, { encoding: 'utf8', ...options }).trim()
}

function parseArgs(argv) {
  const options = { version: '', repo: '' }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--repo') options.repo = argv[++i] ?? ''
    else if (!options.version && !argv[i].startsWith('-')) options.version = argv[i]
    else
      throw new ReleaseError(
        `unknown argument '${argv[i]}'. Usage: release.mjs vX.Y.Z [--repo OWNER/NAME]`
      )
  }
  return options
}

/** OWNER/NAME from --repo, or from a GitHub-style origin URL (https://HOST/O/N.git, git@HOST:O/N.git). */
function repository(given) {
  let repo = given
  if (!repo) {
    let url = ''
    try {
      url = git(['remote', 'get-url', 'origin'])
    } catch {
      // no origin remote
    }
    repo = /[:/]([^/:]+\/[^/]+?)(?:\.git)?\/?$/.exec(url)?.[1] ?? ''
    if (!repo)
      throw new ReleaseError(
        'cannot tell the repository from the origin remote: pass --repo OWNER/NAME'
      )
  }
  if (!/^[A-Za-z0-9-]+\/[A-Za-z0-9._-]+$/.test(repo)) {
    throw new ReleaseError(`repository '${repo}' is not OWNER/NAME`)
  }
  return repo
}

function checkVersion(tag) {
  if (!/^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(tag) || !semver.valid(tag)) {
    throw new ReleaseError(`'${tag}' is not a release version: use vX.Y.Z, e.g. v1.2.3`)
  }
  const existing = git(['tag', '--list', 'v*'])
    .split('\n')
    .filter(t => semver.valid(t) && /^v\d/.test(t))
  if (existing.includes(tag)) throw new ReleaseError(`tag ${tag} exists already`)
  const latest = existing.sort(semver.rcompare)[0]
  if (latest && !semver.gt(tag, latest)) {
    throw new ReleaseError(`${tag} is not newer than the latest release ${latest}`)
  }
}

function checkChangelog(tag) {
  const version = semver.clean(tag)
  let text = ''
  try {
    text = readFileSync('CHANGELOG.md', 'utf8')
  } catch {
    throw new ReleaseError('CHANGELOG.md is missing')
  }
  const heading = new RegExp(`^##\\s+\\[?v?${version.replace(/\./g, '\\.')}\\]?(\\s|$)`, 'm')
  if (!heading.test(text)) {
    throw new ReleaseError(
      `CHANGELOG.md has no section for ${version}: add "## [${version}] - DATE" and commit it`
    )
  }
}

function checkClean() {
  const status = git(['status', '--porcelain', '--untracked-files=all'])
  if (status) {
    throw new ReleaseError(`the work tree is not clean; commit or remove these first:\n${status}`)
  }
}

/** Runs the build; dist/ must come out exactly as committed. dist/ is restored either way. */
function checkDist() {
  const command = process.env.RELEASE_BUILD_COMMAND || 'npm run -s build'
  const build = spawnSync(command, { shell: true, encoding: 'utf8' })
  const changed = git(['status', '--porcelain', '--untracked-files=all', '--', 'dist'])
  try {
    git(['checkout', '--', 'dist'], { stdio: 'pipe' })
  } catch {
    // dist/ is not tracked at all: reported below as changed (untracked files)
  }
  git(['clean', '-fdq', '--', 'dist'])
  if (build.status !== 0) {
    throw new ReleaseError(`the build (${command}) failed:\n${build.stdout}${build.stderr}`)
  }
  if (changed) {
    throw new ReleaseError(
      `dist/ is not the build of the committed source (${command} changed it):\n${changed}\n` +
        'Run the build and commit dist/ first.'
    )
  }
}

function release(tag, repo) {
  const major = `v${semver.major(tag)}`
  const prerelease = semver.prerelease(tag) !== null
  const branch = spawnSync('git', ['symbolic-ref', '-q', '--short', 'HEAD'], {
    encoding: 'utf8'
  }).stdout.trim()
  const start = git(['rev-parse', 'HEAD'])
  const workflow = readFileSync(WORKFLOW, 'utf8')
  if (!PIN.test(workflow)) {
    throw new ReleaseError(
      `${WORKFLOW} has no action step marked "# release: this line is pinned to the release tag"`
    )
  }
  git(['checkout', '-q', '--detach'])
  try {
    writeFileSync(WORKFLOW, workflow.replace(PIN, `$1${repo}@${tag}$2`))
    git(['commit', '-q', '-m', `Release ${tag}`, '--', WORKFLOW])
    git(['tag', '-a', tag, '-m', `Release ${tag}`])
    if (!prerelease) git(['tag', '-f', '-a', major, '-m', `${major}: latest is ${tag}`])
    return { commit: git(['rev-parse', 'HEAD']), major: prerelease ? '' : major }
  } finally {
    git(['checkout', '-q', '-f', branch || start])
  }
}

function main(argv) {
  try {
    const { version, repo: givenRepo } = parseArgs(argv)
    if (!version) throw new ReleaseError('give the version: release.mjs vX.Y.Z [--repo OWNER/NAME]')
    process.chdir(git(['rev-parse', '--show-toplevel']))
    checkVersion(version)
    const repo = repository(givenRepo)
    checkChangelog(version)
    checkClean()
    checkDist()
    const { commit, major } = release(version, repo)
    console.log(
      `Tagged ${version} (${commit.slice(0, 12)}, ${WORKFLOW} pinned to ${repo}@${version})` +
        (major ? ` and moved ${major} to it.` : '; a prerelease does not move the major tag.')
    )
    console.log('Nothing was pushed. To publish:')
    console.log(
      `  git push origin ${version}${major ? `\n  git push --force origin ${major}` : ''}`
    )
    console.log(
      `then create the GitHub release from ${version} and tick "Publish this Action to the GitHub Marketplace".`
    )
    return 0
  } catch (error) {
    if (!(error instanceof ReleaseError)) throw error
    console.error(`release: ${error.message}`)
    return 1
  }
}

process.exitCode = main(process.argv.slice(2))
