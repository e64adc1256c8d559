/**
 * Runs the bundled dist/index.js the way the GitHub runner does: INPUT_* variables, the
 * GITHUB_OUTPUT / GITHUB_STATE / GITHUB_STEP_SUMMARY files, then the post step with STATE_*.
 * Needs the engine and registry of scripts/e2e-env.sh (scripts/test.sh starts them).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { createServer, type AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import { pack } from 'tar-stream'
import { RegistryClient } from '../../src/registry/client.js'
import { fixtureEnv, type EventFixtureName } from '../fixtures/events.js'
import {
  ROOT,
  actionInputs,
  makeRunnerDirs,
  parseFileCommand,
  runStep,
  runnerEnv,
  withInputs,
  withState
} from '../support/action-runner.js'
import { removeAfterFile, tempDir } from '../support/temp-dirs.js'
import { OCI_GZIP_LAYER, ociManifestOf, sha256Of } from '../support/oci.js'

// The runner simulation itself lives in ../support/action-runner.js (the bench uses it too).
export { ROOT, actionInputs, parseFileCommand }
const DIST = path.join(ROOT, 'dist', 'index.js')
/** The post step's own bundle (action.yml runs.post). */
const POST = path.join(ROOT, 'dist', 'post', 'index.js')
/**
 * The Node.js that runs dist/index.js: the runner's (action.yml says node24), installed by
 * scripts/test.sh as E2E_NODE; else the one running the tests.
 */
export const ACTION_NODE = process.env.E2E_NODE || process.execPath
/** The engine's docker CLI plugins (buildx of the modern engine of scripts/e2e-env.sh), if any. */
const CLI_PLUGINS = process.env.E2E_DOCKER_CLI_PLUGINS

export interface E2EEnv {
  dockerHost: string
  registry: string
  user: string
  password: string
  baseImage: string
}

/** A registry of the test environment, with credentials that may push. */
export interface TestRegistry {
  mode: 'htpasswd' | 'token'
  registry: string
  user: string
  password: string
}

/** The running engine and registry; fails loudly (never skips) when they are not there. */
export function e2eEnv(): E2EEnv {
  const need = [
    'DOCKER_HOST',
    'E2E_REGISTRY',
    'E2E_REGISTRY_USER',
    'E2E_REGISTRY_PASSWORD',
    'E2E_BASE_IMAGE'
  ]
  const missing = need.filter(n => !process.env[n])
  if (missing.length) {
    throw new Error(
      `end-to-end tests need ${missing.join(', ')}: run them through 'npm test' (scripts/test.sh), ` +
        'or \'source "$(scripts/e2e-env.sh start)"\' first'
    )
  }
  return {
    dockerHost: process.env.DOCKER_HOST!,
    registry: process.env.E2E_REGISTRY!,
    user: process.env.E2E_REGISTRY_USER!,
    password: process.env.E2E_REGISTRY_PASSWORD!,
    baseImage: process.env.E2E_BASE_IMAGE!
  }
}

/** The running engine and registry, and a docker client of the test's own logged in to it. */
export function e2eClient(): { env: E2EEnv; client: ReturnType<typeof clientDocker> } {
  const env = e2eEnv()
  return { env, client: clientDocker(env) }
}

/** A fresh hex word (`bytes` random bytes), for names and content no other test uses. */
export function nonce(bytes = 8): string {
  return randomBytes(bytes).toString('hex')
}

/** Both registries: htpasswd (Basic) and token auth behind the ghcr.io-like token server. */
export function testRegistries(): TestRegistry[] {
  const env = e2eEnv()
  const need = (n: string): string => {
    if (!process.env[n]) throw new Error(`${n} is not set: run the e2e tests through 'npm test'`)
    return process.env[n]!
  }
  return [
    { mode: 'htpasswd', registry: env.registry, user: env.user, password: env.password },
    {
      mode: 'token',
      registry: need('E2E_TOKEN_REGISTRY'),
      user: need('E2E_TOKEN_WRITE_USER'),
      password: need('E2E_TOKEN_WRITE_TOKEN')
    }
  ]
}

/**
 * A fresh runner: workspace, RUNNER_TEMP, HOME (with its own ~/.docker), the file commands, and the
 * context of one event (GITHUB_* and the payload at GITHUB_EVENT_PATH) from __tests__/fixtures/events.
 */
export class Runner {
  private readonly dirs = makeRunnerDirs({ prefix: 'e2e-runner-', cliPlugins: CLI_PLUGINS })
  readonly root = this.dirs.root
  readonly workspace = this.dirs.workspace
  readonly temp = this.dirs.temp
  readonly home = this.dirs.home
  readonly dockerConfig = this.dirs.dockerConfig
  readonly files = this.dirs.files
  env: Record<string, string>

  constructor(
    event: EventFixtureName = 'push-default-branch',
    extraEnv: Record<string, string> = {}
  ) {
    removeAfterFile(this.root)
    this.env = runnerEnv(this.dirs, {
      GITHUB_REPOSITORY: 'Octo-Org/Hello-World',
      GITHUB_REPOSITORY_OWNER: 'Octo-Org',
      GITHUB_ACTOR: 'octocat',
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_API_URL: 'https://api.github.com',
      ...fixtureEnv(event, this.root),
      ...extraEnv
    })
  }

  write(relative: string, content: string): void {
    const file = path.join(this.workspace, relative)
    mkdirSync(path.dirname(file), { recursive: true })
    writeFileSync(file, content)
  }

  /**
   * The main step, with action.yml's defaults for inputs that are not given, as the runner passes
   * them: `${{ github.actor }}` is GITHUB_ACTOR; the token has no default here (tests pass one).
   */
  main(inputs: Record<string, string>): StepResult {
    return this.step(this.inputEnv(inputs))
  }

  /**
   * The main step without blocking the event loop, for tests whose servers (proxies, fake APIs)
   * live in the test process. stdout and stderr together, and how long it took.
   */
  mainAsync(
    inputs: Record<string, string>,
    extraEnv: Record<string, string> = {}
  ): Promise<{ code: number; out: string; ms: number }> {
    const env = { ...this.inputEnv(inputs), ...extraEnv }
    return runStep(ACTION_NODE, DIST, { cwd: this.workspace, env }).then(r => ({
      code: r.code,
      out: r.out,
      ms: r.ms
    }))
  }

  /**
   * The main step started in a process group of its own (as the runner starts a step), for tests
   * that signal it: stdout and stderr together in `output()`.
   */
  startMain(
    inputs: Record<string, string>,
    extraEnv: Record<string, string> = {}
  ): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
    const env = { ...this.inputEnv(inputs), ...extraEnv }
    const child = spawn(ACTION_NODE, [DIST], { cwd: this.workspace, env, detached: true })
    let out = ''
    child.stdout!.on('data', d => (out += d))
    child.stderr!.on('data', d => (out += d))
    const exited = new Promise<number | null>(resolve => child.on('close', code => resolve(code)))
    return { child, output: () => out, exited }
  }

  /** The runner's environment with INPUT_* for `inputs` over action.yml's defaults. */
  private inputEnv(inputs: Record<string, string>): Record<string, string> {
    return withInputs(this.env, inputs)
  }

  /**
   * The post step: STATE_* from what the main step saved; `inputs` as the runner gives them to
   * the post step too (INPUT_* of the same step), when a test needs them there.
   */
  post(inputs?: Record<string, string>): StepResult {
    return this.step(withState(inputs ? this.inputEnv(inputs) : this.env, this.files.state), POST)
  }

  private step(env: Record<string, string>, entry = DIST): StepResult {
    const r = spawnSync(ACTION_NODE, [entry], {
      cwd: this.workspace,
      env,
      encoding: 'utf8',
      timeout: 240_000
    })
    return {
      exitCode: r.status ?? -1,
      stdout: r.stdout,
      stderr: r.stderr,
      outputs: parseFileCommand(readFileSync(this.files.output, 'utf8')),
      summary: readFileSync(this.files.summary, 'utf8')
    }
  }
}

export interface StepResult {
  exitCode: number
  stdout: string
  stderr: string
  outputs: Record<string, string>
  summary: string
}

/** Runs a command, returning its output; throws with stderr when it fails. */
export function sh(
  command: string,
  args: string[],
  options: { input?: string; env?: Record<string, string> } = {}
): string {
  const r = spawnSync(command, args, {
    encoding: 'utf8',
    input: options.input,
    env: { ...process.env, ...options.env },
    timeout: 240_000
  })
  if (r.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${r.status}): ${r.stderr}`)
  return r.stdout
}

/** A docker CLI with its own config dir (a separate "client" that checks what the action did). */
export function clientDocker(
  env: Pick<E2EEnv, 'registry' | 'user' | 'password'>
): ((args: string[], input?: string) => string) & { config: string } {
  const config = tempDir('e2e-client-docker-')
  if (CLI_PLUGINS)
    writeFileSync(
      path.join(config, 'config.json'),
      JSON.stringify({ cliPluginsExtraDirs: [CLI_PLUGINS] })
    )
  sh('docker', ['login', env.registry, '--username', env.user, '--password-stdin'], {
    input: env.password,
    env: { DOCKER_CONFIG: config }
  })
  return Object.assign(
    (args: string[], input?: string) =>
      sh('docker', args, { input, env: { DOCKER_CONFIG: config } }),
    { config }
  )
}

/**
 * Whether a build of the action is pushed by BuildKit on this engine (produce/way.ts): buildx's
 * docker driver on the containerd store. Elsewhere the engine pushes it (the classic store:
 * enginePushesBuilds) or, without buildx, the action uploads it.
 */
export const buildKitPushes =
  process.env.E2E_ENGINE === 'modern' && process.env.E2E_IMAGE_STORE === 'containerd'

/**
 * Whether a build of the action with default inputs is pushed by the engine, the action writing
 * the OCI manifest over it (produce/way.ts): buildx's docker driver on the classic store.
 */
export const enginePushesBuilds =
  process.env.E2E_ENGINE === 'modern' && process.env.E2E_IMAGE_STORE === 'classic'

/**
 * The config digest of the image a build step published, from its `imageid` output: a build
 * BuildKit pushed outputs its config's digest (buildx's containerimage.config.digest, as
 * docker/build-push-action does), while a loaded one outputs the local image ID, whose config
 * `docker save` tells.
 */
export function builtConfig(imageid: string): string {
  return buildKitPushes ? imageid : configDigest(imageid)
}

/**
 * The local references to remove before pulling a build back: the image ID where the action
 * loaded the build (it removes every tag), else the tags BuildKit stored it under.
 */
export function localBuild(imageid: string, references: string[]): string[] {
  return buildKitPushes ? references : [imageid]
}

/**
 * The digest of a local image's config, from the manifest.json `docker save` writes (Config is
 * `<hex>.json` before Engine 25, `blobs/sha256/<hex>` since): what a registry manifest of the
 * image names as its config, on every engine and store. The image ID is that digest on the
 * classic store only; on the containerd store it is the digest of the image's manifest, or of
 * its index (buildx's default provenance attestation makes one of a single-platform build).
 */
export function configDigest(reference: string): string {
  const json = sh('sh', ['-c', 'docker save "$1" | tar -xOf - manifest.json', 'sh', reference])
  const [entry] = JSON.parse(json) as { Config: string }[]
  return `sha256:${path.basename(entry.Config).replace(/\.json$/, '')}`
}

/**
 * What makes a local image the same image on any store (where image IDs differ): its platform,
 * layers (diff_ids), config (Cmd, Env, Labels, ...) and creation time, as `docker image inspect`
 * shows them.
 */
export function imageIdentity(
  client: (args: string[]) => string,
  reference: string
): Record<string, unknown> {
  // One JSON value a line: compact JSON has no raw newline.
  const format = ['.Os', '.Architecture', '.RootFS.Layers', '.Config', '.Created']
    .map(field => `{{json ${field}}}`)
    .join('\n')
  const [os, architecture, layers, config, created] = client([
    'image',
    'inspect',
    '--format',
    format,
    reference
  ])
    .trim()
    .split('\n')
    .map(line => JSON.parse(line) as unknown)
  return { os, architecture, layers, config, created }
}

/** A loopback port where nothing listens (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise(resolve => server.close(resolve))
  return port
}

/** `skopeo inspect` of a reference on the (plain-HTTP, loopback) test registry. */
export function skopeoInspect(
  env: Pick<E2EEnv, 'user' | 'password'>,
  reference: string,
  raw = false
): string {
  return sh('skopeo', [
    'inspect',
    ...(raw ? ['--raw'] : []),
    '--tls-verify=false',
    '--creds',
    `${env.user}:${env.password}`,
    `docker://${reference}`
  ])
}

/**
 * What an index lists, sorted: `os/architecture` of each image, `attestation` for each of buildx's
 * attestation manifests.
 */
export function indexEntries(index: {
  manifests: {
    platform?: { os?: string; architecture?: string }
    annotations?: Record<string, string>
  }[]
}): string[] {
  return index.manifests
    .map(m =>
      m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
        ? 'attestation'
        : `${m.platform?.os}/${m.platform?.architecture}`
    )
    .sort()
}

/** The owner part of every image name the harness's runners publish (from Octo-Org/Hello-World). */
export const OWNER = 'octo-org'

/**
 * A test's image and runner: the repository `NAME-<nonce>`, its full name on `reg`, and a runner
 * whose workspace builds an image that prints `word` (runnableProject).
 */
export function runnableImage(
  reg: Pick<E2EEnv, 'registry'>,
  name: string,
  wordPrefix: string
): { imageName: string; image: string; runner: Runner; word: string } {
  const imageName = `${name}-${nonce()}`
  const runner = new Runner()
  const word = runnableProject(runner, wordPrefix)
  return { imageName, image: `${reg.registry}/${OWNER}/${imageName}`, runner, word }
}

/** The inputs that log in to a test registry: registry, token, username. */
export function loginInputs(
  reg: Pick<E2EEnv, 'registry' | 'user' | 'password'>
): Record<string, string> {
  return { registry: reg.registry, token: reg.password, username: reg.user }
}

/** The inputs that reach a test registry: registry, token, username, and the image name. */
export function inputsFor(
  reg: Pick<E2EEnv, 'registry' | 'user' | 'password'>,
  imageName: string
): Record<string, string> {
  return { ...loginInputs(reg), 'image-name': imageName }
}

/** What skopeo (a real client) lists; an empty list when the repository has no tag. */
export function skopeoTags(reg: Pick<E2EEnv, 'user' | 'password'>, image: string): string[] {
  try {
    const out = sh('skopeo', [
      'list-tags',
      '--tls-verify=false',
      '--creds',
      `${reg.user}:${reg.password}`,
      `docker://${image}`
    ])
    return (JSON.parse(out) as { Tags?: string[] | null }).Tags ?? []
  } catch (error) {
    // distribution answers 404 NAME_UNKNOWN for the tag list of a repository that has no tag
    if (/name unknown|NAME_UNKNOWN|404/i.test(String(error))) return []
    throw error
  }
}

/** Every file under `dir` whose content contains `needle` (symlinks not followed). */
export function filesContaining(dir: string, needle: string): string[] {
  const r = spawnSync('grep', ['-rlF', '--no-messages', '--', needle, dir], { encoding: 'utf8' })
  return r.stdout.split('\n').filter(Boolean)
}

/**
 * Starts a fixture server (a script in __tests__/e2e/fixtures that prints "listening PORT") as a
 * separate process, so it keeps serving while the harness runs the action synchronously.
 */
export async function startFixture(
  script: string,
  args: string[]
): Promise<{ port: number; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, '__tests__/e2e/fixtures', script), ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit']
    }
  )
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const m = /listening (\d+)/.exec(chunk.toString())
      if (m) resolve(Number(m[1]))
    })
    child.on('exit', code => reject(new Error(`${script} exited (${code})`)))
  })
  return { port, stop: () => child.kill() }
}

/**
 * The bytes of an OCI image manifest naming `config` and one `layer` (both as bytes), for images
 * made through the registry API.
 */
export function ociManifest(
  config: Buffer,
  layer: Buffer,
  layerMediaType = OCI_GZIP_LAYER
): Buffer {
  return ociManifestOf(config, [
    { mediaType: layerMediaType, digest: sha256Of(layer), size: layer.length }
  ])
}

/** A layer: a tar holding one file. */
export async function layerTar(name: string, content: string): Promise<Buffer> {
  const p = pack()
  p.entry({ name }, content)
  p.finalize()
  const chunks: Buffer[] = []
  for await (const c of p) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/**
 * A one-layer image whose config names `platform` (os, architecture, …), pushed by digest through
 * the registry API, as a runner of that platform would: its digest and sizes.
 */
export async function pushImageByDigest(
  reg: Pick<E2EEnv, 'registry' | 'user' | 'password'>,
  repository: string,
  platform: Record<string, unknown>
): Promise<{ digest: string; layerSize: number; manifestSize: number }> {
  const client = new RegistryClient({
    registry: reg.registry,
    username: reg.user,
    password: reg.password
  })
  const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex')
  const tar = await layerTar('hello.txt', `hello ${randomUUID()}\n`)
  const layer = gzipSync(tar)
  const config = Buffer.from(
    JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: [sha(tar)] }, config: {} })
  )
  await client.uploadBlob(repository, layer)
  await client.uploadBlob(repository, config)
  const manifest = ociManifest(config, layer)
  const digest = sha(manifest)
  await client.putManifest(
    repository,
    digest,
    manifest,
    'application/vnd.oci.image.manifest.v1+json'
  )
  return { digest, layerSize: layer.length, manifestSize: manifest.length }
}

/**
 * A `docker` first on the runner's PATH: a shell script whose body `script(calls)` writes, `calls`
 * being a file under the runner it may record its arguments to. Returns that file.
 */
export function fakeDocker(runner: Runner, script: (calls: string) => string): string {
  const bin = path.join(runner.root, 'bin')
  mkdirSync(bin)
  const calls = path.join(runner.root, 'docker-calls')
  writeFileSync(path.join(bin, 'docker'), `#!/bin/sh\n${script(calls)}`)
  chmodSync(path.join(bin, 'docker'), 0o755)
  runner.env.PATH = `${bin}:${runner.env.PATH}`
  return calls
}

/** A docker CLI with the built-in BuildKit (older than 23.0): on PATH, else Debian's. */
function buildKitCli(): string {
  const candidates = [
    ...(process.env.PATH ?? '').split(':').map(d => path.join(d, 'docker')),
    '/usr/bin/docker'
  ].filter(f => existsSync(f))
  for (const cli of candidates) {
    const r = spawnSync(cli, ['version', '--format', '{{.Client.Version}}'], { encoding: 'utf8' })
    const major = Number(/^(\d+)\./.exec(r.stdout.trim())?.[1] ?? 99)
    if (major >= 18 && major < 23) return cli
  }
  throw new Error(
    `no docker CLI older than 23.0 found (${candidates.join(', ')}): the built-in BuildKit tests need one (Debian's docker.io)`
  )
}

/**
 * A runner whose PATH starts with a docker CLI that has the engine's built-in BuildKit (newer ones
 * run BuildKit only through buildx): the Debian docker.io CLI of the classic engine.
 */
export function buildKitRunner(): Runner {
  const runner = new Runner()
  const bin = path.join(runner.root, 'cli')
  mkdirSync(bin)
  symlinkSync(buildKitCli(), path.join(bin, 'docker'))
  runner.env.PATH = `${bin}:${runner.env.PATH}`
  return runner
}

/** A workspace whose Dockerfile builds a fresh layer (a RUN step) on the engine's base image. */
export function freshLayerProject(runner: Runner): void {
  runner.write('Dockerfile', `FROM ${e2eEnv().baseImage}\nRUN echo ${nonce()} > /n\n`)
}

/**
 * A workspace whose image runs: FROM the engine's base image, a RUN step (the engine's bridge
 * network and runc), and a file with a fresh word (`prefix-<nonce>`) that `docker run` prints back.
 * Returns the word.
 */
export function runnableProject(runner: Runner, prefix: string): string {
  const word = `${prefix}-${randomUUID().slice(0, 8)}`
  runner.write(
    'Dockerfile',
    `FROM ${e2eEnv().baseImage}\nCOPY word.txt /word.txt\nRUN cp /word.txt /hello.txt\nCMD ["cat", "/hello.txt"]\n`
  )
  runner.write('word.txt', `${word}\n`)
  return word
}
