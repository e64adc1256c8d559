/**
 * Pushing a local image through the action's own registry client: `docker save`, then the upload
 * (upload.ts) under the first tag, or by digest without any tag; every further tag is one
 * manifest PUT of the same bytes (tags.ts). The digest is the one the registry serves.
 */
import * as core from '@actions/core'
import { rmSync } from 'node:fs'
import * as path from 'node:path'
import type { Docker } from '../docker/cli.js'
import { readSavedImage, type SavedImage } from '../docker/save.js'
import { checkImageForRegistry } from '../github/registry-rules.js'
import { sha256 } from '../oci/digest.js'
import { parseJson, type ImageConfigJson } from '../oci/descriptor.js'
import { MEDIA_TYPES } from '../oci/media-types.js'
import { platformString } from '../oci/platform.js'
import type { ImageNames } from '../plan/names.js'
import type { RegistryClient } from '../registry/client.js'
import { phase } from '../report/phase.js'
import { describeOrWarn, type Published } from './describe.js'
import { tagTheRest, type PublishedManifest } from './tags.js'
import { pushSavedImage, workFolder } from './upload.js'

/** What the push needs from the session: the engine, the client, a temp folder, the warm-up. */
export interface PushEnvironment {
  docker: Docker
  registry: RegistryClient
  temp: string
  /** The registry token for the push, asked for while the image was built. */
  warmUp?: Promise<unknown>
}

/** The image uploaded under the first tag; every further tag is one manifest PUT. */
export async function pushTags(
  env: PushEnvironment,
  names: ImageNames,
  imageId: string
): Promise<Published> {
  const { registry } = env
  const [firstTag] = names.tags
  const pushed = await phase('push', names.registry, () =>
    core.group(`Push ${names.image}:${firstTag}`, () =>
      uploadSavedImage(env, names, imageId, firstTag)
    )
  )
  const manifest = await phase('read-back', names.registry, () =>
    core.group(
      names.tags.length > 1
        ? `Tag ${names.tags.length - 1} more through the registry API`
        : 'The digest the registry answered',
      async () => {
        const m = await tagTheRest(registry, names, pushed.manifest)
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
  imageId: string
): Promise<Published> {
  const pushed = await phase('push', names.registry, () =>
    core.group(`Push ${names.image} by digest, without a tag`, () =>
      uploadSavedImage(env, names, imageId)
    )
  )
  core.info(`Digest: ${pushed.manifest.digest} (${env.registry.requests} registry API requests)`)
  return {
    digest: pushed.manifest.digest,
    size: pushed.image.layers.reduce((sum, l) => sum + l.size, 0),
    platform: pushed.platform
  }
}

/** docker save, then the upload through the registry client (by digest, or under `tag`). */
async function uploadSavedImage(
  { docker, registry, temp, warmUp }: PushEnvironment,
  names: ImageNames,
  imageId: string,
  tag?: string
): Promise<{ manifest: PublishedManifest; image: SavedImage; platform: string }> {
  const work = workFolder(temp)
  try {
    const tar = path.join(work.dir, 'image.tar')
    await docker.save(imageId, tar)
    const image = await readSavedImage(tar, work.dir)
    rmSync(tar, { force: true })
    const config = parseJson<ImageConfigJson>(image.config)
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
