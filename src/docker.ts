/**
 * The docker CLI, run with the action's own config directory. Every argument is a separate argv
 * entry (no shell), the token travels on stdin only, and a failing command is reported with
 * docker's own last error line.
 */
import * as exec from '@actions/exec'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { DockerCommandError } from './errors.js'

export interface ExecResult {
  exitCode: number
  stdout: string
  stderr: string
}
export type ExecFn = (
  command: string,
  args: string[],
  options: exec.ExecOptions
) => Promise<ExecResult>

export interface BuildRequest {
  context: string
  file: string
  tags: string[]
  buildArgs: string[]
  labels: string[]
  target: string
  pull: boolean
  noCache: boolean
}

/** A buildx build for `platforms`, which buildx pushes itself (the image store cannot hold it). */
export interface PlatformBuildRequest extends BuildRequest {
  platforms: string[]
  /**
   * Pushed as `name` (IMAGE:TAG; IMAGE alone when by digest: no tag at all), or only built (the
   * build is checked, nothing is stored).
   */
  output: { push: true; name: string; byDigest: boolean } | { push: false }
  /** --provenance value: false, true, mode=min, mode=max. */
  provenance: string
  sbom: boolean
  /** KEY=VALUE annotations of the index (given only when the result is an index). */
  indexAnnotations: string[]
}

/** What buildx wrote to --metadata-file about the pushed image. */
export interface BuildxResult {
  /** The pushed manifest or index (containerimage.digest); undefined when nothing was pushed. */
  digest?: string
  /** The image config (single platform only). */
  configDigest?: string
}

/** Arguments of a `docker buildx build` for `platforms`, in order. */
export function platformBuildArgs(req: PlatformBuildRequest, metadataFile: string): string[] {
  const args = ['buildx', 'build', '--platform', req.platforms.join(',')]
  args.push(`--provenance=${req.provenance}`, `--sbom=${req.sbom}`)
  if (req.output.push) {
    const byDigest = req.output.byDigest ? ',push-by-digest=true,name-canonical=true' : ''
    args.push('--output', `type=image,name=${req.output.name}${byDigest},push=true`)
  } else {
    args.push('--output', 'type=cacheonly')
  }
  args.push('--metadata-file', metadataFile)
  if (req.file) args.push('--file', req.file)
  for (const arg of req.buildArgs) args.push('--build-arg', arg)
  for (const label of req.labels) args.push('--label', label)
  for (const annotation of req.indexAnnotations) args.push('--annotation', `index:${annotation}`)
  if (req.target) args.push('--target', req.target)
  if (req.pull) args.push('--pull')
  if (req.noCache) args.push('--no-cache')
  args.push(req.context)
  return args
}

/** Docker's last meaningful error line: the last non-empty line of stderr, else of stdout. */
export function lastErrorLine(stderr: string, stdout: string): string {
  for (const text of [stderr, stdout]) {
    const lines = text
      .split(/\r?\n/)
      .map(l => l.trim())
      .filter(l => l !== '')
    if (lines.length) return lines[lines.length - 1]
  }
  return ''
}

/** Build arguments, in order. `builder` is 'buildx' when the plugin is present. */
export function buildArgs(
  req: BuildRequest,
  builder: 'buildx' | 'classic',
  iidFile: string
): string[] {
  const args = builder === 'buildx' ? ['buildx', 'build', '--load'] : ['build']
  for (const tag of req.tags) args.push('--tag', tag)
  if (req.file) args.push('--file', req.file)
  for (const arg of req.buildArgs) args.push('--build-arg', arg)
  for (const label of req.labels) args.push('--label', label)
  if (req.target) args.push('--target', req.target)
  if (req.pull) args.push('--pull')
  if (req.noCache) args.push('--no-cache')
  args.push('--iidfile', iidFile)
  args.push(req.context)
  return args
}

export class Docker {
  private readonly env: Record<string, string>

  constructor(
    configDir: string,
    private readonly execFn: ExecFn = exec.getExecOutput,
    baseEnv: Record<string, string | undefined> = process.env
  ) {
    const env: Record<string, string> = {}
    for (const [k, v] of Object.entries(baseEnv)) if (v !== undefined) env[k] = v
    env.DOCKER_CONFIG = configDir
    this.env = env
  }

  /** Runs docker; throws DockerCommandError on a non-zero exit. */
  async run(
    args: string[],
    options: { input?: Buffer; silent?: boolean } = {}
  ): Promise<ExecResult> {
    const result = await this.execFn('docker', args, {
      env: this.env,
      input: options.input,
      silent: options.silent ?? false,
      ignoreReturnCode: true
    })
    if (result.exitCode !== 0) {
      throw new DockerCommandError(
        args.slice(0, args[0] === 'buildx' ? 2 : 1).join(' '),
        result.exitCode,
        lastErrorLine(result.stderr, result.stdout)
      )
    }
    return result
  }

  /** Whether the buildx plugin answers; never rejects (a missing docker surfaces at login). */
  async hasBuildx(): Promise<boolean> {
    return (await this.buildxVersion()) !== undefined
  }

  /**
   * What `docker buildx version` prints, or undefined when docker finds no buildx plugin. Never
   * rejects (a missing docker surfaces at login).
   */
  async buildxVersion(): Promise<string | undefined> {
    try {
      const result = await this.execFn('docker', ['buildx', 'version'], {
        env: this.env,
        silent: true,
        ignoreReturnCode: true
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

  /** Builds and tags the image; returns the local image ID. */
  async build(req: BuildRequest, builder: 'buildx' | 'classic'): Promise<string> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'publish-container-iid-'))
    const iidFile = path.join(dir, 'iid')
    try {
      await this.run(buildArgs(req, builder, iidFile))
      return readFileSync(iidFile, 'utf8').trim()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }

  /** Builds for several platforms with buildx, which pushes the result itself. */
  async buildPlatforms(req: PlatformBuildRequest): Promise<BuildxResult> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'publish-container-metadata-'))
    const file = path.join(dir, 'metadata.json')
    try {
      await this.run(platformBuildArgs(req, file))
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

  /** `docker save -o FILE IMAGE`: the image, its config and layers, as a tar file. */
  async save(image: string, file: string): Promise<void> {
    await this.run(['save', '--output', file, image])
  }

  /** The engine's version (`docker version`), e.g. 20.10.24. */
  async serverVersion(): Promise<string> {
    const result = await this.run(['version', '--format', '{{.Server.Version}}'], { silent: true })
    return result.stdout.trim()
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
      silent: true,
      ignoreReturnCode: true
    })
    if (result.exitCode === 0) return result.stdout.trim()
    if (/no such image/i.test(result.stderr + result.stdout)) return undefined
    throw new DockerCommandError(
      'image inspect',
      result.exitCode,
      lastErrorLine(result.stderr, result.stdout)
    )
  }

  /** `docker tag SOURCE TARGET`. */
  async tag(source: string, target: string): Promise<void> {
    await this.run(['tag', source, target])
  }
}
