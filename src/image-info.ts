/**
 * Size and platform of the published image, for the summary and the metadata output. After a
 * push they come from the registry (what was really published): the compressed size is the sum
 * of the layer sizes in the manifest, the platform the config's os/architecture[/variant]. For an
 * image index (multi-platform, or with attestations) every platform manifest is read, attestation
 * manifests (platform unknown/unknown) are skipped, and the sizes are added up.
 */
import type { RegistryClient } from './registry.js'

export interface ImageInfo {
  /** Compressed size in bytes (the layers as stored in the registry); null when not known. */
  size: number | null
  /** os/architecture[/variant], comma-separated for several platforms. */
  platform: string
}

interface Descriptor {
  mediaType?: string
  digest: string
  size: number
  platform?: { os?: string; architecture?: string; variant?: string }
}

interface Manifest {
  config?: Descriptor
  layers?: Descriptor[]
  manifests?: Descriptor[]
}

interface ImageConfig {
  os?: string
  architecture?: string
  variant?: string
}

export function platformString(p: {
  os?: string
  architecture?: string
  variant?: string
}): string {
  return [p.os || 'unknown', p.architecture || 'unknown', p.variant].filter(Boolean).join('/')
}

function layerBytes(manifest: Manifest): number {
  return (manifest.layers ?? []).reduce((sum, layer) => sum + (Number(layer.size) || 0), 0)
}

/** What is known already, to spare requests: the manifest's bytes, and a config with its digest. */
export interface KnownImageData {
  manifest?: Buffer
  config?: { digest: string; platform: string }
}

/**
 * Reads size and platform of `reference` (a digest) from the registry. A known manifest spares
 * its GET; a known config spares the config GET when its digest is the one the manifest names.
 */
export async function describePushedImage(
  client: Pick<RegistryClient, 'getManifest' | 'getBlob'>,
  repository: string,
  reference: string,
  known: KnownImageData = {}
): Promise<ImageInfo> {
  const bytes = known.manifest ?? (await client.getManifest(repository, reference)).bytes
  const top = JSON.parse(bytes.toString('utf8')) as Manifest
  if (Array.isArray(top.manifests)) {
    const images = top.manifests.filter(
      d => !(d.platform?.os === 'unknown' && d.platform?.architecture === 'unknown')
    )
    let size = 0
    for (const d of images) {
      const child = JSON.parse(
        (await client.getManifest(repository, d.digest)).bytes.toString('utf8')
      ) as Manifest
      size += layerBytes(child)
    }
    return { size, platform: images.map(d => platformString(d.platform ?? {})).join(',') }
  }
  if (!top.config) throw new Error(`the manifest of ${repository}@${reference} has no config`)
  if (known.config && known.config.digest === top.config.digest) {
    return { size: layerBytes(top), platform: known.config.platform }
  }
  const config = JSON.parse(
    (await client.getBlob(repository, top.config.digest)).toString('utf8')
  ) as ImageConfig
  return { size: layerBytes(top), platform: platformString(config) }
}
