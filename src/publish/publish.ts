/**
 * How the image reaches the registry, once it is built or found. Each way returns the digest the
 * registry serves, with size and platform:
 *
 *   BuildKit pushed   buildx built and pushed it (produce/way.ts): read it back, tag the rest
 *                     (buildx-push.ts)
 *   push: false       nothing pushed: the local image described (describe.ts)
 *   a local image     docker push (then, for a build on the classic store, the OCI manifest
 *                     written over what it pushed), or docker save then the action's upload (by
 *                     digest, or under the first tag); every further tag one PUT; route.ts
 *                     chooses and says why
 *
 * (merge-digests pushes an index without any image: merge.ts.)
 */
import * as core from '@actions/core'
import { indexAnnotations, manifestAnnotations } from '../plan/build-options.js'
import type { Produced } from '../produce/produce.js'
import type { Session } from '../session/session.js'
import { checkBuildxPush } from './buildx-push.js'
import { cacheFile } from './known-layers.js'
import { describeLocalImage, type Published } from './describe.js'
import { publishLocalImage } from './route.js'
import type { PublishedManifest } from './tags.js'

export async function publish(
  session: Session,
  image: Produced,
  warmUp: Promise<unknown> | undefined,
  /** A source-image: whether every tag serves it already, asked ahead (main.ts). */
  served?: Promise<PublishedManifest | undefined>
): Promise<Published> {
  const { plan, registry, run } = session
  const { inputs, names, push } = plan
  if (image.pushedByBuildx) {
    if (push) return checkBuildxPush(registry, names, image.pushedByBuildx)
    core.info('push is false: the build was checked; nothing was stored in the registry.')
    return { digest: '', size: null, platform: inputs.platforms.join(',') }
  }
  const { docker } = session.docker
  if (!push) return describeLocalImage(docker, image.imageId)
  const annotations = manifestAnnotations(inputs.build.annotations)
  const environment = {
    docker,
    registry,
    temp: run.temp,
    warmUp,
    annotations,
    indexAnnotations: indexAnnotations(inputs.build.annotations),
    layerCache: cacheFile(run.env.RUNNER_TOOL_CACHE),
    mediaTypes: plan.mediaTypes.family
  }
  // The engine's push or the action's upload: publish/route.ts chooses, and says why.
  return publishLocalImage(environment, {
    names,
    imageId: image.imageId,
    family: plan.mediaTypes.family,
    familyGiven: plan.mediaTypes.given,
    pushByDigest: inputs.pushByDigest,
    runner: run.env.RUNNER_ENVIRONMENT,
    policy: session.policy,
    builtByBuildx: !inputs.sourceImage && image.builder === 'buildx',
    enginePushThenOci: image.enginePushThenOci,
    served
  })
}
