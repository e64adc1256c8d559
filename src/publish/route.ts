/**
 * Which way a local image (a `source-image`, or a build that ends as a local image) reaches the
 * registry: the engine's own `docker push` (engine-push.ts), or the action's upload (`docker save`,
 * then the registry API: push.ts). Chosen from facts learnt up front, and said in ONE log line with
 * its reason, also shown in the job summary. What each store's push does, with sources:
 * docs/facts/engine-push.md; the trade-offs for users: docs/publish-routes.md.
 *
 *   push-by-digest, annotations          the upload (docker push needs a tag, adds no annotation)
 *   registry-type docker, containerd     the upload (the engine may store an index; that registry
 *                                        takes none)
 *   containerd store                     the engine, unless the image is the action's own buildx
 *                                        build (stored with an attestation not asked for), or
 *                                        media-types asks for other types than
 *                                        it stores (or the engine cannot say what it stores), or
 *                                        the layers look stored uncompressed (docker push would
 *                                        send them raw): then the upload, which compresses
 *                                        (every tag serving the image ID already: nothing
 *                                        to push, no docker push, the answer is the read-back;
 *                                        on the classic store likewise when every tag serves
 *                                        the OCI manifest this runner wrote over its engine's
 *                                        push of this very image: engine-push.ts)
 *   classic store, a buildx build, oci   the engine, then the action writes the OCI manifest over
 *                                        the layers it pushed (engine-push.ts; the engine knows
 *                                        which layers the registry holds: its earlier pushes, and
 *                                        the cache source BuildKit read); the upload when what it
 *                                        pushed cannot be rewritten
 *   classic store (either media types; with oci the action writes the OCI manifest over what
 *   the engine pushed, as above, annotations included; with docker, annotations take the upload):
 *     self-hosted runner                 the engine (its push history skips what it pushed before)
 *     else, registry holds some layers   the upload (it skips them without compressing them; the
 *                                        engine of a fresh runner compresses each one to find out)
 *     else                               the engine (a first publish: nothing to skip)
 */
import * as core from '@actions/core'
import { FAMILY_TYPES, type MediaTypeFamily } from '../oci/media-types.js'
import type { ImageNames, RegistryType } from '../plan/names.js'
import type { Published } from './describe.js'
import {
  CannotWriteOci,
  EnginePushGaveUp,
  publishedAlready,
  pushWithEngine,
  servedFromContainerdStore,
  unchangedOverEnginePush
} from './engine-push.js'
import { learnForPush, pushByDigest, pushTags, type PushEnvironment } from './push.js'
import type { RetryPolicy } from '../util/retry.js'
import type { PublishedManifest } from './tags.js'

export type ImageStore = 'containerd' | 'classic'

/** What the choice rests on, learnt before anything is pushed. */
export interface RouteFacts {
  store: ImageStore
  /** RUNNER_ENVIRONMENT: github-hosted, self-hosted, or unset (not on a runner). */
  runner: string | undefined
  /** The media types to publish, and whether the workflow named them. */
  family: MediaTypeFamily
  familyGiven: boolean
  registryType: RegistryType
  pushByDigest: boolean
  /** Manifest or index annotations asked for. */
  annotations: boolean
  /**
   * The action's own `buildx build --load`: in the containerd store it is stored with a provenance
   * attestation the workflow did not ask for (buildx adds one by default).
   */
  unaskedAttestations?: boolean
  /** Containerd store: the stored manifest's or index's media type, when the engine says it. */
  storedMediaType?: string
  /** Containerd store: the bytes stored for the image and its layers' unpacked size (0: unknown). */
  storedBytes?: number
  unpackedBytes?: number
  /** Classic store: how many of the image's layers the repository holds (learnt when needed). */
  registryHolds?: { known: number; total: number }
  /**
   * Classic store: the image buildx's docker driver built into the engine for this push
   * (produce/way.ts chose the engine's push, the OCI manifest written over it).
   */
  enginePushThenOci?: boolean
}

export interface Route {
  way: 'engine' | 'upload'
  /** Why, in words for the log and the summary. */
  why: string
  /** The engine pushes Docker v2, then the action writes the OCI manifest over its layers. */
  ociOver?: boolean
}

/** Stored bytes at least this share of the unpacked size: the layers are not compressed. */
export const UNCOMPRESSED_RATIO = 0.8
/** Below this unpacked size, raw layers cost too little to matter. */
export const UNCOMPRESSED_MIN_BYTES = 1024 * 1024

/** The family of a stored media type, undefined when it is not a manifest's or an index's. */
export function familyOf(mediaType: string | undefined): MediaTypeFamily | undefined {
  if (!mediaType) return undefined
  for (const family of ['oci', 'docker'] as const) {
    const types = FAMILY_TYPES[family]
    if (mediaType === types.manifest || mediaType === types.index) return family
  }
  return undefined
}

const MB = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MB`

/**
 * Whether the choice needs the registry's knowledge first (the classic store's push on a runner
 * whose engine remembers nothing, when media-types lets the engine push at all).
 */
export function needsRegistryKnowledge(f: Omit<RouteFacts, 'registryHolds'>): boolean {
  return (
    f.store === 'classic' &&
    !f.pushByDigest &&
    // Docker v2 manifests carry no annotations; the OCI manifest written over the push does.
    (f.family === 'oci' || !f.annotations) &&
    f.runner !== 'self-hosted' &&
    !f.enginePushThenOci
  )
}

/** The way, and why (pure: the decision table above). */
export function chooseRoute(f: RouteFacts): Route {
  const upload = (why: string): Route => ({ way: 'upload', why })
  const engine = (why: string): Route => ({ way: 'engine', why })
  if (f.pushByDigest) {
    return upload('push-by-digest: docker push can only push a tag, and a pushed tag stays')
  }
  if (f.store === 'classic' && f.enginePushThenOci && f.family === 'oci') {
    return {
      way: 'engine',
      ociOver: true,
      why:
        'classic image store, built into the engine by buildx: the engine pushes it (it skips ' +
        'the layers it knows the registry holds: its earlier pushes, and the cache source ' +
        'BuildKit read), then the action writes the OCI image manifest over the same layers' +
        (f.annotations ? ', with the annotations' : '')
    }
  }
  if (f.store === 'classic' && f.family === 'oci') {
    // The engine's push writes Docker v2; the action writes the OCI manifest (with any
    // annotations) over the same layers afterwards, as for a buildx build above.
    const over = (why: string): Route => ({
      way: 'engine',
      ociOver: true,
      why:
        `${why}, then the action writes the OCI image manifest over the same layers` +
        (f.annotations ? ', with the annotations' : '')
    })
    return classicByRunner(f, over, upload)
  }
  if (f.annotations) return upload('annotations: docker push cannot add manifest annotations')
  if (f.store === 'containerd') {
    if (f.registryType === 'docker') {
      return upload(
        'registry-type docker: that registry takes no index, which the containerd store may hold'
      )
    }
    if (f.unaskedAttestations) {
      return upload(
        'a buildx build in the containerd store is stored with a provenance attestation the ' +
          'workflow did not ask for, which docker push would publish: the upload leaves it out'
      )
    }
    const stored = familyOf(f.storedMediaType)
    if (f.familyGiven && !stored) {
      return upload(
        `media-types ${f.family} given, and this engine does not say which media types it ` +
          'stores (Engine API before 1.48): the upload writes exactly those'
      )
    }
    if (f.familyGiven && stored !== f.family) {
      return upload(
        `media-types ${f.family}, and the engine stores ${stored === 'oci' ? 'OCI' : 'Docker v2'} ` +
          'manifests, which docker push sends as they are'
      )
    }
    const storedBytes = f.storedBytes ?? 0
    const unpacked = f.unpackedBytes ?? 0
    if (unpacked >= UNCOMPRESSED_MIN_BYTES && storedBytes >= UNCOMPRESSED_RATIO * unpacked) {
      return upload(
        `containerd image store, but its layers look stored uncompressed (${MB(storedBytes)} ` +
          `stored for ${MB(unpacked)} unpacked: docker load of an uncompressed archive, or ` +
          'content that does not compress): docker push would send them as stored, the upload compresses them'
      )
    }
    return engine(
      'containerd image store: the engine uploads its stored compressed blobs' +
        (stored ? ` (${stored === 'oci' ? 'OCI' : 'Docker v2'}, as stored)` : ', as stored')
    )
  }
  return classicByRunner(f, engine, upload)
}

/**
 * The classic store's choice by runner: the engine where it has nothing to skip or remembers
 * what it pushed, the upload where the registry holds layers a fresh engine does not know of.
 */
function classicByRunner(
  f: RouteFacts,
  engine: (why: string) => Route,
  upload: (why: string) => Route
): Route {
  if (f.runner === 'self-hosted') {
    return engine(
      'classic image store, self-hosted runner: the engine skips the layers its earlier pushes uploaded'
    )
  }
  const runner = f.runner ? `${f.runner} runner` : 'a runner whose engine has no push history'
  const holds = f.registryHolds
  if (holds && holds.known > 0) {
    return upload(
      `classic image store, ${runner}: the registry already holds ${holds.known} of ` +
        `${holds.total} layers, which the engine would compress again to find that out`
    )
  }
  return engine(
    `classic image store, ${runner}: the registry holds none of the layers (a first publish), ` +
      'so the engine compresses and uploads them as it goes'
  )
}

/** What the route needs of the run, beside the push environment. */
export interface RouteInputs {
  names: ImageNames
  imageId: string
  family: MediaTypeFamily
  familyGiven: boolean
  pushByDigest: boolean
  runner: string | undefined
  policy: RetryPolicy
  /** The image is the action's own buildx build (not a source-image). */
  builtByBuildx?: boolean
  /** produce/way.ts chose the engine's push with the OCI manifest written over it. */
  enginePushThenOci?: boolean
  /** servedUnderEveryTag's answer, when asked ahead (a source-image: main.ts). */
  served?: Promise<PublishedManifest | undefined>
}

/**
 * Learns the facts, chooses, says which way and why in one line, and publishes that way. The
 * digest returned is the one the registry serves, on either way.
 */
export async function publishLocalImage(
  env: PushEnvironment,
  run: RouteInputs
): Promise<Published & { route: string }> {
  const { docker } = env
  const { names, imageId } = run
  const annotations =
    Object.keys(env.annotations ?? {}).length + Object.keys(env.indexAnnotations ?? {}).length > 0
  // Three questions to the engine at once (the unpacked size only matters in the containerd
  // store); a build that way.ts sent to the engine's push is on the classic store already.
  const known = run.enginePushThenOci
  // The local images pulled from (or pushed to) this registry, for the known layers: asked now,
  // beside the rest, in case the choice needs the registry's knowledge (never rejects).
  // (Only on the classic store: elsewhere the choice never needs them, and a docker command
  // still running would hold the step's end.)
  const mayLearn = !known && run.runner !== 'self-hosted' && !run.pushByDigest
  const fromRegistry = mayLearn
    ? docker
        .imageStore()
        .then(store => (store === 'classic' ? docker.imagesFrom(names.registry) : []))
        .catch(() => [])
    : undefined
  // The containerd store: does every tag serve this very image already (an unchanged
  // republish)? Asked beside the rest; it only matters when the engine would push.
  const served =
    run.served ??
    (!known && !run.pushByDigest
      ? servedFromContainerdStore(docker, env.registry, names, imageId, env.warmUp)
      : undefined)
  const [store, local, unpacked] = await Promise.all([
    known ? ('classic' as const) : docker.imageStore(),
    docker.inspectForPush(imageId),
    known ? 0 : docker.unpackedSize(imageId)
  ])
  const unpackedBytes = store === 'containerd' ? unpacked : 0
  const facts: RouteFacts = {
    store,
    runner: run.runner || undefined,
    family: run.family,
    familyGiven: run.familyGiven,
    registryType: names.registryType,
    pushByDigest: run.pushByDigest,
    annotations,
    unaskedAttestations: run.builtByBuildx,
    storedMediaType: local.storedMediaType,
    storedBytes: store === 'containerd' ? local.size : undefined,
    unpackedBytes,
    enginePushThenOci: run.enginePushThenOci
  }
  const learnt = needsRegistryKnowledge(facts)
    ? await learnForPush(env, names, imageId, local, fromRegistry)
    : undefined
  if (learnt) {
    facts.registryHolds = { known: learnt.knowledge.known, total: local.diffIds.length }
  }
  const route = chooseRoute(facts)
  if (route.way === 'engine') {
    const already = route.ociOver
      ? await unchangedOverEnginePush(
          env.registry,
          names,
          local.id,
          env.annotations ?? {},
          env.layerCache,
          env.warmUp
        )
      : await served
    if (already) {
      const line = route.ociOver
        ? `Route: none, unchanged (every tag of ${names.image} serves the OCI manifest this runner ` +
          "wrote over its engine's push of this very image, with these annotations: nothing to send)"
        : `Route: none, unchanged (every tag of ${names.image} serves this image's digest already, ` +
          'which is what docker push would publish from the containerd image store: nothing to send)'
      core.info(line)
      const published = await publishedAlready(env.registry, names, local, already)
      return { ...published, route: line.slice('Route: '.length) }
    }
  }
  const how = route.ociOver ? 'docker push, then the OCI manifest' : 'docker push'
  const line = `Route: ${route.way === 'engine' ? how : "the action's upload"} (${route.why})`
  core.info(line)
  const upload = (): Promise<Published> =>
    run.pushByDigest
      ? pushByDigest(env, names, imageId, learnt ?? { local })
      : pushTags(env, names, imageId, learnt ?? { local })
  if (route.way === 'upload') return { ...(await upload()), route: line.slice('Route: '.length) }
  const oci = route.ociOver ? { annotations: env.annotations ?? {} } : undefined
  // With the OCI manifest to write, the action's own upload (which retries each request) can take
  // over a push that keeps failing: one more docker push only, as for BuildKit's push.
  const policy = oci ? { ...run.policy, retries: Math.min(run.policy.retries, 1) } : run.policy
  try {
    const published = await pushWithEngine(env, names, local, policy, oci)
    return { ...published, route: line.slice('Route: '.length) }
  } catch (error) {
    const why =
      error instanceof CannotWriteOci
        ? `the OCI manifest cannot be written over what docker push published (${error.message})`
        : error instanceof EnginePushGaveUp
          ? error.message
          : undefined
    if (!why) throw error
    // The image is in the engine: the own upload writes the OCI manifest from docker save
    // instead (over the first tag, should the engine have pushed it).
    core.warning(`${why}: the action uploads the image itself instead, retrying each request.`)
    const published = await upload()
    return {
      ...published,
      route: `${line.slice('Route: '.length)}; ${why}, so the action's upload`
    }
  }
}
