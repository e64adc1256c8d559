/**
 * Uploading a saved image (docker/save.ts) through the registry client: layers (streamed from
 * their files) and the config unless the repository has them, then an image manifest (OCI, or
 * Docker v2 with media-types: docker) PUT by
 * its digest or under a tag. `docker push` cannot push without a tag, nor retry each request on
 * its own; this can.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import * as path from 'node:path'
import type { SavedImage } from '../docker/save.js'
import { sha256 } from '../oci/digest.js'
import { FAMILY_TYPES, layerTypeIn, type MediaTypeFamily } from '../oci/media-types.js'
import type { RegistryClient } from '../registry/client.js'
import { mapLimit } from '../util/concurrency.js'

/** What a manifest names: the config's bytes, and each layer's blob. */
export interface ImageBlobs {
  config: Buffer
  layers: { mediaType: string; digest: string; size: number; file?: string; diffId?: string }[]
}

/**
 * The image manifest of a saved image, in `family`'s media types (oci/media-types.ts), with the
 * `annotations` input's when there are any (OCI only: the plan refuses them with Docker v2).
 * Throws a UserError for layers the family has no type for (zstd in Docker v2).
 */
export function imageManifest(
  image: ImageBlobs,
  configDigest: string,
  annotations: Record<string, string> = {},
  family: MediaTypeFamily = 'oci'
): Buffer {
  const types = FAMILY_TYPES[family]
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, digest: configDigest, size: image.config.length },
      layers: image.layers.map(l => ({
        mediaType: layerTypeIn(family, l.mediaType),
        digest: l.digest,
        size: l.size
      })),
      ...(Object.keys(annotations).length && family === 'oci' ? { annotations } : {})
    })
  )
}

export interface PushedByDigest {
  digest: string
  manifest: Buffer
  /** Blobs uploaded, and blobs the repository had already. */
  uploaded: number
  existing: number
}

/**
 * Uploads the saved image's layers (a few at a time) and config unless the repository has them,
 * then PUTs its manifest by digest, or under `tag`. Returns the digest the registry stored it
 * under, which must be the sha256 of the manifest sent.
 */
export async function pushSavedImage(
  client: RegistryClient,
  repository: string,
  image: SavedImage,
  concurrency = 3,
  /** A tag to store the manifest under; by its digest (no tag) when not given. */
  tag?: string,
  /** The manifest's annotations (the annotations input). */
  annotations?: Record<string, string>,
  /** The media types of the manifest (media-types input). */
  family: MediaTypeFamily = 'oci'
): Promise<PushedByDigest> {
  // Made first: layers the family cannot name fail before any upload.
  imageManifest(image, sha256(image.config), annotations, family)
  const unique = image.layers.filter(
    (l, i) => image.layers.findIndex(o => o.digest === l.digest) === i
  )
  const how = await mapLimit(unique, concurrency, layer => client.uploadBlob(repository, layer))
  how.push(await client.uploadBlob(repository, image.config))
  const { digest, manifest } = await putImageManifest(
    client,
    repository,
    image,
    tag,
    annotations,
    family
  )
  return {
    digest,
    manifest,
    uploaded: how.filter(h => h === 'uploaded' || h === 'mounted').length,
    existing: how.filter(h => h === 'exists').length
  }
}

/**
 * PUTs the manifest (OCI, or Docker v2) of an image whose blobs are all in the repository, by its digest or under
 * `tag`; the registry must store it under the sha256 of the bytes sent.
 */
export async function putImageManifest(
  client: RegistryClient,
  repository: string,
  image: ImageBlobs,
  tag?: string,
  annotations?: Record<string, string>,
  /** The media types of the manifest (media-types input). */
  family: MediaTypeFamily = 'oci'
): Promise<{ digest: string; manifest: Buffer }> {
  // The config's own hash: with the containerd image store the image ID is not the config's.
  const manifest = imageManifest(image, sha256(image.config), annotations, family)
  const digest = sha256(manifest)
  const mediaType = FAMILY_TYPES[family].manifest
  const stored =
    (await client.putManifest(repository, tag ?? digest, manifest, mediaType)) ??
    (await client.headManifest(repository, tag ?? digest))?.digest
  if (stored !== digest) {
    throw new Error(
      `${client.registry} did not store the manifest ${digest} in ${repository} (it answers ${stored ?? 'nothing'})`
    )
  }
  return { digest, manifest }
}

export const WORK_FOLDER_PREFIX = 'publish-container-save-'

/**
 * A temporary folder for the compressed layers; `dispose` removes it. Its path goes into the
 * step's state first, so the post step removes it also after a cancelled or killed main step.
 */
export function workFolder(
  root: string,
  record: (dir: string) => void = () => undefined
): { dir: string; dispose: () => void } {
  const dir = mkdtempSync(path.join(root, WORK_FOLDER_PREFIX))
  record(dir)
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) }
}
