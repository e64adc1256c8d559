/**
 * End to end: installing buildx when the runner has none (buildx: true), through dist/index.js,
 * from a local server laid out like the docker/buildx releases (VERSION/buildx-VERSION.OS-ARCH and
 * VERSION/checksums.txt in `sha256sum -b` format).
 *
 * The "buildx" served is a stand-in shell script, not the real plugin (nothing can be downloaded
 * here): it answers the docker CLI's plugin protocol (docker-cli-plugin-metadata), prints a version
 * of its own, and runs `buildx build --load …` as a classic `docker build …`, so the whole publish
 * runs through the installed plugin.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash, randomBytes } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync
} from 'node:fs'
import * as path from 'node:path'
import { assetName } from '../../src/docker/buildx.js'
import {
  e2eClient,
  inputsFor,
  loginInputs,
  parseFileCommand,
  Runner,
  skopeoInspect,
  startFixture
} from './harness.js'
import { tempDir } from '../support/temp-dirs.js'

const { env, client } = e2eClient()

const STANDIN_VERSION = 'v0.99.0-standin'
const STANDIN = `#!/bin/sh
# Stand-in for the docker-buildx CLI plugin (tests only).
if [ "$1" = docker-cli-plugin-metadata ]; then
  echo '{"SchemaVersion":"0.1.0","Vendor":"publish-container tests","Version":"${STANDIN_VERSION}","ShortDescription":"stand-in buildx"}'
  exit 0
fi
shift # the plugin name, "buildx"
case "$1" in
  version) echo "github.com/docker/buildx ${STANDIN_VERSION} 0000000"; exit 0 ;;
  # The default builder of the engine: the docker driver (the action asks before it builds).
  inspect) printf 'Name:          default\nDriver:        docker\n'; exit 0 ;;
  build)
    shift
    # What the classic builder has no flag for: --load, and the build cache's (the cache input).
    skip=
    for arg do
      shift
      if [ -n "$skip" ]; then skip=; continue; fi
      case "$arg" in
        --load) ;;
        --cache-to|--cache-from) skip=1 ;;
        *) set -- "$@" "$arg" ;;
      esac
    done
    echo "stand-in buildx: running the classic builder"
    DOCKER_BUILDKIT=0 exec docker build "$@" ;;
esac
echo "stand-in buildx: unsupported: $*" >&2
exit 1
`

/** Every file under dir (symlinks as links), with size and mode: to prove nothing changed. */
/**
 * The runner's Docker config as the action must leave it: buildx's own state folder (`buildx/`,
 * its node ID and builders) may appear, as buildx itself makes it on first use; the action creates
 * it so that the runner keeps that state between jobs (docs/buildkit-push.md).
 */
function runnerConfig(dir: string): string[] {
  return snapshot(dir).filter(entry => !/^buildx( |\/)/.test(entry))
}

function snapshot(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      const st = statSync(p, { throwIfNoEntry: false })
      out.push(`${path.relative(dir, p)} ${e.isSymbolicLink() ? 'link' : st?.size} ${st?.mode}`)
      if (e.isDirectory()) walk(p)
    }
  }
  walk(dir)
  return out.sort()
}

let releases: string
let log: string
let server: { port: number; stop: () => void }
const baseUrl = (): string => `http://127.0.0.1:${server.port}/releases/download`
const requests = (): string[] =>
  existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []

beforeAll(async () => {
  const root = tempDir('e2e-buildx-releases-')
  releases = path.join(root, 'site')
  log = path.join(root, 'requests.log')
  const sum = createHash('sha256').update(STANDIN).digest('hex')
  // v0.99.0: the stand-in and its checksum, as docker/buildx publishes them.
  // v0.99.1: checksums.txt describes the stand-in, but the asset served is corrupted.
  for (const [version, body] of [
    ['v0.99.0', STANDIN],
    ['v0.99.1', STANDIN.replace('exit 0', 'exit 0 # corrupted')]
  ]) {
    const dir = path.join(releases, 'releases/download', version)
    mkdirSync(dir, { recursive: true })
    writeFileSync(path.join(dir, assetName(version)), body)
    writeFileSync(path.join(dir, 'checksums.txt'), `${sum} *${assetName(version)}\n`)
  }
  server = await startFixture('release-server.mjs', [releases, log])
})
afterAll(() => server?.stop())

/** A runner with no buildx, a tool cache of its own, and a plugin of its own in ~/.docker. */
function runnerWithoutBuildx(toolCache?: string): Runner {
  const runner = new Runner()
  runner.env.RUNNER_TOOL_CACHE = toolCache ?? path.join(runner.root, 'tool-cache')
  const plugins = path.join(runner.dockerConfig, 'cli-plugins')
  mkdirSync(plugins)
  writeFileSync(
    path.join(plugins, 'docker-hello'),
    `#!/bin/sh\n[ "$1" = docker-cli-plugin-metadata ] && echo '{"SchemaVersion":"0.1.0","Vendor":"t","Version":"1"}'\n`
  )
  chmodSync(path.join(plugins, 'docker-hello'), 0o755)
  writeFileSync(path.join(runner.dockerConfig, 'config.json'), '{"auths":{}}\n')
  runner.write('Dockerfile', 'FROM scratch\nCOPY hello.txt /\n')
  runner.write('hello.txt', randomBytes(8).toString('hex'))
  return runner
}

const dockerWith = (config: string, args: string[]) =>
  spawnSync('docker', args, { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: config } })

describe('buildx: true on a runner without buildx', () => {
  it('downloads, verifies, caches and installs buildx into the action’s config, builds with it, and leaves ~/.docker alone', () => {
    const runner = runnerWithoutBuildx()
    const before = runnerConfig(runner.dockerConfig)
    expect(dockerWith(runner.dockerConfig, ['buildx', 'version']).status).not.toBe(0)

    const main = runner.main({
      ...inputsFor(env, 'built-with-buildx'),
      buildx: 'true',
      'buildx-version': 'v0.99.0',
      'buildx-download-url': baseUrl()
    })
    expect(main.stderr).toBe('')
    expect(main.exitCode).toBe(0)
    const asset = assetName('v0.99.0')
    expect(requests()).toEqual([
      '/releases/download/v0.99.0/checksums.txt',
      `/releases/download/v0.99.0/${asset}`
    ])
    expect(main.stdout).toContain(
      '::group::Install buildx v0.99.0 (the runner has no buildx plugin)'
    )
    expect(main.stdout).toMatch(
      new RegExp(`Downloaded ${asset}; sha256 [0-9a-f]{64} matches checksums.txt`)
    )
    // The docker CLI runs the installed plugin: the build went through it.
    expect(main.stdout).toContain(
      `docker buildx version: github.com/docker/buildx ${STANDIN_VERSION}`
    )
    expect(main.stdout).toContain('(docker buildx build --load)')
    expect(main.stdout).toContain('stand-in buildx: running the classic builder')
    expect(main.summary).toMatch(/Builder<\/td><td>buildx/)
    // Published as usual.
    const image = `${env.registry}/octo-org/built-with-buildx`
    expect(JSON.parse(skopeoInspect(env, `${image}:latest`)).Digest).toBe(main.outputs.digest)
    client(['image', 'rm', '--force', main.outputs.imageid])
    expect(client(['pull', main.outputs['image-ref']])).toContain(`Digest: ${main.outputs.digest}`)

    // In the tool cache …
    const cached = path.join(runner.env.RUNNER_TOOL_CACHE, 'docker-buildx', '0.99.0', process.arch)
    expect(readFileSync(path.join(cached, 'docker-buildx'), 'utf8')).toBe(STANDIN)
    // … installed in the action's config dir, where the docker CLI sees it next to the runner's
    // own plugins, and nowhere in the runner's ~/.docker.
    const configDir = parseFileCommand(readFileSync(runner.files.state, 'utf8')).configDir
    const inAction = dockerWith(configDir, ['buildx', 'version'])
    expect(inAction.stdout).toContain(STANDIN_VERSION)
    expect(readdirSync(path.join(configDir, 'cli-plugins')).sort()).toEqual([
      'docker-buildx',
      'docker-hello'
    ])
    expect(dockerWith(runner.dockerConfig, ['buildx', 'version']).status).not.toBe(0)
    expect(runnerConfig(runner.dockerConfig)).toEqual(before)

    expect(runner.post().exitCode).toBe(0)
    expect(existsSync(configDir)).toBe(false)
    expect(runnerConfig(runner.dockerConfig)).toEqual(before)
    expect(existsSync(path.join(runner.dockerConfig, 'cli-plugins', 'docker-hello'))).toBe(true)

    // A second job on the same runner takes it from the tool cache: no download.
    const second = runnerWithoutBuildx(runner.env.RUNNER_TOOL_CACHE)
    const count = requests().length
    const again = second.main({
      ...inputsFor(env, 'built-with-buildx'),
      buildx: 'true',
      'buildx-version': 'v0.99.0',
      'buildx-download-url': baseUrl()
    })
    expect(again.exitCode).toBe(0)
    expect(again.stdout).toContain('buildx v0.99.0 found in the tool cache')
    expect(requests().length).toBe(count)
    expect(second.post().exitCode).toBe(0)
  })

  it('a corrupted download fails with a clear message, and nothing is installed or cached', () => {
    const runner = runnerWithoutBuildx()
    const before = runnerConfig(runner.dockerConfig)
    const main = runner.main({
      ...loginInputs(env),
      buildx: 'true',
      'buildx-version': 'v0.99.1',
      'buildx-download-url': baseUrl()
    })
    expect(main.exitCode).toBe(1)
    expect(main.stdout).toMatch(
      /::error::checksum mismatch for http:\/\/127\.0\.0\.1:\d+\/releases\/download\/v0\.99\.1\/buildx-v0\.99\.1\.\S+: expected sha256 [0-9a-f]{64} \(checksums\.txt\), got [0-9a-f]{64}\. The download is corrupt or was altered; nothing was installed\./
    )
    expect(main.stdout).not.toMatch(/\n\s+at /)
    const configDir = parseFileCommand(readFileSync(runner.files.state, 'utf8')).configDir
    expect(existsSync(path.join(configDir, 'cli-plugins', 'docker-buildx'))).toBe(false)
    expect(existsSync(path.join(runner.env.RUNNER_TOOL_CACHE, 'docker-buildx'))).toBe(false)
    expect(readdirSync(runner.temp).filter(f => f.includes('buildx'))).toEqual([])
    expect(runnerConfig(runner.dockerConfig)).toEqual(before)
    expect(runner.post().exitCode).toBe(0)
  })

  it('buildx: auto (the default) on a runner without buildx builds with docker build and downloads nothing', () => {
    const runner = runnerWithoutBuildx()
    const count = requests().length
    const main = runner.main({
      ...inputsFor(env, 'built-classic'),
      'buildx-download-url': baseUrl()
    })
    expect(main.exitCode).toBe(0)
    // The engine's built-in BuildKit where the docker CLI has it (before 23.0), else the classic
    // builder with a notice (e2e/build-step.test.ts runs the BuildKit case on purpose).
    expect(main.stdout).toMatch(
      /\(docker build with BuildKit\)|::notice::Building with the classic builder[^\n]*\n[\s\S]*\(docker build, classic builder\)/
    )
    expect(requests().length).toBe(count)
    expect(runner.post().exitCode).toBe(0)
  })
})
