/**
 * Uploading a saved image (docker/save.ts) through the registry client: layers (streamed from
 * their files) and the config unless the repository has them, then an OCI image manifest PUT by
 * its digest or under a tag. `docker push` cannot push without a tag, nor retry each request on
 * its own; this can.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import * as path from 'node:path'
import type { SavedImage } from '../docker/save.js'
import { sha256 } from '../oci/digest.js'
import { CONFIG_MEDIA_TYPE, MEDIA_TYPES } from '../oci/media-types.js'
import type { RegistryClient } from '../registry/client.js'
import { mapLimit } from '../util/concurrency.js'

/** The OCI image manifest of a saved image. */
export function imageManifest(image: SavedImage, configDigest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: CONFIG_MEDIA_TYPE, digest: configDigest, size: image.config.length },
      layers: image.layers.map(l => ({ mediaType: l.mediaType, digest: l.digest, size: l.size }))
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
  tag?: string
): Promise<PushedByDigest> {
  // The config's own hash: with the containerd image store the image ID is not the config's.
  const configDigest = sha256(image.config)
  const unique = image.layers.filter(
    (l, i) => image.layers.findIndex(o => o.digest === l.digest) === i
  )
  const how = await mapLimit(unique, concurrency, layer => client.uploadBlob(repository, layer))
  how.push(await client.uploadBlob(repository, image.config))
  const manifest = imageManifest(image, configDigest)
  const digest = sha256(manifest)
  const stored =
    (await client.putManifest(repository, tag ?? digest, manifest, MEDIA_TYPES.ociManifest)) ??
    (await client.headManifest(repository, tag ?? digest))?.digest
  if (stored !== digest) {
    throw new Error(
      `${client.registry} did not store the manifest ${digest} in ${repository} (it answers ${stored ?? 'nothing'})`
    )
  }
  return {
    digest,
    manifest,
    uploaded: how.filter(h => h === 'uploaded' || h === 'mounted').length,
    existing: how.filter(h => h === 'exists').length
  }
}

/** A temporary folder for the saved image; `dispose` removes it. */
export function workFolder(root: string): { dir: string; dispose: () => void } {
  const dir = mkdtempSync(path.join(root, 'publish-container-save-'))
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) }
}
