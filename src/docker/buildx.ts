/**
 * The buildx CLI plugin: which builder to use, and installing buildx when a build needs it and the
 * runner has none.
 *
 * Installing: download the release asset for this OS/arch and the release's checksums.txt from the
 * docker/buildx releases (or a mirror with the same layout), check the asset's sha256 against it,
 * keep it in the runner's tool cache (@actions/tool-cache), and copy it into the `cli-plugins`
 * folder of the action's own Docker config directory — never into the runner's ~/.docker. A
 * mismatch fails before anything is cached or installed.
 *
 * Release layout (docker/buildx, hack/hash-files): BASE/vX.Y.Z/buildx-vX.Y.Z.OS-ARCH[.exe] and
 * BASE/vX.Y.Z/checksums.txt, written by `sha256sum -b buildx-*` ("HEX *NAME" lines), with the
 * darwin assets left out of it.
 */
import * as core from '@actions/core'
import * as tc from '@actions/tool-cache'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  copyFileSync,
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync
} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { MATRIX_WAY } from '../util/advice.js'
import { UserError } from '../util/errors.js'
import type { Builder } from './build-args.js'
import type { Docker } from './cli.js'
import { outside } from '../util/text.js'

/** `auto`: buildx when the runner has it (installed only when the build needs it); `true`: always
 * buildx, installed when missing; `false`: the classic builder. */
export type BuildxMode = 'auto' | 'true' | 'false'

export interface BuildxSettings {
  mode: BuildxMode
  version: string
  baseUrl: string
}

/** The release asset for this OS and CPU, e.g. buildx-v0.29.1.linux-amd64. */
export function assetName(
  version: string,
  platform: string = process.platform,
  arch: string = process.arch,
  armVersion: string = String(
    (process.config.variables as unknown as Record<string, unknown>).arm_version ?? '7'
  )
): string {
  const oses: Record<string, string> = { linux: 'linux', win32: 'windows', freebsd: 'freebsd' }
  const arches: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: `arm-v${armVersion === '6' ? '6' : '7'}`,
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64'
  }
  const osName = oses[platform]
  const archName = arches[arch]
  if (!osName || !archName) {
    const why =
      platform === 'darwin'
        ? 'docker/buildx publishes no checksums for its macOS assets'
        : `there is no buildx release asset for ${platform}/${arch}`
    throw new UserError(
      `buildx cannot be installed on this runner: ${why}. Install buildx on the runner (e.g. with Docker Desktop), or set buildx: false.`
    )
  }
  return `buildx-${version}.${osName}-${archName}${osName === 'windows' ? '.exe' : ''}`
}

/** `HEX  NAME` / `HEX *NAME` lines (sha256sum, text or binary mode) → NAME → hex. */
export function parseChecksums(text: string): Map<string, string> {
  const sums = new Map<string, string>()
  for (const line of text.split(/\r?\n/)) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(\S.*?)\s*$/.exec(line)
    if (m) sums.set(m[2], m[1].toLowerCase())
  }
  return sums
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/**
 * Makes the action's `cli-plugins` a real folder. createActionConfig links the runner's whole
 * folder so its plugins keep working; installing into that link would write into the runner's
 * ~/.docker. So the link is replaced by a folder that links each of the runner's plugins.
 */
export function ownPluginsDir(configDir: string): string {
  const dir = path.join(configDir, 'cli-plugins')
  if (existsSync(dir) || isLink(dir)) {
    if (!lstatSync(dir).isSymbolicLink()) return dir
    const target = path.resolve(configDir, readlinkSync(dir))
    unlinkSync(dir)
    mkdirSync(dir)
    if (existsSync(target)) {
      for (const entry of readdirSync(target)) {
        symlinkSync(path.join(target, entry), path.join(dir, entry))
      }
    }
    return dir
  }
  mkdirSync(dir)
  return dir
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink()
  } catch {
    return false
  }
}

const TOOL = 'docker-buildx'

/**
 * Puts buildx VERSION into CONFIG_DIR/cli-plugins: from the tool cache when it is there, else
 * downloaded and checked against the release's checksums.txt first.
 */
export async function installBuildx(
  settings: BuildxSettings,
  configDir: string,
  temp: string
): Promise<string> {
  return withToolCache(() => install(settings, configDir, temp))
}

/**
 * @actions/tool-cache keeps its tools in RUNNER_TOOL_CACHE, which every runner sets; a local run
 * (no runner) gets one in the OS temp folder for the time of `fn`, and the variable is removed after.
 */
async function withToolCache<T>(fn: () => Promise<T>): Promise<T> {
  if (process.env.RUNNER_TOOL_CACHE) return fn()
  process.env.RUNNER_TOOL_CACHE = path.join(os.tmpdir(), 'publish-container-tool-cache')
  try {
    return await fn()
  } finally {
    delete process.env.RUNNER_TOOL_CACHE
  }
}

async function install(settings: BuildxSettings, configDir: string, temp: string): Promise<string> {
  const asset = assetName(settings.version)
  const binary = process.platform === 'win32' ? `${TOOL}.exe` : TOOL
  let cached = tc.find(TOOL, settings.version, process.arch)
  if (cached) {
    core.info(`buildx ${settings.version} found in the tool cache (${cached}).`)
  } else {
    const base = `${settings.baseUrl.replace(/\/+$/, '')}/${settings.version}`
    const work = mkdtempSync(path.join(temp, 'publish-container-buildx-'))
    try {
      const sums = parseChecksums(
        readFileSync(
          await download(`${base}/checksums.txt`, path.join(work, 'checksums.txt')),
          'utf8'
        )
      )
      const expected = sums.get(asset)
      if (!expected) {
        throw new UserError(
          `${base}/checksums.txt lists no checksum for ${asset}, so it cannot be verified: nothing was installed. ` +
            'Check buildx-version and buildx-download-url.'
        )
      }
      const file = await download(`${base}/${asset}`, path.join(work, asset))
      const actual = await sha256File(file)
      if (actual !== expected) {
        throw new UserError(
          `checksum mismatch for ${base}/${asset}: expected sha256 ${expected} (checksums.txt), got ${actual}. ` +
            'The download is corrupt or was altered; nothing was installed. Re-run the job, or check buildx-download-url.'
        )
      }
      core.info(`Downloaded ${asset}; sha256 ${actual} matches checksums.txt.`)
      cached = await tc.cacheFile(file, binary, TOOL, settings.version, process.arch)
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  }
  const plugin = path.join(ownPluginsDir(configDir), binary)
  rmSync(plugin, { force: true }) // a link to the runner's own plugin of that name, if any
  copyFileSync(path.join(cached, binary), plugin)
  chmodSync(plugin, 0o755)
  return plugin
}

async function download(url: string, dest: string): Promise<string> {
  try {
    return await tc.downloadTool(url, dest)
  } catch (error) {
    const status = (error as { httpStatusCode?: number }).httpStatusCode
    throw new UserError(
      `could not download ${url} (${status ? `HTTP ${status}` : (error as Error).message}): ` +
        'check buildx-version (a docker/buildx release tag such as v0.29.1) and buildx-download-url.'
    )
  }
}

/** What a build asks of its builder (rules.ts tells them from the inputs). */
export interface BuilderNeeds {
  /** What only buildx does, for messages ("platforms linux/amd64,linux/arm64"); none if ''. */
  buildx?: string
  /** What needs BuildKit (buildx or the engine's built-in one): "secrets", "ssh", …; none if ''. */
  buildKit?: string
}

/**
 * The builder for this build: buildx when the runner has it (or `buildx: true` installs it);
 * else the engine's built-in BuildKit (`docker build` with DOCKER_BUILDKIT=1, where the docker
 * CLI still has it); else the classic builder, with a notice (each label is then a build step).
 * `needs.buildx` names what only buildx does when the build uses it (a multi-platform build:
 * "platforms linux/amd64,linux/arm64"); such a build fails clearly without buildx under
 * `buildx: auto`, and `buildx: true` installs it. `needs.buildKit` fails clearly where neither
 * buildx nor the built-in BuildKit is there.
 */
export async function chooseBuilder(
  docker: Docker,
  settings: BuildxSettings,
  configDir: string,
  temp: string,
  needs: BuilderNeeds = {},
  /** An answer to whether buildx is there already under way (probed while docker logs in). */
  probe?: Promise<boolean>
): Promise<Builder> {
  if (settings.mode === 'false') {
    if (needs.buildx) {
      throw new UserError(
        `${needs.buildx} needs buildx, but buildx is false: set buildx to auto or true.`
      )
    }
    return withoutBuildx(docker, needs.buildKit)
  }
  if (await (probe ?? docker.hasBuildx())) return 'buildx'
  if (settings.mode === 'auto' && !needs.buildx) return withoutBuildx(docker, needs.buildKit)
  if (settings.mode === 'auto') {
    throw new UserError(
      `${needs.buildx} needs the docker buildx plugin, which this runner does not have: set buildx: true ` +
        `to install it` +
        (/^platforms/.test(needs.buildx ?? '')
          ? ` (a multi-platform build also needs QEMU and a builder that can build for ` +
            `every platform, e.g. from docker/setup-qemu-action and docker/setup-buildx-action), ${MATRIX_WAY}.`
          : ', or add docker/setup-buildx-action before this step.')
    )
  }
  await core.group(
    `Install buildx ${settings.version} (the runner has no buildx plugin)`,
    async () => {
      const plugin = await installBuildx(settings, configDir, temp)
      core.info(`Installed ${plugin}`)
      docker.forgetBuilders()
      const version = await docker.buildxVersion()
      if (!version) {
        throw new UserError(
          `buildx ${settings.version} was installed as ${plugin}, but docker does not run it as a plugin (docker buildx version failed).`
        )
      }
      core.info(`docker buildx version: ${outside(version)}`)
    }
  )
  return 'buildx'
}

/** No buildx: the engine's built-in BuildKit where there is one, else the classic builder. */
async function withoutBuildx(docker: Docker, needsBuildKit?: string): Promise<Builder> {
  const { available, why } = await docker.builtInBuildKit()
  if (available) {
    core.info(`No buildx: building with the engine's built-in BuildKit (${why}).`)
    return 'buildkit'
  }
  if (needsBuildKit) {
    throw new UserError(
      `${needsBuildKit} needs BuildKit, which this runner has neither as the buildx plugin nor ` +
        `built in (${why}): set buildx: true to install buildx.`
    )
  }
  core.notice(
    `Building with the classic builder: this runner has no buildx plugin and no built-in ` +
      `BuildKit (${why}). Each label is then a build step of its own, and secrets, ssh and ` +
      'cache exports are not available: set buildx: true to install buildx.'
  )
  return 'classic'
}
