/**
 * Pushing a local image through the action's own registry client: `docker save`, then the upload
 * (upload.ts) under the first tag, or by digest without any tag; every further tag is one
 * manifest PUT of the same bytes, and every tag is read back (tags.ts). The digest is the one the
 * registry serves.
 */
import * as core from '@actions/core'
import type { LocalImageFacts } from '../docker/cli.js'
import { checkImageForRegistry } from '../plan/registry-rules.js'
import { sha256 } from '../oci/digest.js'
import { FAMILY_TYPES } from '../oci/media-types.js'
import { platformString } from '../oci/platform.js'
import type { ImageNames } from '../plan/names.js'
import { phase } from '../report/phase.js'
import { saveState } from '../state.js'
import { describeOrWarn, type Published } from './describe.js'
import { learnKnownLayers, type Knowledge } from './known-layers.js'
import { baseImages, origins } from './origins.js'
import { putSavedImages, saveAndUpload, type PushEnvironment } from './saved-upload.js'
import { tagTheRest, type PublishedManifest } from './tags.js'
import { putImageManifest, workFolder, type ImageBlobs } from './upload.js'
import { outside } from '../util/text.js'

export type { PushEnvironment }

/** The image uploaded under the first tag; every further tag is one manifest PUT. */
export async function pushTags(
  env: PushEnvironment,
  names: ImageNames,
  imageId: string,
  learnt?: LearntImage
): Promise<Published> {
  const { registry } = env
  const [firstTag] = names.tags
  const pushed = await phase('push', names.registry, () =>
    core.group(`Push ${names.image}:${firstTag}`, () =>
      uploadSavedImage(env, names, imageId, firstTag, learnt)
    )
  )
  const manifest = await phase('read-back', names.registry, () =>
    core.group(
      names.tags.length > 1
        ? `Tag ${names.tags.length - 1} more through the registry API`
        : 'The digest the registry answered',
      async () => {
        const m = await registry.retrying('tagging and reading back', () =>
          tagTheRest(registry, names, pushed.manifest)
        )
        for (const tag of names.tags) core.info(`${names.image}:${tag} → ${m.digest}`)
        return m
      }
    )
  )
  core.info(`Digest: ${manifest.digest} (${registry.requests} registry API requests)`)
  const published = await describeOrWarn(registry, names.image, names.path, manifest.digest, {
    manifest: manifest.bytes,
    config: { digest: sha256(pushed.image.config), platform: pushed.platform }
  })
  return { ...published, manifest: manifest.bytes }
}

/** push-by-digest: the same upload, by digest, so no tag is created. */
export async function pushByDigest(
  env: PushEnvironment,
  names: ImageNames,
  imageId: string,
  learnt?: LearntImage
): Promise<Published> {
  const pushed = await phase('push', names.registry, () =>
    core.group(`Push ${names.image} by digest, without a tag`, () =>
      uploadSavedImage(env, names, imageId, undefined, learnt)
    )
  )
  core.info(`Digest: ${pushed.manifest.digest} (${env.registry.requests} registry API requests)`)
  return {
    digest: pushed.manifest.digest,
    size: pushed.image.layers.reduce((sum, l) => sum + l.size, 0),
    platform: pushed.platform
  }
}

/**
 * The local image, and which of its layers the repository holds (known-layers.ts), when learnt
 * already (publish/route.ts inspects first, and learns the registry's layers when it needs them).
 */
export interface LearntImage {
  local: LocalImageFacts
  knowledge?: Knowledge
}

/**
 * Before a byte is saved or compressed: the local image (inspected, unless given) and which of its
 * layers the registry holds already (known-layers.ts). What the registry would refuse fails here.
 */
export async function learnForPush(
  { docker, registry, warmUp, layerCache }: PushEnvironment,
  names: ImageNames,
  imageId: string,
  inspected?: LocalImageFacts,
  /** The local images from the registry (docker.imagesFrom), when asked already. */
  fromRegistry?: ReturnType<PushEnvironment['docker']['imagesFrom']>
): Promise<Required<LearntImage>> {
  const [local, pulled] = await Promise.all([
    inspected ?? docker.inspectForPush(imageId),
    fromRegistry ?? docker.imagesFrom(names.registry)
  ])
  const platform = { os: local.os, architecture: local.architecture, variant: local.variant }
  // What the registry would refuse fails here, before any byte is sent.
  checkImageForRegistry(names, { os: local.os, layers: [] })
  await warmUp
  const knowledge = await learnKnownLayers(registry, {
    repository: names.path,
    tags: names.tags,
    imageId: local.id,
    diffIds: local.diffIds,
    platform,
    origins: origins(names, [...local.repoDigests, ...baseImages(local.diffIds, pulled)]),
    cacheFile: layerCache
  })
  core.info(
    `${knowledge.known} of ${local.diffIds.length} layer(s) already in ${names.image}` +
      (knowledge.sources.length ? ` (learnt from ${outside(knowledge.sources.join(', '))})` : '')
  )
  return { local, knowledge }
}

/**
 * docker save, read as it streams, then the upload (upload.ts) by digest or under `tag`. Before a
 * byte is compressed, the registry says which layers it holds already (learnForPush): those are
 * drained from the save, not compressed nor uploaded; the others are compressed on every core and
 * each uploaded as soon as it is ready, while the save goes on (save-layers.ts).
 */
async function uploadSavedImage(
  env: PushEnvironment,
  names: ImageNames,
  imageId: string,
  tag?: string,
  learnt?: LearntImage
): Promise<{ manifest: PublishedManifest; image: ImageBlobs; platform: string }> {
  const { registry, temp, annotations } = env
  const mediaTypes = env.mediaTypes ?? 'oci'
  const { local, knowledge } = learnt?.knowledge
    ? { local: learnt.local, knowledge: learnt.knowledge }
    : await learnForPush(env, names, imageId, learnt?.local)
  const platform = { os: local.os, architecture: local.architecture, variant: local.variant }
  if (knowledge.sameImage && tag) {
    // This very image is there already: no save, no compression, no upload.
    const image = { config: knowledge.sameImage.config, layers: knowledge.sameImage.layers }
    const { digest, manifest } = await registry.retrying('the manifest PUT', () =>
      putImageManifest(registry, names.path, image, tag, annotations, mediaTypes)
    )
    core.info(`Unchanged: ${names.image} holds this image already (${digest}); nothing uploaded.`)
    return {
      manifest: { digest, mediaType: FAMILY_TYPES[mediaTypes].manifest, bytes: manifest },
      image,
      platform: platformString(platform)
    }
  }

  const work = workFolder(temp, dir => saveState('workDir', dir))
  try {
    const saved = await saveAndUpload(env, names, imageId, local, knowledge, work.dir)
    return await putSavedImages(env, names, imageId, tag, local, saved)
  } finally {
    work.dispose()
  }
}
