import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as path from 'node:path'
import { parse } from 'yaml'
import { DEFAULT_BUILDX_VERSION } from '../../../src/plan/inputs.js'
import {
  assetName,
  chooseBuilder,
  installBuildx,
  ownPluginsDir,
  parseChecksums,
  type BuildxSettings
} from '../../../src/docker/buildx.js'
import { createActionConfig } from '../../../src/docker/config.js'
import { builtInBuildKit, Docker, type ExecFn } from '../../../src/docker/cli.js'
import { parseBuildx } from '../../../src/plan/inputs.js'
import { tempDir } from '../../support/temp-dirs.js'

const ROOT = path.resolve(
  import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname),
  '../../..'
)
const tmp = tempDir

describe('buildx release assets (docker/buildx layout)', () => {
  it.each([
    ['linux', 'x64', '7', 'buildx-v0.29.1.linux-amd64'],
    ['linux', 'arm64', '7', 'buildx-v0.29.1.linux-arm64'],
    ['linux', 'arm', '7', 'buildx-v0.29.1.linux-arm-v7'],
    ['linux', 'arm', '6', 'buildx-v0.29.1.linux-arm-v6'],
    ['linux', 'ppc64', '7', 'buildx-v0.29.1.linux-ppc64le'],
    ['win32', 'x64', '7', 'buildx-v0.29.1.windows-amd64.exe']
  ])('%s/%s (arm v%s) → %s', (platform, arch, armVersion, name) => {
    expect(assetName('v0.29.1', platform, arch, armVersion)).toBe(name)
  })

  it('refuses macOS, whose assets docker/buildx leaves out of checksums.txt', () => {
    expect(() => assetName('v0.29.1', 'darwin', 'arm64')).toThrow(
      /no checksums for its macOS assets.*set buildx: false/
    )
  })

  it('reads sha256sum lines, binary (*NAME) and text mode', () => {
    const a = 'a'.repeat(64)
    const b = 'B'.repeat(64)
    const sums = parseChecksums(
      `${a} *buildx-v1.0.0.linux-amd64\n${b}  buildx-v1.0.0.linux-arm64\nnoise\n`
    )
    expect([...sums]).toEqual([
      ['buildx-v1.0.0.linux-amd64', a],
      ['buildx-v1.0.0.linux-arm64', 'b'.repeat(64)]
    ])
  })

  it('pins the same default version as action.yml', () => {
    const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8'))
    expect(action.inputs['buildx-version'].default).toBe(DEFAULT_BUILDX_VERSION)
  })
})

describe('buildx inputs', () => {
  const read = (values: Record<string, string>) => parseBuildx(name => values[name] ?? '')
  it('defaults to auto, the pinned version and the docker/buildx releases', () => {
    expect(read({})).toEqual({
      mode: 'auto',
      version: DEFAULT_BUILDX_VERSION,
      baseUrl: 'https://github.com/docker/buildx/releases/download'
    })
    expect(read({ buildx: 'TRUE' }).mode).toBe('true')
  })
  it.each([
    [{ buildx: 'install' }, /buildx 'install' is not one of auto, true, false/],
    [{ 'buildx-version': '0.29.1' }, /is not a docker\/buildx release tag/],
    [{ 'buildx-version': 'v1/../x' }, /is not a docker\/buildx release tag/],
    [{ 'buildx-download-url': 'ftp://mirror/buildx' }, /is not an http\(s\) URL/],
    [{ 'buildx-download-url': 'https://mirror/x?token=1' }, /is not an http\(s\) URL/]
  ])('refuses %j', (values, message) => {
    expect(() => read(values)).toThrow(message)
  })
})

describe('the action’s own cli-plugins folder', () => {
  it('replaces the link to the runner’s folder by a folder of links to each plugin', () => {
    const runner = tmp('runner-docker-')
    mkdirSync(path.join(runner, 'cli-plugins'))
    writeFileSync(path.join(runner, 'cli-plugins', 'docker-compose'), '#!/bin/sh\n')
    const { dir } = createActionConfig('ghcr.io', runner, tmp('action-temp-'))
    expect(lstatSync(path.join(dir, 'cli-plugins')).isSymbolicLink()).toBe(true)
    const plugins = ownPluginsDir(dir)
    expect(lstatSync(plugins).isDirectory()).toBe(true)
    expect(lstatSync(path.join(plugins, 'docker-compose')).isSymbolicLink()).toBe(true)
    writeFileSync(path.join(plugins, 'docker-buildx'), 'x')
    expect(readdirSync(path.join(runner, 'cli-plugins'))).toEqual(['docker-compose'])
    expect(ownPluginsDir(dir)).toBe(plugins) // idempotent
  })
  it('creates the folder when the runner has none', () => {
    const { dir } = createActionConfig('ghcr.io', tmp('runner-docker-'), tmp('action-temp-'))
    expect(lstatSync(ownPluginsDir(dir)).isDirectory()).toBe(true)
  })
})

describe('choosing the builder', () => {
  const settings = (mode: BuildxSettings['mode']): BuildxSettings => ({
    mode,
    version: 'v0.29.1',
    baseUrl: 'http://127.0.0.1:1/never'
  })
  /** A docker whose `buildx version` answers or not, and whose `docker version` says `versions`. */
  const docker = (hasBuildx: boolean, versions = '28.2.2|20.10.24+dfsg1|linux') => {
    const calls: string[][] = []
    const fn: ExecFn = async (_c, args) => {
      calls.push(args)
      if (args[0] === 'version') return { exitCode: 0, stdout: versions + '\n', stderr: '' }
      if (!hasBuildx) {
        // What the docker CLI says of a plugin it does not have.
        return { exitCode: 1, stdout: '', stderr: "docker: 'buildx' is not a docker command.\n" }
      }
      return { exitCode: 0, stdout: 'github.com/docker/buildx v0.29.1', stderr: '' }
    }
    return { calls, docker: new Docker('/c', fn) }
  }
  const OLD_CLI = '20.10.24+dfsg1|20.10.24+dfsg1|linux'

  const cases: [BuildxSettings['mode'], boolean, string, string][] = [
    ['auto', true, OLD_CLI, 'buildx'],
    ['auto', false, OLD_CLI, 'buildkit'],
    ['auto', false, '28.2.2|20.10.24|linux', 'classic'],
    ['true', true, OLD_CLI, 'buildx'],
    ['false', true, OLD_CLI, 'buildkit'],
    ['false', true, '28.2.2|28.2.2|linux', 'classic']
  ]
  it.each(cases)(
    'buildx: %s, runner has buildx: %s, docker version %s → %s, nothing installed',
    async (mode, has, versions, want) => {
      const d = docker(has, versions)
      expect(await chooseBuilder(d.docker, settings(mode), '/nonexistent', '/nonexistent')).toBe(
        want
      )
      if (mode === 'false') expect(d.calls.some(c => c[0] === 'buildx')).toBe(false)
    }
  )

  it('false refuses a build that needs buildx', async () => {
    await expect(
      chooseBuilder(docker(true).docker, settings('false'), '/c', '/t', {
        buildx: 'platforms linux/arm64'
      })
    ).rejects.toThrow('platforms linux/arm64 needs buildx, but buildx is false')
  })

  it('auto without buildx refuses a build that needs it, naming buildx: true and the matrix way', async () => {
    const d = docker(false)
    await expect(
      chooseBuilder(d.docker, settings('auto'), '/c', '/t', {
        buildx: 'platforms linux/amd64,linux/arm64'
      })
    ).rejects.toThrow(
      /^platforms linux\/amd64,linux\/arm64 needs the docker buildx plugin, which this runner does not have: set buildx: true to install it .* push-by-digest: true .* merge-digests/
    )
    expect(d.calls).toEqual([['buildx', 'inspect']]) // asked, nothing installed
  })

  it('auto without buildx refuses build-contexts, naming buildx: true', async () => {
    await expect(
      chooseBuilder(docker(false, OLD_CLI).docker, settings('auto'), '/c', '/t', {
        buildx: 'build-contexts'
      })
    ).rejects.toThrow(/^build-contexts needs the docker buildx plugin.*set buildx: true/)
  })

  it('secrets without buildx use the built-in BuildKit, and fail clearly where there is none', async () => {
    const needs = { buildKit: 'secrets' }
    expect(
      await chooseBuilder(docker(false, OLD_CLI).docker, settings('auto'), '/c', '/t', needs)
    ).toBe('buildkit')
    await expect(
      chooseBuilder(docker(false).docker, settings('auto'), '/c', '/t', needs)
    ).rejects.toThrow(
      /^secrets needs BuildKit, .*the docker CLI 28.2.2 runs BuildKit only through the buildx plugin.*set buildx: true/
    )
  })

  it('auto with buildx builds a build that needs it with buildx', async () => {
    expect(
      await chooseBuilder(docker(true).docker, settings('auto'), '/c', '/t', {
        buildx: 'platforms x'
      })
    ).toBe('buildx')
  })
})

describe('the built-in BuildKit, from docker version', () => {
  it.each([
    ['20.10.24+dfsg1|20.10.24+dfsg1|linux', true],
    ['18.09.0|18.09.0|linux', true],
    ['22.06.0-beta.0|24.0.7|linux', true],
    ['23.0.0|23.0.0|linux', false],
    ['28.2.2|20.10.24|linux', false],
    ['18.06.1-ce|18.06.1-ce|linux', false],
    ['20.10.0|18.06.0|linux', false],
    ['20.10.0|20.10.0|windows', false],
    ['', false]
  ])('%s → %s', (versions, available) => {
    expect(builtInBuildKit(versions).available).toBe(available)
  })
})

describe('installBuildx against a local release server', () => {
  const version = 'v0.99.0'
  const asset = assetName(version)
  const good = Buffer.from('#!/bin/sh\necho stand-in\n')
  const served = new Map<string, Buffer>()
  const requests: string[] = []
  let server: Server
  let baseUrl = ''

  beforeAll(async () => {
    const sum = createHash('sha256').update(good).digest('hex')
    served.set(`/dl/${version}/${asset}`, good)
    served.set(`/dl/${version}/checksums.txt`, Buffer.from(`${sum} *${asset}\n`))
    // v0.99.1: the asset served is not the one checksums.txt describes.
    served.set(`/dl/v0.99.1/${assetName('v0.99.1')}`, Buffer.from('tampered\n'))
    served.set(`/dl/v0.99.1/checksums.txt`, Buffer.from(`${sum} *${assetName('v0.99.1')}\n`))
    served.set(`/dl/v0.99.2/checksums.txt`, Buffer.from(`${sum} *buildx-v0.99.2.other-os\n`))
    server = createServer((req, res) => {
      requests.push(req.url ?? '')
      const body = served.get(req.url ?? '')
      res.writeHead(body ? 200 : 404)
      res.end(body)
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dl`
    process.env.RUNNER_TOOL_CACHE = tmp('tool-cache-')
    process.env.RUNNER_TEMP = tmp('runner-temp-')
  })
  afterAll(() => {
    server.close()
  })

  const runnerTemp = (): string => process.env.RUNNER_TEMP!
  const config = () => createActionConfig('ghcr.io', tmp('runner-docker-'), tmp('action-temp-')).dir

  it('downloads, verifies, caches and installs; the second time it comes from the cache', async () => {
    const dir = config()
    const plugin = await installBuildx({ mode: 'true', version, baseUrl }, dir, runnerTemp())
    expect(plugin).toBe(path.join(dir, 'cli-plugins', 'docker-buildx'))
    expect(readFileSync(plugin)).toEqual(good)
    expect(lstatSync(plugin).mode & 0o111).not.toBe(0)
    const cache = path.join(process.env.RUNNER_TOOL_CACHE!, 'docker-buildx', '0.99.0', process.arch)
    expect(readFileSync(path.join(cache, 'docker-buildx'))).toEqual(good)
    expect(requests).toEqual([`/dl/${version}/checksums.txt`, `/dl/${version}/${asset}`])

    requests.length = 0
    const again = config()
    await installBuildx({ mode: 'true', version, baseUrl }, again, runnerTemp())
    expect(requests).toEqual([])
    expect(readFileSync(path.join(again, 'cli-plugins', 'docker-buildx'))).toEqual(good)
  })

  it('a corrupted download fails with a clear message, and nothing is cached or installed', async () => {
    const dir = config()
    await expect(
      installBuildx({ mode: 'true', version: 'v0.99.1', baseUrl }, dir, runnerTemp())
    ).rejects.toThrow(
      /^checksum mismatch for http:\/\/127\.0\.0\.1:\d+\/dl\/v0\.99\.1\/buildx-v0\.99\.1\.\S+: expected sha256 [0-9a-f]{64} \(checksums\.txt\), got [0-9a-f]{64}\. .*nothing was installed/
    )
    expect(existsSync(path.join(process.env.RUNNER_TOOL_CACHE!, 'docker-buildx', '0.99.1'))).toBe(
      false
    )
    expect(existsSync(path.join(dir, 'cli-plugins', 'docker-buildx'))).toBe(false)
    expect(readdirSync(process.env.RUNNER_TEMP!)).toEqual([])
  })

  it('refuses an asset checksums.txt does not list, and a release that is not there', async () => {
    await expect(
      installBuildx({ mode: 'true', version: 'v0.99.2', baseUrl }, config(), runnerTemp())
    ).rejects.toThrow(
      /checksums.txt lists no checksum for buildx-v0\.99\.2\.\S+, so it cannot be verified/
    )
    await expect(
      installBuildx({ mode: 'true', version: 'v0.98.0', baseUrl }, config(), runnerTemp())
    ).rejects.toThrow(
      /could not download http:\/\/127\.0\.0\.1:\d+\/dl\/v0\.98\.0\/checksums\.txt \(HTTP 404\)/
    )
  })
})
