/**
 * Where the image comes from: an existing local image (`source-image`), a build for `platforms`
 * (buildx pushes it itself), or a build loaded into the engine.
 */
import type { ImageLabels } from '../plan/labels.js'
import { phase } from '../report/phase.js'
import type { Session } from '../session/session.js'
import { buildForPlatforms, buildImage, type LocalImage, type PlatformImage } from './build.js'
import type { BuildCache } from './cache-source.js'
import { tagSourceImage } from './source-image.js'

export type Produced = (LocalImage & { pushedByBuildx?: undefined }) | PlatformProduced

interface PlatformProduced extends LocalImage {
  /** buildx built (and, when pushing, pushed) the image for every platform. */
  pushedByBuildx: PlatformImage
}

export async function produce(
  session: Session,
  labels: ImageLabels,
  sourceId: string,
  buildxProbe: Promise<boolean>,
  /** The `cache` input (cache-source.ts); none for a source-image. */
  cache?: BuildCache
): Promise<Produced> {
  const { plan, run } = session
  const { inputs, names, push } = plan
  const { docker, configDir } = session.docker
  if (inputs.sourceImage) return tagSourceImage(docker, inputs.sourceImage, sourceId, names)
  const service = {
    ACTIONS_CACHE_URL: run.env.ACTIONS_CACHE_URL,
    ACTIONS_RESULTS_URL: run.env.ACTIONS_RESULTS_URL
  }
  const environment = { docker, configDir, temp: run.temp, buildxProbe, service, cache }
  // The action's labels, then the user's (they win on the same key).
  const buildLabels = [...labels.added, ...inputs.labels]
  return phase('build', names.registry, async () => {
    if (!inputs.platforms.length) return buildImage(environment, inputs, names, buildLabels)
    const built = await buildForPlatforms(environment, inputs, names, buildLabels, push)
    return { imageId: built.imageId, builder: built.builder, pushedByBuildx: built }
  })
}
