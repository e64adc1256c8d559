/** The JSON shapes of manifests, indexes and configs, as far as the action reads them. */
import type { Platform } from './platform.js'

/** A content descriptor: what a manifest lists (config, layers) and an index lists (manifests). */
export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: Platform & { 'os.version'?: string; 'os.features'?: string[] }
  annotations?: Record<string, string>
}

/** An image manifest or an index: whichever fields it has. */
export interface ManifestJson {
  mediaType?: string
  config?: Descriptor
  layers?: Descriptor[]
  manifests?: Descriptor[]
  annotations?: Record<string, string>
}

/** The parts of an image config the action reads. */
export interface ImageConfigJson {
  os?: string
  architecture?: string
  variant?: string
  'os.version'?: string
  'os.features'?: string[]
  rootfs?: { diff_ids?: string[] }
}

/** Compressed size of an image: the sum of its layers as the manifest lists them. */
export function layerBytes(manifest: ManifestJson): number {
  return (manifest.layers ?? []).reduce((sum, layer) => sum + (Number(layer.size) || 0), 0)
}

/** An attestation manifest (provenance, SBOM) that buildx lists in an index next to an image. */
export function isAttestation(d: Descriptor): boolean {
  return (
    d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ||
    (d.platform?.os === 'unknown' && d.platform?.architecture === 'unknown')
  )
}

export function parseJson<T>(bytes: Buffer): T {
  return JSON.parse(bytes.toString('utf8')) as T
}
