/**
 * Pushing a local image through the action's own registry client: `docker save`, then the upload
 * (upload.ts) under the first tag, or by digest without any tag; every further tag is one
 * manifest PUT of the same bytes, and every tag is read back (tags.ts). The digest is the one the
 * registry serves.
 */
import * as core from '@actions/core'
import { rmSync } from 'node:fs'
import type { Docker, LocalImageFacts } from '../docker/cli.js'
import { checkImageForRegistry } from '../plan/registry-rules.js'
import { sha256 } from '../oci/digest.js'
import { FAMILY_TYPES, layerTypeIn, type MediaTypeFamily } from '../oci/media-types.js'
import { duplicatePlatforms, assembleIndex } from '../oci/index.js'
import { platformString, type Platform } from '../oci/platform.js'
import type { ImageNames } from '../plan/names.js'
import type { RegistryClient } from '../registry/client.js'
import { phase } from '../report/phase.js'
import { saveState } from '../state.js'
import { describeOrWarn, type Published } from './describe.js'
import { learnKnownLayers, rememberImage, rememberLayers, type Knowledge } from './known-layers.js'
import { baseImages, origins } from './origins.js'
import { tagTheRest, type PublishedManifest } from './tags.js'
import { limiter } from '../util/concurrency.js'
import { UserError } from '../util/errors.js'
import { streamSavedImage } from './save-layers.js'
import { putImageManifest, putManifestBytes, workFolder, type ImageBlobs } from './upload.js'
import { outside } from '../util/text.js'

/** What the push needs from the session: the engine, the client, a temp folder, the warm-up. */
export interface PushEnvironment {
  docker: Docker
  registry: RegistryClient
  temp: string
  /** The registry token for the push, asked for while the image was built. */
  warmUp?: Promise<unknown>
  /** Annotations of the manifest (the annotations input). */
  annotations?: Record<string, string>
  /** The media types of the manifest (media-types input); OCI when not given. */
  mediaTypes?: MediaTypeFamily
  /** The local diff_id → blob cache's file (known-layers.ts), kept on self-hosted runners. */
  layerCache?: string
  /** Annotations of the index, when the local image has several platforms. */
  indexAnnotations?: Record<string, string>
}

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
  return describeOrWarn(registry, names.image, names.path, manifest.digest, {
    manifest: manifest.bytes,
    config: { digest: sha256(pushed.image.config), platform: pushed.platform }
  })
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
  inspected?: LocalImageFacts
): Promise<Required<LearntImage>> {
  const [local, pulled] = await Promise.all([
    inspected ?? docker.inspectForPush(imageId),
    docker.imagesFrom(names.registry)
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
  const { docker, registry, temp, annotations, indexAnnotations, layerCache } = env
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
  const uploads: Promise<unknown>[] = []
  let uploaded = 0
  try {
    const upload = limiter(3)
    const streamed = await streamSavedImage({
      save: () => docker.saveStream(imageId),
      diffIds: local.diffIds,
      workDir: work.dir,
      known: knowledge,
      onLayer: layer => {
        checkImageForRegistry(names, { os: local.os, layers: [layer] })
        layerTypeIn(mediaTypes, layer.mediaType) // a zstd layer with media-types docker: refused now
        const job = upload(async () => {
          const how = await registry.uploadBlob(names.path, layer)
          if (how !== 'exists') uploaded++
          rmSync(layer.file, { force: true })
        })
        job.catch(() => undefined)
        uploads.push(job)
      }
    }).catch(async error => {
      await Promise.allSettled(uploads)
      throw error
    })
    await Promise.all(uploads)
    const layers = streamed.images.flatMap(i => i.layers)
    const warnings = checkImageForRegistry(names, { os: local.os, layers })
    warnings.forEach(w => core.warning(w))
    const platforms = streamed.images.map(i => platformString(i.platform))
    if (streamed.missingPlatforms.length) {
      core.warning(
        `${imageId.slice(0, 19)}… also lists ${streamed.missingPlatforms.join(', ')}, whose content ` +
          'this engine does not hold (pulled or loaded for one platform): only ' +
          `${platforms.join(', ')} is published.`
      )
    }
    const manifests: (PublishedManifest & { platform: Platform })[] = []
    const several = streamed.images.length > 1
    if (several)
      checkPlatformIndex(
        names,
        streamed.images.map(i => i.platform)
      )
    for (const image of streamed.images) {
      if ((await registry.uploadBlob(names.path, image.config)) !== 'exists') uploaded++
      const { digest, manifest } = await registry.retrying('the manifest PUT', () =>
        putImageManifest(
          registry,
          names.path,
          image,
          several ? undefined : tag,
          annotations,
          mediaTypes
        )
      )
      const mediaType = FAMILY_TYPES[mediaTypes].manifest
      manifests.push({ digest, mediaType, bytes: manifest, platform: image.platform })
    }
    rememberLayers(layerCache, registry.registry, names.path, layers)
    if (!several) rememberImage(layerCache, local.id, sha256(streamed.images[0].config))
    core.info(
      `${layers.length} layer(s): ${streamed.skippedLayers} already in the registry ` +
        `(not compressed), ${streamed.compressedLayers} compressed; ${uploaded} blob(s) uploaded ` +
        `(${registry.uploadedBytes} bytes)` +
        (tag ? '' : '; no tag pushed')
    )
    if (!several)
      return { manifest: manifests[0], image: streamed.images[0], platform: platforms[0] }
    // Several platforms: their manifests by digest, then one index listing them.
    const index = assembleIndex(
      manifests.map(m => ({
        mediaType: m.mediaType,
        digest: m.digest,
        size: m.bytes.length,
        platform: m.platform
      })),
      indexAnnotations,
      mediaTypes
    )
    const put = await registry.retrying('the index PUT', () =>
      putManifestBytes(registry, names.path, index.bytes, index.mediaType, tag)
    )
    core.info(`An index of ${outside(platforms.join(', '))}: ${put.digest}`)
    return {
      manifest: { digest: put.digest, mediaType: index.mediaType, bytes: index.bytes },
      image: { config: streamed.images[0].config, layers },
      platform: platforms.join(',')
    }
  } finally {
    await Promise.allSettled(uploads)
    work.dispose()
  }
}

/**
 * A local image of several platforms becomes an index: refused where none can be stored (the
 * legacy Docker registry), or when two of its images claim one platform.
 */
export function checkPlatformIndex(names: ImageNames, platforms: Platform[]): void {
  const listed = platforms.map(platformString)
  if (names.registryType === 'docker') {
    throw new UserError(
      `the source image holds ${platforms.length} platforms (${listed.join(', ')}), and ` +
        `${names.registry} (registry-type docker) accepts no image index: load one platform into ` +
        'the engine (docker buildx build --platform linux/amd64 --load), or publish to the ' +
        'Container registry. No tag was pushed.'
    )
  }
  const twice = duplicatePlatforms(
    platforms.map((platform, i) => ({ mediaType: '', digest: String(i), size: 0, platform }))
  )
  if (twice.length) {
    throw new UserError(
      `the source image lists ${twice.map(([key]) => key).join(', ')} more than once: an index ` +
        'lists one image per platform. No tag was pushed.'
    )
  }
}
