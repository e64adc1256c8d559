/**
 * Where the image comes from: an existing local image (`source-image`), or a build, which either
 * BuildKit pushes itself or the action uploads from the engine (way.ts chooses, and says why).
 */
import * as core from '@actions/core'
import type { ImageLabels } from '../plan/labels.js'
import { phase } from '../report/phase.js'
import type { Session } from '../session/session.js'
import { oneLine } from '../util/text.js'
import {
  buildAndPush,
  buildImage,
  ownUploadTakesOver,
  type LocalImage,
  type PushedImage
} from './build.js'
import type { BuildCache } from './cache-source.js'
import { tagSourceImage } from './source-image.js'
import { chooseWay, engineHonoursUnpack } from './way.js'

export type Produced =
  | (LocalImage & {
      pushedByBuildx?: undefined
      way?: string
      /** The engine pushes it, the action writes the OCI manifest over it (way.ts). */
      enginePushThenOci?: boolean
    })
  | PushProduced

interface PushProduced extends LocalImage {
  /** BuildKit built (and, when pushing, pushed) the image. */
  pushedByBuildx: PushedImage
  /** Which way the image went, and why (the log line and the job summary). */
  way: string
}

export async function produce(
  session: Session,
  labels: ImageLabels,
  sourceId: string,
  buildxProbe: Promise<boolean>,
  /** The `cache` input (cache-source.ts); none for a source-image. */
  cache?: BuildCache,
  /** A source-image's docker tag, started while docker logged in (source-image.ts). */
  tagging?: Promise<unknown>
): Promise<Produced> {
  const { plan, run } = session
  const { inputs, names, push } = plan
  const { docker, configDir } = session.docker
  if (inputs.sourceImage) {
    return tagSourceImage(docker, inputs.sourceImage, sourceId, names, tagging)
  }
  const service = {
    ACTIONS_CACHE_URL: run.env.ACTIONS_CACHE_URL,
    ACTIONS_RESULTS_URL: run.env.ACTIONS_RESULTS_URL
  }
  const environment = {
    docker,
    configDir,
    temp: run.temp,
    engineVersion: session.engineVersion,
    buildxProbe,
    service,
    policy: session.policy,
    cache
  }
  // The action's labels, then the user's (they win on the same key).
  const buildLabels = [...labels.added, ...inputs.labels]
  return phase('build', names.registry, async () => {
    const way = await chooseWay(environment, plan)
    core.info(`Publishing: ${way.why}.`)
    const withBuilder = {
      ...environment,
      builderIsContext: way.builderIsContext,
      prefetchCacheSource: way.unpacksCacheHits,
      platform: inputs.platforms.length === 1 ? inputs.platforms[0] : undefined,
      keepsPacked:
        way.kind === 'buildkit' &&
        way.unpack === false &&
        engineHonoursUnpack(environment.engineVersion ?? '')
    }
    if (way.kind === 'own') {
      const built = await buildImage(withBuilder, way.builder, inputs, names, buildLabels)
      return { ...built, way: way.why, enginePushThenOci: way.enginePushThenOci }
    }
    // One platform, no attestations: when BuildKit's push keeps failing on a flaky link, the
    // action's own upload (which retries each request) takes over; BuildKit then runs the
    // build once more (cached) only to hand the image to the engine.
    const ownCanTakeOver = push && !inputs.platforms.length && !inputs.attestations.length
    const policy = ownCanTakeOver
      ? { ...session.policy, retries: Math.min(session.policy.retries, 1) }
      : session.policy
    try {
      const built = await buildAndPush(
        { ...withBuilder, policy },
        plan,
        buildLabels,
        push,
        way.load,
        way.unpack
      )
      return { imageId: built.imageId, builder: built.builder, pushedByBuildx: built, way: way.why }
    } catch (error) {
      if (!ownCanTakeOver || !ownUploadTakesOver(error)) throw error
      const why = oneLine((error as Error).message, 300)
      core.warning(
        `BuildKit's push failed (${why}); the action uploads the image itself instead, retrying ` +
          'each request.'
      )
      const built = await buildImage(withBuilder, 'buildx', inputs, names, buildLabels)
      return {
        ...built,
        way: `${way.why}; its push failed, so built with docker buildx build --load, docker save, uploaded by the action`
      }
    }
  })
}
