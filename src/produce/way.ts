/**
 * Which way a build reaches the registry, decided before it runs, from what the action learns up
 * front (buildx, the builder's driver, the engine's image store), and said in one log line:
 *
 *   BuildKit pushes   buildx is there: the image exporter pushes what BuildKit built, with no
 *                     --load and no docker save (the fastest way, and the one that honours media
 *                     types, annotations and attestations as asked);
 *   engine, then OCI  buildx's docker driver on the classic image store, OCI media types (the
 *                     default): built into the engine, pushed by the engine (docker push), then
 *                     the action writes the OCI manifest over the same layers (publish/route.ts);
 *   own upload        push: false, or the docker driver on the classic store with Docker v2 media
 *                     types and annotations: built into the engine, docker save, uploaded by the
 *                     action;
 *   from the engine   no buildx (the engine's built-in BuildKit or the classic builder): built
 *                     into the engine, then publish/route.ts chooses the engine's push or the
 *                     upload, as for a source-image.
 *
 * Facts: docs/facts/buildkit.md.
 */
import * as core from '@actions/core'
import coerce from 'semver/functions/coerce.js'
import gte from 'semver/functions/gte.js'
import type { Builder } from '../docker/build-args.js'
import { chooseBuilder } from '../docker/buildx.js'
import type { Docker } from '../docker/cli.js'
import type { Plan } from '../plan/plan.js'
import { UserError } from '../util/errors.js'
import { quote } from '../util/text.js'
import type { BuildEnvironment } from './build.js'

export type Way = (
  | {
      kind: 'buildkit'
      load: boolean
      /**
       * false: the docker driver on the containerd store keeps the pushed image in the engine
       * without unpacking it (load: false; Docker 29.1+ honours it: docs/facts/buildkit.md).
       */
      unpack?: false
    }
  | {
      kind: 'own'
      builder: Builder
      /**
       * The engine pushes the image buildx built into it (docker push), then the action writes
       * the OCI image manifest over the same layers (publish/engine-push.ts): the classic image
       * store with the docker driver, OCI media types asked.
       */
      enginePushThenOci?: boolean
    }
) & {
  why: string
  /** The builder input names a docker context's builder (docker driver): docker --context. */
  builderIsContext?: boolean
  /**
   * The docker driver (of the engine the action's docker commands reach, one platform at most):
   * the engine unpacks the cache hits the build uses, after the context is sent; the image store
   * says how (produce/prefetch.ts starts that work beside the build instead).
   *   classic     every cached layer is downloaded and unpacked into the layer store;
   *   containerd  the cached layers a step that runs is built on are extracted, unless containerd
   *               holds them unpacked already.
   */
  unpacksCacheHits?: 'classic' | 'containerd'
}

export async function chooseWay(
  { docker, configDir, temp, buildxProbe, engineVersion = '' }: BuildEnvironment,
  plan: Pick<Plan, 'inputs' | 'push' | 'mediaTypes' | 'builderNeeds' | 'onlyBuildKitPush'>
): Promise<Way> {
  const { inputs, push, builderNeeds: needs, onlyBuildKitPush: required } = plan
  const oci = plan.mediaTypes.family === 'oci'
  const builder = await chooseBuilder(docker, inputs.buildx, configDir, temp, needs, buildxProbe)
  if (builder !== 'buildx') {
    const how = builder === 'buildkit' ? "the engine's built-in BuildKit" : 'the classic builder'
    return {
      kind: 'own',
      builder,
      why: `buildx is not available: built with ${how} into the engine, and published from there (the Route line says which way)`
    }
  }
  const driver = await builderDriver(docker, inputs.builder)
  const named = inputs.builder ? `builder ${inputs.builder}` : 'the selected builder'
  const builderIsContext = inputs.builder !== '' && driver === 'docker'
  const store = (): Promise<'containerd' | 'classic'> =>
    docker.builderStore(inputs.builder, builderIsContext ? inputs.builder : '')
  const way = await decide()
  if (builderIsContext) way.builderIsContext = true
  // Not for another docker context's builder: the prefetch's pull would reach this engine, not
  // that one. Not for several platforms: one pull unpacks one.
  if (driver === 'docker' && !builderIsContext && inputs.platforms.length <= 1) {
    way.unpacksCacheHits = await store()
  }
  return way

  async function decide(): Promise<Way> {
    if (!push && !required) {
      return {
        kind: 'own',
        builder,
        why: 'push is false: built with docker buildx build --load into the engine, nothing pushed'
      }
    }
    if (!required && driver === 'docker' && inputs.pushByDigest) {
      // buildx: "push-by-digest is currently not implemented for docker driver".
      return {
        kind: 'own',
        builder,
        why:
          `${named} (docker driver) cannot push by digest: built with docker buildx build ` +
          '--load, docker save, uploaded by the action without a tag'
      }
    }
    if (!required && driver === 'docker' && (await store()) === 'classic') {
      // The docker driver on the classic store hands the push to the engine (buildx's "pushing
      // … with docker"), which writes Docker v2 manifests and drops annotations.
      if (oci) {
        // The engine's push is the fast one here: dockerd compresses as it uploads, and it skips
        // the layers it knows the registry holds (its earlier pushes, and the layers BuildKit read
        // from the registry as a cache source); no docker save. The OCI manifest (and the
        // annotations) the action writes afterwards over the same blobs: docs/publish-routes.md,
        // docs/facts/classic-engine-push.md.
        return {
          kind: 'own',
          builder,
          enginePushThenOci: true,
          why:
            `${named} (docker driver) on the classic image store builds into the engine, which ` +
            'pushes it (docker push: no docker save; it skips the layers it knows the registry ' +
            'holds); the action then writes the OCI image manifest' +
            (inputs.build.annotations.length ? ', with the annotations,' : '') +
            ' over the same layers under every tag'
        }
      }
      if (inputs.build.annotations.length) {
        return {
          kind: 'own',
          builder,
          why:
            `${named} (docker driver) on the classic image store leaves the push to the engine, ` +
            'which cannot write annotations (and Docker v2 manifests carry none): built with ' +
            'docker buildx build --load, docker save, uploaded by the action'
        }
      }
      return {
        kind: 'buildkit',
        load: false,
        why:
          `buildx present; ${named} (docker driver, classic image store) builds into the engine, ` +
          'which pushes it (Docker v2 media types, as asked): no docker save'
      }
    }
    if (required && driver === 'docker' && (await store()) === 'classic') {
      if (oci && push) {
        core.warning(
          `${named} (docker driver) on the classic image store leaves the push of ${required} to ` +
            'the engine, which writes Docker v2 media types and drops annotations: use a ' +
            'docker-container builder (docker/setup-buildx-action) or the containerd image store ' +
            'for OCI media types.'
        )
      }
    }
    // The docker driver stores what it builds in the engine in any case; another driver loads it
    // only when asked (a second exporter).
    const load = inputs.load && driver !== 'docker'
    // On the containerd store the engine then also unpacks it into its snapshotter before the
    // push starts: 5-19 s of a 390 MB first publish on Docker 28.5 here (docs/benchmark.md). Only
    // load: true needs it ready to run at once; `docker run` unpacks a packed image the first time
    // it runs it (docs/facts/buildkit.md).
    const packed = driver === 'docker' && push && !inputs.load && (await store()) === 'containerd'
    const loaded = packed
      ? engineHonoursUnpack(engineVersion)
        ? 'the docker driver also stores it in the engine, not unpacked (load: false)'
        : 'the docker driver also stores it in the engine, asked to leave it packed (load: false; Docker releases before 29.1 unpack it anyway)'
      : driver === 'docker'
        ? 'the docker driver also stores it in the engine'
        : load
          ? 'also loaded into the engine (load: true)'
          : 'not loaded into the engine (load: false)'
    return {
      kind: 'buildkit',
      load,
      ...(packed ? { unpack: false as const } : {}),
      why: required
        ? `${required} needs BuildKit's push; ${named} (${driver} driver), ${loaded}`
        : `BuildKit pushes the build (buildx present, ${named}: ${driver} driver; no --load, no docker save; ${loaded})`
    }
  }
}

/**
 * The driver of the builder named by the builder input (or of the selected one); an unknown name
 * fails before the build, listing the builders that exist.
 */
async function builderDriver(docker: Docker, name: string): Promise<string> {
  const driver = await docker.builderDriver(name)
  if (driver !== undefined) return driver
  const names = await docker.builderNames().catch(() => [])
  throw new UserError(
    `builder ${quote(name)} is not a buildx builder here: the builders are ` +
      `${names.length ? names.join(', ') : 'none'}. Give the name docker/setup-buildx-action ` +
      'set up (its name output) in an earlier step of this job, or leave builder empty for the ' +
      "runner's selected builder."
  )
}

/**
 * Whether the engine keeps an image BuildKit stored with unpack=false packed: moby's image
 * exporter forced unpack=true up to Docker 29.0 and honours the option from 29.1
 * (docs/facts/buildkit.md, "The docker driver and the two image stores").
 */
export function engineHonoursUnpack(version: string): boolean {
  // Docker's versions carry a distribution's suffix (28.5.2+dfsg4); coerce reads the numbers.
  const release = coerce(version)
  return release !== null && gte(release, '29.1.0')
}
