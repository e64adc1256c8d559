/**
 * The argv and environment of `docker build` and `docker buildx build`: every value a separate
 * entry, no shell. Values that must stay out of argv (readable by any local user in
 * /proc/PID/cmdline, and printed in the `[command]` log line) travel in the child's environment:
 * a build-arg is `--build-arg NAME` with NAME=value in the environment, and a secret is a file
 * (`src=`) or a variable (`env=`).
 */
import { attr, cacheString, type CacheEntry } from './cache-syntax.js'

/**
 * buildx when present; `buildkit`: the engine's built-in BuildKit (`docker build` with
 * DOCKER_BUILDKIT=1, Docker CLI 18.09 to 22.x); `classic`: the legacy builder.
 */
export type Builder = 'buildx' | 'buildkit' | 'classic'

/** A secret as docker gets it: from a file, or from a variable of docker's environment. */
export type SecretSource = { id: string; file: string } | { id: string; env: string }

export interface BuildRequest {
  context: string
  file: string
  tags: string[]
  /** KEY=VALUE: the value goes to docker's environment, never argv. */
  buildArgs: string[]
  labels: string[]
  target: string
  pull: boolean
  noCache: boolean
  secrets?: SecretSource[]
  ssh?: string[]
  cacheFrom?: CacheEntry[]
  cacheTo?: CacheEntry[]
  buildContexts?: string[]
  /**
   * The buildx builder named by the builder input; '' or absent for the selected one. A builder of
   * the docker driver is a docker context: buildx refuses `--builder` for another context than the
   * current one ("use `docker --context=NAME buildx`"), so it is `docker --context NAME` then.
   */
  builder?: string
  /** The named builder is a docker context (the docker driver). */
  builderIsContext?: boolean
}

/**
 * A buildx build that BuildKit pushes itself (the image exporter with push=true): for `platforms`
 * (the image store may not hold it) and for one platform (no --load, no docker save).
 */
export interface PushBuildRequest extends BuildRequest {
  /** --platform; empty: the builder's own platform (a single-platform build). */
  platforms: string[]
  /** Also --load into the engine (a second exporter; buildx 0.13+). */
  load?: boolean
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
  /** false: Docker v2 schema 2 manifests and lists (media-types: docker); OCI otherwise. */
  ociMediaTypes?: boolean
  /**
   * false: the engine's image store keeps the pushed image without unpacking it (unpack=false;
   * the docker driver on the containerd store; honoured from Docker 29.1: docs/facts/buildkit.md).
   */
  unpack?: boolean
  /** --annotation values as buildx takes them (TYPE:KEY=VALUE). */
  annotations?: string[]
}

/** What buildx wrote to --metadata-file about the pushed image. */
export interface BuildxResult {
  /** The pushed manifest or index (containerimage.digest); undefined when nothing was pushed. */
  digest?: string
  /** The image config (single platform only). */
  configDigest?: string
}

/** The cache service variables of a GitHub runner that a type=gha cache uses. */
export interface CacheService {
  ACTIONS_CACHE_URL?: string
  ACTIONS_RESULTS_URL?: string
}

/**
 * The flags shared by both builds: build-args by name, secrets, ssh, cache, build contexts.
 * buildx reads ACTIONS_RUNTIME_TOKEN from its environment itself when a type=gha entry has no
 * token: the token is never put in argv; the service URLs are added as url/url_v2 when not given.
 */
export function commonFlags(
  req: BuildRequest,
  builder: Builder,
  service: CacheService = {}
): string[] {
  const args: string[] = []
  for (const arg of req.buildArgs) args.push('--build-arg', arg.slice(0, arg.indexOf('=')))
  for (const secret of req.secrets ?? []) {
    args.push(
      '--secret',
      'file' in secret ? `id=${secret.id},src=${secret.file}` : `id=${secret.id},env=${secret.env}`
    )
  }
  for (const ssh of req.ssh ?? []) args.push('--ssh', ssh)
  for (const entry of req.cacheFrom ?? []) {
    args.push(
      '--cache-from',
      builder === 'buildx' ? buildxCache(entry, service) : attr(entry, 'ref')!
    )
  }
  if (builder === 'buildx') {
    for (const entry of req.cacheTo ?? []) args.push('--cache-to', buildxCache(entry, service))
  } else if ((req.cacheTo ?? []).some(e => e.type === 'inline')) {
    // docker build writes an inline cache when asked by this build argument (value in the env).
    args.push('--build-arg', 'BUILDKIT_INLINE_CACHE')
  }
  for (const context of req.buildContexts ?? []) args.push('--build-context', context)
  return args
}

function buildxCache(entry: CacheEntry, service: CacheService): string {
  if (entry.type !== 'gha') return cacheString(entry)
  const attrs = [...entry.attrs]
  if (!attr(entry, 'url') && service.ACTIONS_CACHE_URL)
    attrs.push(['url', service.ACTIONS_CACHE_URL])
  if (!attr(entry, 'url_v2') && service.ACTIONS_RESULTS_URL) {
    attrs.push(['url_v2', service.ACTIONS_RESULTS_URL])
  }
  return cacheString({ type: 'gha', attrs })
}

/** What the build's environment adds to docker's: the build-args' values, and the builder's switch. */
export function buildEnvironment(req: BuildRequest, builder: Builder): Record<string, string> {
  const env: Record<string, string> = {}
  for (const arg of req.buildArgs)
    env[arg.slice(0, arg.indexOf('='))] = arg.slice(arg.indexOf('=') + 1)
  if (builder === 'buildkit') env.DOCKER_BUILDKIT = '1'
  if (builder !== 'buildx' && (req.cacheTo ?? []).some(e => e.type === 'inline')) {
    env.BUILDKIT_INLINE_CACHE = '1'
  }
  return env
}

/** `buildx` with the named builder: `--builder NAME`, or `--context NAME buildx` for a context. */
export function builderArgs(req: Pick<BuildRequest, 'builder' | 'builderIsContext'>): string[] {
  if (!req.builder) return ['buildx']
  return req.builderIsContext
    ? ['--context', req.builder, 'buildx']
    : ['buildx', '--builder', req.builder]
}

/**
 * Arguments of a `docker buildx build` that BuildKit pushes, in order. The media types are always
 * named (oci-mediatypes=true|false): the exporter's default differs between drivers and versions
 * (docs/facts/buildkit.md).
 */
export function buildxPushArgs(
  req: PushBuildRequest,
  metadataFile: string,
  service: CacheService = {}
): string[] {
  const args = [...builderArgs(req), 'build']
  if (req.platforms.length) args.push('--platform', req.platforms.join(','))
  args.push(`--provenance=${req.provenance}`, `--sbom=${req.sbom}`)
  if (req.output.push) {
    const byDigest = req.output.byDigest ? ',push-by-digest=true,name-canonical=true' : ''
    const types = `,oci-mediatypes=${req.ociMediaTypes !== false}`
    const unpack = req.unpack === false ? ',unpack=false' : ''
    args.push(
      '--output',
      `type=image,name=${req.output.name}${byDigest}${types}${unpack},push=true`
    )
  } else if (!req.load) {
    args.push('--output', 'type=cacheonly')
  }
  if (req.load) args.push('--load')
  args.push('--metadata-file', metadataFile)
  if (req.file) args.push('--file', req.file)
  args.push(...commonFlags(req, 'buildx', service))
  for (const label of req.labels) args.push('--label', label)
  for (const annotation of req.indexAnnotations) args.push('--annotation', `index:${annotation}`)
  for (const annotation of req.annotations ?? []) args.push('--annotation', annotation)
  if (req.target) args.push('--target', req.target)
  if (req.pull) args.push('--pull')
  if (req.noCache) args.push('--no-cache')
  args.push(req.context)
  return args
}

/** Build arguments, in order. */
export function buildArgs(
  req: BuildRequest,
  builder: Builder,
  iidFile: string,
  service: CacheService = {}
): string[] {
  const args = builder === 'buildx' ? [...builderArgs(req), 'build', '--load'] : ['build']
  for (const tag of req.tags) args.push('--tag', tag)
  if (req.file) args.push('--file', req.file)
  args.push(...commonFlags(req, builder, service))
  for (const label of req.labels) args.push('--label', label)
  if (req.target) args.push('--target', req.target)
  if (req.pull) args.push('--pull')
  if (req.noCache) args.push('--no-cache')
  args.push('--iidfile', iidFile)
  args.push(req.context)
  return args
}
