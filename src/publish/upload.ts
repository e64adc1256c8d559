/**
 * The last step of a push (push.ts uploads the blobs as `docker save` streams them): the image
 * manifest (OCI, or Docker v2 with media-types: docker) PUT by its digest or under a tag, checked
 * against what the registry stored; and the work folder the layers are compressed into.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import * as path from 'node:path'
import { sha256 } from '../oci/digest.js'
import type { LayerBlob } from '../oci/layer-blob.js'
import { FAMILY_TYPES, layerTypeIn, type MediaTypeFamily } from '../oci/media-types.js'
import type { RegistryClient } from '../registry/client.js'
import { WORK_FOLDER_PREFIX } from '../util/work-folder.js'

/** What a manifest names: the config's bytes, and each layer's blob. */
export interface ImageBlobs {
  config: Buffer
  layers: LayerBlob[]
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
  return manifestBytes(
    { digest: configDigest, size: image.config.length },
    image.layers,
    annotations,
    family
  )
}

/** An image manifest in `family`'s media types, from the config's and the layers' descriptors. */
export function manifestBytes(
  config: { digest: string; size: number },
  layers: { mediaType: string; digest: string; size: number }[],
  annotations: Record<string, string> = {},
  family: MediaTypeFamily = 'oci'
): Buffer {
  const types = FAMILY_TYPES[family]
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, digest: config.digest, size: config.size },
      layers: layers.map(l => ({
        mediaType: layerTypeIn(family, l.mediaType),
        digest: l.digest,
        size: l.size
      })),
      ...(Object.keys(annotations).length && family === 'oci' ? { annotations } : {})
    })
  )
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
  return putManifestBytes(client, repository, manifest, FAMILY_TYPES[family].manifest, tag)
}

/**
 * PUTs a manifest or index (`bytes`) by its digest or under `tag`; the registry must store it
 * under the sha256 of the bytes sent.
 */
export async function putManifestBytes(
  client: RegistryClient,
  repository: string,
  bytes: Buffer,
  mediaType: string,
  tag?: string
): Promise<{ digest: string; manifest: Buffer }> {
  const digest = sha256(bytes)
  const stored = await putAndRead(client, repository, tag ?? digest, bytes, mediaType)
  if (stored !== digest) {
    throw new Error(
      `${client.registry} did not store the manifest ${digest} in ${repository} (it answers ${stored ?? 'nothing'})`
    )
  }
  return { digest, manifest: bytes }
}

/**
 * PUTs a manifest under `reference`: the digest the registry says it stored, or, when its answer
 * names none, the one it then serves there (HEAD).
 */
export async function putAndRead(
  client: RegistryClient,
  repository: string,
  reference: string,
  bytes: Buffer,
  mediaType: string
): Promise<string | undefined> {
  return (
    (await client.putManifest(repository, reference, bytes, mediaType)) ??
    (await client.headManifest(repository, reference))?.digest
  )
}

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
