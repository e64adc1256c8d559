/**
 * How the image reaches the registry, once it is built (or found, or — for merge-digests — not
 * there at all). Each way returns the digest the registry serves, with size and platform:
 *
 *   pushTags          docker save, then the registry client uploads it under the first tag;
 *                     every further tag is one manifest PUT (tags.ts)
 *   pushByDigest      the same upload, by digest, without any tag
 *   checkBuildxPush   buildx pushed it (platforms): read it back, tag the rest
 *   mergeIndex        an OCI index of images already pushed, PUT under every tag (merge.ts)
 *   describeLocalImage  nothing pushed (push: false)
 */
import * as core from '@actions/core'
import * as os from 'node:os'
import * as path from 'node:path'
import { rmSync } from 'node:fs'
import type { Phase } from './diagnostics.js'
import type { Docker } from './docker.js'
import { errorMessage } from './errors.js'
import type { PlatformImage } from './image.js'
import { describePushedImage, platformString, type ImageInfo } from './image-info.js'
import { buildMergedIndex, type MergeEntry } from './merge.js'
import type { ImageNames } from './naming.js'
import { pushSavedImage, readSavedImage, workFolder, type SavedImage } from './push-by-digest.js'
import { MEDIA_TYPES, sha256, type RegistryClient } from './registry.js'
import { checkImageForRegistry } from './registry-rules.js'
import { putUnderEveryTag, tagAndVerify, tagTheRest, type PublishedManifest } from './tags.js'

export interface Published extends ImageInfo {
  /** '' when nothing was pushed. */
  digest: string
  localSize?: number
}

type Explain = (phase: Phase) => (error: unknown) => never

/** Size and platform are for the summary and the metadata output: a failure is not fatal. */
async function describe(
  registry: RegistryClient,
  names: ImageNames,
  manifest: PublishedManifest,
  known: Parameters<typeof describePushedImage>[3] = {}
): Promise<Published> {
  const info = await describePushedImage(registry, names.path, manifest.digest, {
    manifest: manifest.bytes,
    ...known
  }).catch(error => {
    core.warning(`Could not read the size and platform of ${names.image}: ${errorMessage(error)}`)
    return { size: null, platform: '' }
  })
  return { digest: manifest.digest, ...info }
}

/**
 * The image is uploaded by the action's own registry client (`docker save`, then blobs and
 * manifest, every request retried on its own: push-by-digest.ts), stored under the first tag; every
 * further tag is one manifest PUT of the same bytes. The digest is the one the registry answers.
 */
export async function pushTags(
  docker: Docker,
  registry: RegistryClient,
  names: ImageNames,
  imageId: string,
  warmUp: Promise<unknown> | undefined,
  explain: Explain
): Promise<Published> {
  const [firstTag] = names.tags
  const pushed = await core
    .group(`Push ${names.image}:${firstTag}`, () =>
      uploadSavedImage(docker, registry, names, imageId, warmUp, firstTag)
    )
    .catch(explain('push'))
  const manifest = await core
    .group(
      names.tags.length > 1
        ? `Tag ${names.tags.length - 1} more through the registry API`
        : 'The digest the registry answered',
      async () => {
        const m = await tagTheRest(registry, names, pushed.manifest)
        for (const tag of names.tags) core.info(`${names.image}:${tag} → ${m.digest}`)
        return m
      }
    )
    .catch(explain('read-back'))
  core.info(`Digest: ${manifest.digest} (${registry.requests} registry API requests)`)
  return describe(registry, names, manifest, {
    config: { digest: sha256(pushed.image.config), platform: pushed.platform }
  })
}

/** docker save, then the upload through the registry client (by digest, or under `tag`). */
async function uploadSavedImage(
  docker: Docker,
  registry: RegistryClient,
  names: ImageNames,
  imageId: string,
  warmUp: Promise<unknown> | undefined,
  tag?: string
): Promise<{ manifest: PublishedManifest; image: SavedImage; platform: string }> {
  const work = workFolder(process.env.RUNNER_TEMP || os.tmpdir())
  try {
    const tar = path.join(work.dir, 'image.tar')
    await docker.save(imageId, tar)
    const image = await readSavedImage(tar, work.dir)
    rmSync(tar, { force: true })
    const config = JSON.parse(image.config.toString('utf8')) as Parameters<typeof platformString>[0]
    // What the registry would refuse fails here, before any byte is sent.
    const warnings = checkImageForRegistry(names, { os: config.os ?? '', layers: image.layers })
    warnings.forEach(w => core.warning(w))
    await warmUp
    const result = await pushSavedImage(registry, names.path, image, 3, tag)
    core.info(
      `${image.layers.length} layer(s); ${result.uploaded} blob(s) uploaded ` +
        `(${registry.uploadedBytes} bytes), ${result.existing} already in the registry` +
        (tag ? '' : '; no tag pushed')
    )
    return {
      manifest: {
        digest: result.digest,
        mediaType: MEDIA_TYPES.ociManifest,
        bytes: result.manifest
      },
      image,
      platform: platformString(config)
    }
  } finally {
    work.dispose()
  }
}

function readBackTitle(names: ImageNames): string {
  return names.tags.length > 1
    ? `Tag ${names.tags.length - 1} more through the registry API, and read the digest back`
    : 'Read the digest back from the registry'
}

/**
 * push-by-digest: `docker save` of the image, then the registry client uploads its layers and
 * config and PUTs its manifest by digest, so no tag is created (push-by-digest.ts says why docker
 * push cannot do that).
 */
export async function pushByDigest(
  docker: Docker,
  registry: RegistryClient,
  names: ImageNames,
  imageId: string,
  warmUp: Promise<unknown> | undefined,
  explain: Explain
): Promise<Published> {
  const pushed = await core
    .group(`Push ${names.image} by digest, without a tag`, () =>
      uploadSavedImage(docker, registry, names, imageId, warmUp)
    )
    .catch(explain('push'))
  core.info(`Digest: ${pushed.manifest.digest} (${registry.requests} registry API requests)`)
  return {
    digest: pushed.manifest.digest,
    size: pushed.image.layers.reduce((sum, l) => sum + l.size, 0),
    platform: pushed.platform
  }
}

/**
 * buildx pushed the image for `platforms` itself: read it back from the registry (the first tag,
 * or the digest buildx reported when it pushed by digest) and tag the rest.
 */
export async function checkBuildxPush(
  registry: RegistryClient,
  names: ImageNames,
  built: PlatformImage,
  explain: Explain
): Promise<Published> {
  const manifest = await core
    .group(names.tags.length ? readBackTitle(names) : 'Read the digest back', async () => {
      if (names.tags.length) {
        const m = await tagAndVerify(registry, names, built.digest, 'docker buildx build')
        for (const tag of names.tags) core.info(`${names.image}:${tag} → ${m.digest}`)
        return m
      }
      if (!built.digest) {
        throw new Error(
          'docker buildx build did not report the digest it pushed (no containerimage.digest in its --metadata-file): update buildx'
        )
      }
      return registry.getManifest(names.path, built.digest)
    })
    .catch(explain('read-back'))
  core.info(`Digest: ${manifest.digest} (${registry.requests} registry API requests)`)
  return describe(registry, names, manifest)
}

/**
 * merge-digests: reads each image (manifest and config) and PUTs one index listing them under every
 * tag. Nothing is pushed when a digest is missing or a platform comes twice.
 */
export async function mergeIndex(
  registry: RegistryClient,
  names: ImageNames,
  entries: MergeEntry[],
  annotations: Record<string, string>,
  explain: Explain
): Promise<Published> {
  const index = await core
    .group(`Read the ${entries.length} images to merge from ${names.image}`, async () => {
      const merged = await buildMergedIndex(
        registry,
        names.path,
        entries.map(e => e.digest),
        annotations
      )
      core.info(`Platforms: ${merged.platforms.join(', ')}`)
      return merged
    })
    .catch(explain('read-back'))
  const manifest = await core
    .group(`Push the index under ${names.tags.length} tag(s)`, async () => {
      const m = await putUnderEveryTag(registry, names, index.bytes, index.mediaType)
      for (const tag of names.tags) core.info(`${names.image}:${tag} → ${m.digest}`)
      return m
    })
    .catch(explain('push'))
  core.info(`Digest: ${manifest.digest} (${registry.requests} registry API requests)`)
  return { digest: manifest.digest, size: index.size, platform: index.platforms.join(',') }
}

/** Not pushed: platform and uncompressed size of the local image. */
export async function describeLocalImage(docker: Docker, imageId: string): Promise<Published> {
  core.info('push is false: the image was tagged locally, nothing was pushed.')
  try {
    const local = await docker.inspectImage(imageId)
    return { digest: '', size: null, platform: platformString(local), localSize: local.size }
  } catch (error) {
    core.warning(`Could not inspect the local image ${imageId}: ${errorMessage(error)}`)
    return { digest: '', size: null, platform: '' }
  }
}
