/**
 * The docker CLI, run with the action's own config directory. Every argument is a separate argv
 * entry (no shell), the token travels on stdin only, and a failing command is reported with
 * docker's own last error line.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import * as path from 'node:path'
import type { Readable } from 'node:stream'
import {
  buildArgs,
  buildEnvironment,
  buildxPushArgs,
  type BuildRequest,
  type Builder,
  type BuildxResult,
  type CacheService,
  type PushBuildRequest
} from './build-args.js'
import { dockerEnvironment } from './env.js'
import { DockerCommandError, lastErrorLine } from './errors.js'
import { execCommand, type ExecFn, type ExecResult } from './exec.js'

export type { ExecFn, ExecResult } from './exec.js'

export class Docker {
  private readonly env: Record<string, string>
  /**
   * Facts of the engine and builders that do not change during a step, asked once: the main step
   * starts asking while docker logs in (main.ts), the build and the route take the answers.
   */
  private readonly builders = new Map<string, Promise<BuilderFacts>>()
  private readonly stores = new Map<string, Promise<'containerd' | 'classic'>>()

  constructor(
    /** The action's own Docker config folder (the post step removes it, also after a kill). */
    private readonly configDir: string,
    private readonly execFn: ExecFn = execCommand,
    baseEnv: Record<string, string | undefined> = process.env
  ) {
    this.env = dockerEnvironment(configDir, baseEnv)
  }

  /** Runs docker; throws DockerCommandError on a non-zero exit. */
  async run(
    args: string[],
    options: { input?: Buffer; silent?: boolean; env?: Record<string, string> } = {}
  ): Promise<ExecResult> {
    const result = await this.execFn('docker', args, {
      env: options.env ? { ...this.env, ...options.env } : this.env,
      input: options.input,
      silent: options.silent ?? false
    })
    if (result.exitCode !== 0) {
      throw new DockerCommandError(
        commandName(args),
        result.exitCode,
        lastErrorLine(result.stderr, result.stdout)
      )
    }
    return result
  }

  /**
   * Whether the buildx plugin answers; never rejects (a missing docker surfaces at login). Told by
   * the `docker buildx inspect` the build needs anyway (one plugin run, not two: each costs the
   * CLI's start and the plugin's), else by `docker buildx version`.
   */
  async hasBuildx(builder = ''): Promise<boolean> {
    try {
      return (await this.inspectBuilder(builder)).buildx
    } catch {
      return (await this.buildxVersion()) !== undefined
    }
  }

  /**
   * What `docker buildx version` prints, or undefined when docker finds no buildx plugin. Never
   * rejects (a missing docker surfaces at login).
   */
  async buildxVersion(): Promise<string | undefined> {
    try {
      const result = await this.execFn('docker', ['buildx', 'version'], {
        env: this.env,
        silent: true
      })
      return result.exitCode === 0 ? result.stdout.trim() : undefined
    } catch {
      return undefined
    }
  }

  /** `docker login REGISTRY --username USER --password-stdin`; the token never enters argv. */
  async login(registry: string, username: string, token: string): Promise<void> {
    await this.run(['login', registry, '--username', username, '--password-stdin'], {
      input: Buffer.from(token, 'utf8')
    })
  }

  async logout(registry: string): Promise<void> {
    await this.run(['logout', registry])
  }

  /**
   * Builds and tags the image; returns the local image ID. The values of `secretValues` reach
   * docker in its own environment only (`--secret id=ID,env=VAR`), never in a file
   * (docs/facts/content-trust.md).
   */
  async build(req: BuildRequest, builder: Builder, options: BuildOptions = {}): Promise<string> {
    // In the action's config folder, which the post step removes even after a killed step.
    const dir = mkdtempSync(path.join(this.configDir, 'build-'))
    const iidFile = path.join(dir, 'iid')
    try {
      const full = withSecretEnv(req, options.secretValues ?? [])
      await this.run(buildArgs(full.req, builder, iidFile, options.service), {
        env: { ...buildEnvironment(full.req, builder), ...full.env }
      })
      return readFileSync(iidFile, 'utf8').trim()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }

  /** Builds with buildx, whose BuildKit pushes the result itself (buildxPushArgs). */
  async buildAndPush(req: PushBuildRequest, options: BuildOptions = {}): Promise<BuildxResult> {
    const dir = mkdtempSync(path.join(this.configDir, 'metadata-'))
    const file = path.join(dir, 'metadata.json')
    try {
      const full = withSecretEnv(req, options.secretValues ?? [])
      await this.run(buildxPushArgs(full.req, file, options.service), {
        env: { ...buildEnvironment(full.req, 'buildx'), ...full.env }
      })
      let metadata: Record<string, unknown> = {}
      try {
        metadata = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
      } catch {
        // no metadata file (nothing pushed, or an old buildx): the registry is asked instead
      }
      const text = (key: string): string | undefined =>
        typeof metadata[key] === 'string' ? (metadata[key] as string) : undefined
      return {
        digest: text('containerimage.digest'),
        configDigest: text('containerimage.config.digest')
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }

  /**
   * The driver of a buildx builder (`docker buildx inspect [NAME]`: docker, docker-container,
   * kubernetes, remote), or undefined when buildx knows no builder of that name. Throws
   * DockerCommandError for any other failure.
   */
  async builderDriver(name: string): Promise<string | undefined> {
    return (await this.inspectBuilder(name)).driver
  }

  /**
   * The image store a docker-driver builder writes to: told by its BuildKit worker's labels, as
   * buildx itself tells it (docs/facts/buildkit.md), else asked of the engine (`docker info`) of
   * docker context `context`.
   */
  async builderStore(name: string, context = ''): Promise<'containerd' | 'classic'> {
    const facts = await this.inspectBuilder(name).catch(() => undefined)
    return facts?.store ?? this.imageStore(context)
  }

  /**
   * What one `docker buildx inspect [NAME]` tells, asked once per name (the main step starts it
   * while docker logs in). Throws DockerCommandError for a failure that is neither a missing
   * plugin nor an unknown builder.
   */
  /** Forgets what buildx said (after buildx: true installed the plugin). */
  forgetBuilders(): void {
    this.builders.clear()
  }

  inspectBuilder(name: string): Promise<BuilderFacts> {
    let facts = this.builders.get(name)
    if (!facts) this.builders.set(name, (facts = this.askBuilder(name)))
    return facts
  }

  private async askBuilder(name: string): Promise<BuilderFacts> {
    const args = ['buildx', 'inspect', ...(name ? [name] : [])]
    // (buildx inspect NAME answers for a docker context's builder too, unlike --builder.)
    const result = await this.execFn('docker', args, { env: this.env, silent: true })
    if (result.exitCode === 0) return builderFactsOf(result.stdout)
    const said = result.stderr + result.stdout
    if (/no builder .*found|not found/i.test(said)) return { buildx: true }
    if (/unknown command|is not a docker command/i.test(said)) return { buildx: false }
    throw new DockerCommandError(
      'buildx inspect',
      result.exitCode,
      lastErrorLine(result.stderr, result.stdout)
    )
  }

  /** The names of the buildx builders (`docker buildx ls`: one line per builder, then its nodes). */
  async builderNames(): Promise<string[]> {
    const result = await this.run(['buildx', 'ls'], { silent: true })
    return builderNames(result.stdout)
  }

  /**
   * `docker save IMAGE` to its standard output, read as it comes (no tar on disk). `done` settles
   * when docker exits: a failure carries docker's last error line.
   */
  saveStream(image: string): { stdout: Readable; done: Promise<void> } {
    process.stdout.write(`[command]docker save ${image}\n`)
    const child = spawn('docker', ['save', image], {
      env: this.env,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 65536) stderr += chunk.toString()
    })
    const done = new Promise<void>((resolve, reject) => {
      child.on('error', reject)
      child.on('close', code =>
        code === 0
          ? resolve()
          : reject(new DockerCommandError('save', code ?? -1, lastErrorLine(stderr, '')))
      )
    })
    done.catch(() => undefined)
    return { stdout: child.stdout, done }
  }

  /**
   * What the push needs to know of a local image before saving it: its ID (the config's digest in
   * the classic store), its layers' diff_ids, the references it was pulled by, its platform; and,
   * for the choice of route (publish/route.ts), the bytes the engine stores for it (the packed
   * content of one platform in the containerd store: docs/facts/engine-push.md) and the media type
   * of what it stores (Engine API 1.48 and later only).
   */
  inspectForPush(image: string): Promise<LocalImageFacts> {
    return this.once(`inspect ${image}`, image, () => this.askForPush(image))
  }

  /**
   * An answer about `image` asked once per step when `image` is an image ID (`sha256:…`: what
   * it names never changes), so that it can be asked ahead (main.ts, while docker logs in).
   */
  private once<T>(key: string, image: string, ask: () => Promise<T>): Promise<T> {
    if (!image.startsWith('sha256:')) return ask()
    let answer = this.answers.get(key) as Promise<T> | undefined
    if (!answer) this.answers.set(key, (answer = ask()))
    return answer
  }

  private readonly answers = new Map<string, Promise<unknown>>()

  private async askForPush(image: string): Promise<LocalImageFacts> {
    const result = await this.run(['image', 'inspect', '--format', '{{json .}}', image], {
      silent: true
    })
    const data = JSON.parse(result.stdout) as {
      Id?: string
      RootFS?: { Layers?: string[] }
      RepoDigests?: string[]
      Os?: string
      Architecture?: string
      Variant?: string
      Size?: number
      Descriptor?: { mediaType?: string }
    }
    return {
      id: data.Id ?? '',
      diffIds: data.RootFS?.Layers ?? [],
      repoDigests: data.RepoDigests ?? [],
      os: data.Os ?? '',
      architecture: data.Architecture ?? '',
      variant: data.Variant || undefined,
      size: Number(data.Size) || 0,
      storedMediaType: data.Descriptor?.mediaType || undefined
    }
  }

  /**
   * Which image store the engine runs (`docker info` DriverStatus: the containerd snapshotter
   * names itself there; docs/facts/engine-push.md), of docker context `context` when given.
   */
  imageStore(context = ''): Promise<'containerd' | 'classic'> {
    let store = this.stores.get(context)
    if (!store) this.stores.set(context, (store = this.askImageStore(context)))
    return store
  }

  private async askImageStore(context: string): Promise<'containerd' | 'classic'> {
    const args = ['info', '--format', '{{json .DriverStatus}}']
    const result = await this.run(context ? ['--context', context, ...args] : args, {
      silent: true
    })
    return imageStoreOf(result.stdout)
  }

  /**
   * The unpacked size of a local image's layers (`docker history`: each layer's size on disk), or
   * 0 when the engine does not say. Never rejects.
   */
  unpackedSize(image: string): Promise<number> {
    return this.once(`history ${image}`, image, () => this.askUnpackedSize(image))
  }

  private async askUnpackedSize(image: string): Promise<number> {
    const args = ['history', '--no-trunc', '--human=false', '--format', '{{.Size}}', image]
    try {
      const result = await this.run(args, { silent: true })
      return result.stdout
        .split('\n')
        .map(line => Number(line.trim()) || 0)
        .reduce((sum, n) => sum + n, 0)
    } catch {
      return 0
    }
  }

  /**
   * `docker push REFERENCE` with the action's login; returns the digest docker reports for what it
   * pushed (its last "digest: sha256:…" line), undefined when it printed none.
   */
  async push(reference: string): Promise<string | undefined> {
    const result = await this.run(['push', reference])
    return pushedDigest(result.stdout)
  }

  /**
   * The local images pulled from `registry` (or pushed there): their repository@digest references
   * and layer diff_ids, for finding the base image another one was built on. At most `limit`
   * images are looked at. Never rejects: what cannot be listed is an empty list.
   */
  async imagesFrom(
    registry: string,
    limit = 200
  ): Promise<{ repoDigests: string[]; diffIds: string[] }[]> {
    try {
      const listed = await this.run(['image', 'ls', '--quiet', '--no-trunc'], { silent: true })
      const ids = [...new Set(listed.stdout.split('\n').map(l => l.trim()))].filter(Boolean)
      if (!ids.length) return []
      const format = '{{json .RepoDigests}}\t{{json .RootFS.Layers}}'
      const inspected = await this.run(
        ['image', 'inspect', '--format', format, ...ids.slice(0, limit)],
        { silent: true }
      )
      return inspected.stdout.split('\n').flatMap(line => {
        const [digests, layers] = line.split('\t')
        if (!layers) return []
        const repoDigests = ((JSON.parse(digests) as string[] | null) ?? []).filter(r =>
          r.startsWith(`${registry}/`)
        )
        const diffIds = (JSON.parse(layers) as string[] | null) ?? []
        return repoDigests.length && diffIds.length ? [{ repoDigests, diffIds }] : []
      })
    } catch {
      return []
    }
  }

  /**
   * Whether `docker build` can use the engine's built-in BuildKit (DOCKER_BUILDKIT=1): a Linux
   * engine of 18.09 or later, and a docker CLI of 18.09 to 22.x (from 23.0 on, the CLI runs
   * BuildKit only through the buildx plugin). Never rejects: `why` says what is missing.
   */
  async builtInBuildKit(): Promise<{ available: boolean; why: string }> {
    const format = '{{.Client.Version}}|{{.Server.Version}}|{{.Server.Os}}'
    let text = ''
    try {
      const result = await this.execFn('docker', ['version', '--format', format], {
        env: this.env,
        silent: true
      })
      text = result.stdout.trim()
    } catch {
      text = ''
    }
    return builtInBuildKit(text)
  }

  /**
   * `docker version` for the engine's version, as it came out (docker/engine.ts judges it): one
   * try, stopped after `timeoutMs`. Rejects only when docker cannot start (not installed).
   */
  async probeServer(timeoutMs: number): Promise<ExecResult> {
    return this.execFn('docker', ['version', '--format', '{{.Server.Version}}'], {
      env: this.env,
      silent: true,
      timeoutMs
    })
  }

  /** Platform and uncompressed size of a local image (`docker image inspect`). */
  async inspectImage(
    image: string
  ): Promise<{ os: string; architecture: string; variant?: string; size: number }> {
    const result = await this.run(['image', 'inspect', '--format', '{{json .}}', image], {
      silent: true
    })
    const data = JSON.parse(result.stdout) as {
      Os?: string
      Architecture?: string
      Variant?: string
      Size?: number
    }
    return {
      os: data.Os ?? '',
      architecture: data.Architecture ?? '',
      variant: data.Variant || undefined,
      size: Number(data.Size) || 0
    }
  }

  /**
   * The full ID (`sha256:…`) of a local image, given its ID or a reference; undefined when the
   * engine has no such image. Only looks locally: `docker image inspect` never pulls.
   */
  async localImageId(image: string): Promise<string | undefined> {
    const args = ['image', 'inspect', '--format', '{{.Id}}', image]
    const result = await this.execFn('docker', args, {
      env: this.env,
      silent: true
    })
    if (result.exitCode === 0) return result.stdout.trim()
    if (/no such image/i.test(result.stderr + result.stdout)) return undefined
    throw new DockerCommandError(
      'image inspect',
      result.exitCode,
      lastErrorLine(result.stderr, result.stdout)
    )
  }

  /**
   * `docker pull --quiet [--platform P] REFERENCE` with the action's login, out of the log; stopped
   * when `signal` aborts. Resolves with how it ended, never rejects for docker's own failures.
   */
  async pull(
    reference: string,
    platform: string | undefined,
    signal?: AbortSignal
  ): Promise<{ ok: boolean; detail: string }> {
    const args = ['pull', '--quiet', ...(platform ? ['--platform', platform] : []), reference]
    const result = await this.execFn('docker', args, { env: this.env, silent: true, signal })
    return {
      ok: result.exitCode === 0,
      detail: result.exitCode === 0 ? '' : lastErrorLine(result.stderr, result.stdout)
    }
  }

  /** `docker image rm REFERENCE`: untags it, and removes the image when nothing else names it. */
  async removeImage(reference: string): Promise<void> {
    await this.run(['image', 'rm', reference], { silent: true })
  }

  /** `docker tag SOURCE TARGET` (`silent`: its command line kept out of the log). */
  async tag(source: string, target: string, { silent = false } = {}): Promise<void> {
    await this.run(['tag', source, target], { silent })
  }
}

/** What inspectForPush tells of a local image. */
export interface LocalImageFacts {
  id: string
  diffIds: string[]
  repoDigests: string[]
  os: string
  architecture: string
  variant?: string
  /** `docker image inspect` Size: in the containerd store, the stored (packed) bytes. */
  size: number
  /** The stored manifest's or index's media type (Engine API 1.48+: Descriptor). */
  storedMediaType?: string
}

/** What `docker buildx inspect` tells of a builder. */
export interface BuilderFacts {
  /** The buildx plugin answered. */
  buildx: boolean
  /** The builder's driver; undefined when buildx knows no builder of that name. */
  driver?: string
  /** The docker driver's image store, when its worker's labels are shown. */
  store?: 'containerd' | 'classic'
}

/**
 * The facts in `docker buildx inspect`'s output (pure). The docker driver's BuildKit runs the
 * containerd image store when its worker carries the label
 * `org.mobyproject.buildkit.worker.snapshotter` (buildx's own test for the OCI exporter and cache
 * export: docs/facts/buildkit.md); without a Labels section (an older buildx) the store is not
 * told here.
 */
export function builderFactsOf(inspect: string): BuilderFacts {
  const driver = /^Driver:\s*(\S+)/m.exec(inspect)?.[1] ?? ''
  if (driver !== 'docker' || !/^Labels:/m.test(inspect)) return { buildx: true, driver }
  const containerd = /^\s*org\.mobyproject\.buildkit\.worker\.snapshotter:/m.test(inspect)
  return { buildx: true, driver, store: containerd ? 'containerd' : 'classic' }
}

/** The image store `docker info --format '{{json .DriverStatus}}'` describes (pure). */
export function imageStoreOf(driverStatus: string): 'containerd' | 'classic' {
  try {
    const pairs = JSON.parse(driverStatus) as unknown
    if (Array.isArray(pairs)) {
      for (const pair of pairs) {
        if (
          Array.isArray(pair) &&
          pair[0] === 'driver-type' &&
          pair[1] === 'io.containerd.snapshotter.v1'
        )
          return 'containerd'
      }
    }
  } catch {
    // no JSON: an engine that says nothing of a snapshotter runs the classic store
  }
  return 'classic'
}

/** The digest of `docker push`'s "TAG: digest: sha256:… size: N" line (the last one), if any. */
export function pushedDigest(output: string): string | undefined {
  const found = [...output.matchAll(/\bdigest: (sha256:[0-9a-f]{64})\b/g)]
  return found.length ? found[found.length - 1][1] : undefined
}

/** `buildx build` of `[--context X] buildx [--builder Y] build …`, `save` of `save …`. */
function commandName(args: string[]): string {
  const rest = args[0] === '--context' ? args.slice(2) : args
  if (rest[0] !== 'buildx') return rest[0] ?? ''
  return ['buildx', rest[rest[1] === '--builder' ? 3 : 1]].join(' ')
}

export interface BuildOptions {
  /** Secrets given by value (the `secrets` input): in docker's environment, for the build only. */
  secretValues?: { id: string; value: string }[]
  /** The runner's cache service, for type=gha entries. */
  service?: CacheService
}

/** Where the build's child finds the value of the `secrets` input's entry `i`. */
export const SECRET_VARIABLE_PREFIX = 'PUBLISH_CONTAINER_SECRET_'

/**
 * The request with each secret value read by docker from a variable of its environment (buildx and
 * the docker CLI's built-in BuildKit client both take `--secret id=ID,env=VAR`): no file.
 */
function withSecretEnv<T extends BuildRequest>(
  req: T,
  values: { id: string; value: string }[]
): { req: T; env: Record<string, string> } {
  if (!values.length) return { req, env: {} }
  const env: Record<string, string> = {}
  const sources = values.map(({ id, value }, i) => {
    env[`${SECRET_VARIABLE_PREFIX}${i}`] = value
    return { id, env: `${SECRET_VARIABLE_PREFIX}${i}` }
  })
  return { req: { ...req, secrets: [...sources, ...(req.secrets ?? [])] }, env }
}

/**
 * The builders of `docker buildx ls` (pure): its table has a header line, a line per builder
 * (NAME, `*` after the selected one) and indented lines (or, from buildx 0.14, ` \\_ ` lines)
 * for each builder's nodes.
 */
export function builderNames(table: string): string[] {
  const names: string[] = []
  for (const line of table.split(/\r?\n/).slice(1)) {
    if (!/^[A-Za-z0-9]/.test(line)) continue
    const name = line.split(/\s+/)[0].replace(/\*$/, '')
    if (name && !names.includes(name)) names.push(name)
  }
  return names
}

/** What `docker version --format 'CLIENT|SERVER|OS'` says about the built-in BuildKit (pure). */
export function builtInBuildKit(versions: string): { available: boolean; why: string } {
  const [client = '', server = '', os = ''] = versions.split('|')
  // Docker's versions are YY.MM (18.09, 20.10, 23.0): major and minor are enough.
  const at = (v: string): number | undefined => {
    const m = /^(\d+)\.(\d+)/.exec(v.trim())
    return m ? Number(m[1]) * 100 + Number(m[2]) : undefined
  }
  const c = at(client)
  const s = at(server)
  if (c === undefined || s === undefined) {
    return { available: false, why: 'docker version did not answer' }
  }
  if (c >= 2300) {
    return {
      available: false,
      why: `the docker CLI ${client} runs BuildKit only through the buildx plugin`
    }
  }
  if (c < 1809 || s < 1809) {
    return {
      available: false,
      why: `BuildKit needs Docker 18.09 or later (CLI ${client}, engine ${server})`
    }
  }
  if (os && os !== 'linux') {
    return { available: false, why: `the ${os} engine has no built-in BuildKit` }
  }
  return { available: true, why: `docker CLI ${client}, engine ${server}` }
}
