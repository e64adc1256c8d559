/**
 * The action's own upload of a saved image (push.ts decides when): `docker save` read as it streams
 * (save-layers.ts), each new layer uploaded while the save goes on, then the configs and manifests,
 * and for a local image of several platforms one index listing them.
 */
import * as core from '@actions/core'
import { rmSync } from 'node:fs'
import type { Docker, LocalImageFacts } from '../docker/cli.js'
import { sha256 } from '../oci/digest.js'
import { duplicatePlatforms, assembleIndex } from '../oci/index.js'
import { FAMILY_TYPES, layerTypeIn, type MediaTypeFamily } from '../oci/media-types.js'
import { platformString, type Platform } from '../oci/platform.js'
import type { ImageNames } from '../plan/names.js'
import { checkImageForRegistry } from '../plan/registry-rules.js'
import type { RegistryClient } from '../registry/client.js'
import { limiter } from '../util/concurrency.js'
import { UserError } from '../util/errors.js'
import { outside } from '../util/text.js'
import { rememberImage, rememberLayers, type Knowledge } from './known-layers.js'
import { streamSavedImage, type StreamedImage } from './save-layers.js'
import type { PublishedManifest } from './tags.js'
import { putImageManifest, putManifestBytes, type ImageBlobs } from './upload.js'

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

/** What the save gave, and how many blobs were uploaded so far. */
export interface Saved {
  streamed: StreamedImage
  uploaded: number
}

/**
 * docker save, read as it streams (save-layers.ts): each new layer is checked against what the
 * registry and the media types take, then uploaded (three at a time) while the save goes on.
 * Returns once every upload is done; none is left running when it throws.
 */
export async function saveAndUpload(
  { docker, registry, mediaTypes = 'oci' }: PushEnvironment,
  names: ImageNames,
  imageId: string,
  local: LocalImageFacts,
  knowledge: Knowledge,
  workDir: string
): Promise<Saved> {
  const uploads: Promise<unknown>[] = []
  let uploaded = 0
  const upload = limiter(3)
  try {
    const streamed = await streamSavedImage({
      save: () => docker.saveStream(imageId),
      diffIds: local.diffIds,
      workDir,
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
    })
    await Promise.all(uploads)
    return { streamed, uploaded }
  } finally {
    await Promise.allSettled(uploads)
  }
}

/**
 * The configs and manifests of the saved images, by digest or under `tag`; for several platforms,
 * their manifests by digest, then one index listing them.
 */
export async function putSavedImages(
  env: PushEnvironment,
  names: ImageNames,
  imageId: string,
  tag: string | undefined,
  local: LocalImageFacts,
  { streamed, uploaded }: Saved
): Promise<{ manifest: PublishedManifest; image: ImageBlobs; platform: string }> {
  const { registry, annotations, indexAnnotations, layerCache, mediaTypes = 'oci' } = env
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
  if (!several) return { manifest: manifests[0], image: streamed.images[0], platform: platforms[0] }
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
