/**
 * Building the image from the context: a buildx build that BuildKit pushes itself (way.ts says
 * when), or one image built into the engine and tagged with every reference, for the action's
 * upload.
 */
import * as core from '@actions/core'
import * as path from 'node:path'
import type { BuildRequest, Builder, CacheService } from '../docker/build-args.js'
import type { BuildOptions, Docker } from '../docker/cli.js'
import { DockerCommandError, classifyDockerText } from '../docker/errors.js'
import { buildxAnnotations } from '../plan/build-options.js'
import type { ActionInputs } from '../plan/action-inputs.js'
import type { ImageNames } from '../plan/names.js'
import type { Plan } from '../plan/plan.js'
import { REVISION_LABEL } from '../plan/labels.js'
import type { BuildCache } from './cache-source.js'
import { prefetchLayers } from './prefetch.js'
import { DEFAULT_POLICY, withRetries, type RetryPolicy, type Verdict } from '../util/retry.js'

export interface LocalImage {
  imageId: string
  /** How the image got here, for the log and the job summary. */
  builder: string
}

/** Where the build runs: the engine, the action's Docker config, a temp folder. */
export interface BuildEnvironment {
  docker: Docker
  configDir: string
  temp: string
  /** An answer to `docker buildx version` already under way (probed while docker logs in). */
  buildxProbe?: Promise<boolean>
  /** The runner's cache service variables (type=gha); the token stays in docker's environment. */
  service?: CacheService
  /** The retries input, for a BuildKit push that fails transiently. */
  policy?: RetryPolicy
  /** The builder input names a docker context's builder (produce/way.ts). */
  builderIsContext?: boolean
  /** The `cache` input: sets cache-from / cache-to when the user gave none (cache-source.ts). */
  cache?: BuildCache
  /**
   * Fetch the cache source's layers into the engine beside the build (prefetch.ts): the docker
   * driver, on the image store named (way.ts: unpacksCacheHits).
   */
  prefetchCacheSource?: 'classic' | 'containerd'
  /** The one platform asked for (the platforms input), which the prefetch pulls. */
  platform?: string
  /**
   * The engine keeps the built image packed (unpack=false, and it honours that: produce/way.ts).
   * Otherwise it unpacks the whole image after the build, and containerd's unpacker skips what a
   * prefetch unpacked already, so the prefetch pays even when no step runs on the cached layers.
   */
  keepsPacked?: boolean
  /** The engine's version (produce/way.ts: whether it honours unpack=false). */
  engineVersion?: string
}

/**
 * Runs `build` with the build cache of the `cache` input set on `req` (cache-source.ts), and the
 * cache source's layers fetched into the engine beside it when the environment asks for it.
 */
async function withBuildCache<T>(
  env: BuildEnvironment,
  builder: Builder,
  req: BuildRequest,
  build: () => Promise<T>
): Promise<T> {
  await env.cache?.apply(builder, req)
  const store = env.prefetchCacheSource
  const source = store ? env.cache?.cacheSource() : undefined
  if (!store || !source) return build()
  const skipped = prefetchSkipped(store, env.keepsPacked ?? false, req.labels, source)
  if (skipped) {
    core.info(skipped)
    return build()
  }
  core.info(
    `Prefetch: docker pull ${source.reference}${env.platform ? ` (${env.platform})` : ''} ` +
      `beside the build, unless the engine has it (${PREFETCH_WHY[store]}).`
  )
  const prefetch = prefetchLayers(env.docker, source.reference, source.configs, env.platform)
  try {
    return await build()
  } finally {
    core.info(await prefetch.finish())
  }
}

/**
 * The log line when the prefetch is left out, else undefined: on the containerd store, when the
 * previous version was built from the commit this build labels (the user's revision label wins
 * over ours), and the engine keeps the result packed. That is most likely a rebuild of the same
 * context (a re-run, a release tag of a published commit): every step is cached, none extracts a
 * layer, and a pull beside the context would only slow it down. An engine that unpacks the
 * result (load: true, Docker before 29.1) takes the pulled layers for that unpacking, so the pull
 * pays there (docs/facts/build-cache.md).
 */
export function prefetchSkipped(
  store: 'classic' | 'containerd',
  keepsPacked: boolean,
  /** The build's KEY=VALUE labels, in the order given. */
  labels: string[],
  source: { reference: string; revisions: string[] }
): string | undefined {
  if (store !== 'containerd' || !keepsPacked) return undefined
  const revision = labels
    .filter(l => l.startsWith(`${REVISION_LABEL}=`))
    .map(l => l.slice(REVISION_LABEL.length + 1))
    .at(-1)
  if (!revision || !source.revisions.includes(revision)) return undefined
  return (
    `Prefetch: none, ${source.reference} was built from this commit (${revision}): when ` +
    'nothing changed, the containerd image store extracts no cached layer, and the engine keeps ' +
    'the result packed.'
  )
}

/** Why the prefetch pays, per image store (docs/facts/build-cache.md). */
const PREFETCH_WHY = {
  classic:
    'the docker driver on the classic image store unpacks cached layers into the engine before ' +
    'it uses them, once the context is sent',
  containerd:
    'the docker driver on the containerd image store extracts the cached layers a changed step ' +
    'is built on once the context is sent, unless the engine holds them unpacked'
} as const

const HOW: Record<Builder, string> = {
  buildx: 'docker buildx build --load',
  buildkit: 'docker build with BuildKit',
  classic: 'docker build, classic builder'
}

/** The parts of a build request every build shares; secret values are handed over separately. */
function request(
  inputs: ActionInputs,
  labels: string[],
  cwd: string,
  builderIsContext = false
): { req: BuildRequest; options: BuildOptions } {
  const { build } = inputs
  const secrets: NonNullable<BuildRequest['secrets']> = []
  const secretValues: { id: string; value: string }[] = []
  for (const s of build.secrets) {
    if (s.source === 'value') secretValues.push({ id: s.id, value: s.value })
    else if (s.source === 'file') secrets.push({ id: s.id, file: path.resolve(cwd, s.path) })
    else secrets.push({ id: s.id, env: s.variable })
  }
  return {
    req: {
      context: inputs.context,
      file: inputs.file,
      tags: [],
      buildArgs: inputs.buildArgs,
      labels,
      target: inputs.target,
      pull: inputs.pull,
      noCache: inputs.noCache,
      secrets,
      ssh: build.ssh,
      cacheFrom: build.cacheFrom,
      cacheTo: build.cacheTo,
      buildContexts: build.buildContexts,
      builder: inputs.builder,
      builderIsContext
    },
    options: { secretValues }
  }
}

/**
 * Builds the context into the engine with `builder` (chooseWay decided it): `docker buildx build
 * --load`, the engine's built-in BuildKit, or the classic builder.
 */
export async function buildImage(
  env: BuildEnvironment,
  builder: Builder,
  inputs: ActionInputs,
  names: ImageNames,
  /** Every label to set: the action's own and the user's (which win on the same key). */
  labels: string[],
  cwd = process.cwd()
): Promise<LocalImage> {
  const { docker, service, builderIsContext } = env
  const { req, options } = request(inputs, labels, cwd, builderIsContext)
  const imageId = await withBuildCache(env, builder, req, () =>
    core.group(`Build ${names.image} (${HOW[builder]})`, () =>
      docker.build({ ...req, tags: names.references }, builder, { ...options, service })
    )
  )
  core.info(`Built image ${imageId}`)
  return { imageId, builder }
}

export interface PushedImage {
  /** What BuildKit pushed (index or manifest); undefined when nothing was pushed. */
  digest?: string
  /** The config of a single-platform build; '' for an index (there is no one image). */
  imageId: string
  builder: string
}

/**
 * Builds with buildx, whose BuildKit pushes the result itself (the image exporter with
 * push=true): for `platforms` (the image store may not hold it) and for one platform, with no
 * --load and no docker save. Pushed under the first tag (the rest are tagged through the registry
 * API), or by digest without any tag; with push false the build is only checked. Attestations
 * (provenance, sbom) are off unless asked for, so GitHub's package page lists no unknown/unknown
 * platform. Index annotations carry the labels where the result is an index (GitHub reads a
 * multi-platform image's description there: docs/facts/github-registries.md, "Labels GitHub reads").
 *
 * A transient failure of the push (connection reset, 5xx, 429) runs the same build again within
 * the retries budget: every step is cached by then, so only the export and the push repeat.
 */
export async function buildAndPush(
  env: BuildEnvironment,
  plan: Pick<Plan, 'inputs' | 'names' | 'mediaTypes'>,
  labels: string[],
  push: boolean,
  /** Also --load into the engine (a builder other than the docker driver, load: true). */
  load = false,
  /** false: the engine keeps the image without unpacking it (produce/way.ts). */
  unpack?: boolean,
  cwd = process.cwd()
): Promise<PushedImage> {
  const { docker, service, policy = DEFAULT_POLICY, builderIsContext } = env
  const { inputs, names } = plan
  const platforms = inputs.platforms.join(',')
  const { req, options } = request(inputs, labels, cwd, builderIsContext)
  const index = inputs.platforms.length > 1 || inputs.attestations.length > 0
  const output = !push
    ? ({ push: false } as const)
    : inputs.pushByDigest
      ? ({ push: true, name: names.image, byDigest: true } as const)
      : ({ push: true, name: names.references[0], byDigest: false } as const)
  // media-types docker: Docker v2 manifests and list, which carry no annotations (BuildKit would
  // switch back to OCI types for them).
  const oci = plan.mediaTypes.family === 'oci'
  const what = !push
    ? 'not pushed'
    : inputs.pushByDigest
      ? 'pushed by digest'
      : 'pushed by BuildKit'
  const title = `Build ${names.image}${platforms ? ` for ${platforms}` : ''} (docker buildx build, ${what})`
  const result = await withBuildCache(env, 'buildx', req, () =>
    core.group(title, () =>
      withRetries(
        'the push of docker buildx build',
        attempt => {
          if (attempt > 1) {
            core.info(
              `Pushing again (attempt ${attempt}): docker buildx build runs again; its steps are ` +
                'cached, so only the export and the push repeat.'
            )
          }
          return docker.buildAndPush(
            {
              ...req,
              platforms: inputs.platforms,
              output,
              load,
              provenance: inputs.provenance,
              sbom: inputs.sbom,
              indexAnnotations: index && oci ? labels : [],
              annotations: buildxAnnotations(inputs.build.annotations, index),
              ociMediaTypes: oci,
              unpack
            },
            { ...options, service }
          )
        },
        pushFailure,
        policy,
        {
          onRetry: ({ delayMs, reason }) =>
            core.info(
              `Transient failure of the push (${reason}): retrying in ${(delayMs / 1000).toFixed(1)} s.`
            )
        }
      )
    )
  )
  return {
    digest: push ? result.digest : undefined,
    imageId: index ? '' : (result.configDigest ?? ''),
    builder: `docker buildx build${platforms ? ` for ${platforms}` : ''}`
  }
}

/**
 * Whether a failed buildx build is worth running again: only a failure of its push (buildx says
 * "failed to push", "pushing … with docker", or names a blob or manifest request) that docker's
 * words call transient. A failed build step is never retried.
 */
export function pushFailure(error: unknown): Verdict {
  if (!(error instanceof DockerCommandError)) return { transient: false, reason: 'permanent' }
  return pushTextVerdict(error.detail)
}

/**
 * Whether the action's own upload should take over a build whose BuildKit push failed: the push
 * failed transiently (after its retries), or with a 401 (a dropped answer in BuildKit's auth
 * exchange ends as "401 Unauthorized" too; the own upload tells a real one apart and explains it).
 * Never for a denial (403, denied) or a failed build step.
 */
export function ownUploadTakesOver(error: unknown): boolean {
  const text = error instanceof Error ? error.message : String(error)
  if (!REGISTRY_REQUEST.test(text) || BUILD_STEP.test(text)) return false
  if (/\b403\b|denied|forbidden/i.test(text)) return false
  return pushTextVerdict(text).transient || /\b401\b|unauthorized/i.test(text)
}

/**
 * Words of a failed registry request in buildx's last error line: BuildKit's push ("failed to
 * push", "failed to do request: Head …/v2/…"), or buildx 0.13's follow-up engine push ("Error
 * response from daemon: Get \"http://…/v2/\": EOF").
 */
const REGISTRY_REQUEST = /\bpush|\/v2\/|failed to copy|failed to do request/i
/** A build step that failed: never retried, whatever it printed. */
const BUILD_STEP = /did not complete successfully|failed to solve: process/i

function pushTextVerdict(text: string): Verdict {
  if (!REGISTRY_REQUEST.test(text) || BUILD_STEP.test(text)) {
    return { transient: false, reason: 'permanent' }
  }
  return classifyDockerText(text)
}
