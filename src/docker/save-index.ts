/**
 * The images of a `docker save` that index.json lists (an image of several platforms, containerd
 * image store): one per platform, following nested indexes, attestation manifests skipped.
 */
import { isAttestation, parseJson, type ManifestJson } from '../oci/descriptor.js'
import { IMAGE_MANIFEST_TYPES, INDEX_TYPES } from '../oci/media-types.js'
import { platformString, type Platform } from '../oci/platform.js'

/** Where one image's config and layers are in the save. */
export interface ImagePaths {
  config: string
  layers: string[]
  platform?: Partial<Platform>
}

/** `blobs/ALG/HEX` of a digest in the OCI layout. */
function blobPath(digest: string): string {
  return `blobs/${digest.replace(':', '/')}`
}

/**
 * The platform images that index.json lists (following nested indexes), attestation manifests
 * skipped: those whose manifest, config and layers are all in the save, and the platforms of
 * those that are not (an image pulled for one platform lists the others without their content).
 */
export function imagesInIndex(
  read: (path: string) => Buffer | undefined,
  present: (path: string) => boolean
): { complete: ImagePaths[]; incomplete: string[] } {
  const complete: ImagePaths[] = []
  const incomplete: string[] = []
  const top = read('index.json')
  if (!top) return { complete, incomplete }
  const seen = new Set<string>()
  const walk = (index: ManifestJson, depth: number): void => {
    for (const d of index.manifests ?? []) {
      if (seen.has(d.digest) || isAttestation(d)) continue
      seen.add(d.digest)
      const bytes = read(blobPath(d.digest))
      if (INDEX_TYPES.includes(d.mediaType)) {
        if (bytes && depth < 4) walk(parseJson<ManifestJson>(bytes), depth + 1)
        continue
      }
      if (!IMAGE_MANIFEST_TYPES.includes(d.mediaType)) continue
      const manifest = bytes && parseJson<ManifestJson>(bytes)
      const layers = (manifest?.layers ?? []).map(l => blobPath(l.digest))
      if (manifest?.config && present(blobPath(manifest.config.digest)) && layers.every(present)) {
        complete.push({ config: blobPath(manifest.config.digest), layers, platform: d.platform })
      } else {
        incomplete.push(platformString(d.platform))
      }
    }
  }
  walk(parseJson<ManifestJson>(top), 0)
  return { complete, incomplete }
}
