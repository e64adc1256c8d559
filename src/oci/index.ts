/**
 * Assembling an OCI image index from image descriptors (and the attestations that describe them).
 * Pure: reading the images is the caller's business.
 */
import { isAttestation, type Descriptor } from './descriptor.js'
import { MEDIA_TYPES } from './media-types.js'
import { parsePlatform, platformKey, platformString } from './platform.js'

export interface AssembledIndex {
  /** The index's bytes, as PUT under every tag. */
  bytes: Buffer
  mediaType: string
  /** os/arch[/variant] of every image, in the index's order. */
  platforms: string[]
}

function keyOf(d: Descriptor): string {
  return platformKey(d.platform ?? parsePlatform(''))
}

/** Platforms that more than one image claims: `key → digests`. Attestations do not count. */
export function duplicatePlatforms(entries: Descriptor[]): [string, string[]][] {
  const byPlatform = new Map<string, string[]>()
  for (const e of uniqueByDigest(entries).filter(e => !isAttestation(e))) {
    byPlatform.set(keyOf(e), [...(byPlatform.get(keyOf(e)) ?? []), e.digest])
  }
  return [...byPlatform].filter(([, digests]) => digests.length > 1)
}

function uniqueByDigest(entries: Descriptor[]): Descriptor[] {
  return entries.filter((e, i) => entries.findIndex(o => o.digest === e.digest) === i)
}

/**
 * The index listing `entries`: images sorted by platform (the same digests give the same index,
 * whatever order they came in), each attestation right after the image it describes, attestations
 * of images not listed last. The caller has checked that no platform comes twice.
 */
export function assembleIndex(
  entries: Descriptor[],
  annotations: Record<string, string> = {}
): AssembledIndex {
  const unique = uniqueByDigest(entries)
  const images = unique
    .filter(e => !isAttestation(e))
    .sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0))
  const attestations = unique.filter(isAttestation)
  const ordered = images.flatMap(e => [
    e,
    ...attestations.filter(a => a.annotations?.['vnd.docker.reference.digest'] === e.digest)
  ])
  for (const a of attestations) if (!ordered.includes(a)) ordered.push(a)
  const index: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: ordered
  }
  if (Object.keys(annotations).length) index.annotations = annotations
  return {
    bytes: Buffer.from(JSON.stringify(index)),
    mediaType: MEDIA_TYPES.ociIndex,
    platforms: images.map(e => platformString(e.platform))
  }
}
