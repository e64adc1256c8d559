/** Images as bytes, for tests that play a registry or push through its API. */
import { createHash } from 'node:crypto'

/** The digest (sha256:…) of some bytes. */
export const sha256Of = (b: Buffer | string): string =>
  'sha256:' + createHash('sha256').update(b).digest('hex')

/** gzip'd tar layer, the OCI media type. */
export const OCI_GZIP_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip'

/** The bytes of an OCI image manifest naming `config` (its bytes) and `layers` (descriptors). */
export function ociManifestOf(
  config: Buffer,
  layers: { mediaType: string; digest: string; size: number }[]
): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256Of(config),
        size: config.length
      },
      layers
    })
  )
}

/** An index's entry for buildx's attestation manifest (`digest`, 5 bytes, platform unknown). */
export function attestationEntry(digest: string): {
  mediaType: string
  digest: string
  size: number
  platform: { os: string; architecture: string }
  annotations: Record<string, string>
} {
  return {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest,
    size: 5,
    platform: { os: 'unknown', architecture: 'unknown' },
    annotations: { 'vnd.docker.reference.type': 'attestation-manifest' }
  }
}
