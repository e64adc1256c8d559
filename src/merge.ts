/**
 * merge-digests: images pushed by digest (one per platform, each from its own runner) become one
 * OCI image index, without a build and without docker. The registry client reads each manifest
 * and, for an image manifest, its config (os, architecture, variant), all concurrently; the index
 * lists each image under its platform. Nothing is pushed unless every digest is in the repository
 * and no platform comes twice; then the index is PUT under every tag (tags.ts).
 *
 * A digest may also name an index (e.g. a buildx push-by-digest with provenance): its entries are
 * taken over as they are, attestation manifests included.
 */
import { UserError } from './errors.js'
import type { ImageNames } from './naming.js'
import { parsePlatform, platformKey, type Platform } from './platforms.js'
import { MEDIA_TYPES, RegistryError, type RegistryClient } from './registry.js'
import { mapLimit } from './tags.js'

/** One merge-digests entry: a digest, and the image it was given with (IMAGE@DIGEST), if any. */
export interface MergeEntry {
  digest: string
  image?: string
}

const DIGEST = /^sha256:[0-9a-f]{64}$/

/**
 * The `merge-digests` input: digests separated by newlines (commas and blanks also work), each
 * `sha256:<64 hex>` or `IMAGE@sha256:<64 hex>` (the `digest` or `image-ref` output of a
 * push-by-digest job). Checked before anything is sent anywhere.
 */
export function parseMergeDigests(value: string): MergeEntry[] {
  const entries: MergeEntry[] = []
  const seen = new Set<string>()
  for (const raw of value.split(/[\s,]+/).filter(s => s !== '')) {
    const at = raw.lastIndexOf('@')
    const digest = at >= 0 ? raw.slice(at + 1) : raw
    const image = at >= 0 ? raw.slice(0, at) : undefined
    if (!DIGEST.test(digest) || image === '') {
      const short = raw.length > 80 ? raw.slice(0, 80) + '…' : raw
      const hint = /^[0-9a-f]{64}$/.test(digest)
        ? `add the prefix: 'sha256:${digest}'`
        : /^sha256:[0-9a-fA-F]{64}$/.test(digest)
          ? 'the hex digits must be lowercase'
          : 'give sha256: and 64 hex digits'
      throw new UserError(
        `merge-digests entry '${short}' is not a digest: ${hint}. Give one digest per line, as ` +
          'the digest output of each push-by-digest job prints it.'
      )
    }
    if (seen.has(digest)) {
      throw new UserError(
        `merge-digests lists ${digest} twice: give each image once (a digest is one platform's image).`
      )
    }
    seen.add(digest)
    entries.push(image === undefined ? { digest } : { digest, image })
  }
  return entries
}

/**
 * Entries given as IMAGE@DIGEST must name the image the index is pushed to: an index can only
 * reference manifests of its own repository.
 */
export function checkMergeImages(entries: MergeEntry[], names: Pick<ImageNames, 'image'>): void {
  for (const entry of entries) {
    if (entry.image !== undefined && entry.image !== names.image) {
      throw new UserError(
        `merge-digests entry '${entry.image}@${entry.digest}' is an image of ${entry.image}, but the ` +
          `index is pushed to ${names.image}: an index can only list images of its own repository. ` +
          'Give every job the same registry, owner and image-name.'
      )
    }
  }
}

/** A manifest descriptor as an index lists it. */
export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: Platform & { 'os.version'?: string; 'os.features'?: string[] }
  annotations?: Record<string, string>
}

interface ManifestJson {
  mediaType?: string
  config?: { digest: string }
  layers?: { size: number }[]
  manifests?: Descriptor[]
}

interface ConfigJson {
  os?: string
  architecture?: string
  variant?: string
  'os.version'?: string
  'os.features'?: string[]
}

export interface MergedIndex {
  /** The index's bytes, as PUT under every tag. */
  bytes: Buffer
  mediaType: string
  /** os/arch[/variant] of every image, in the index's order. */
  platforms: string[]
  /** Sum of the compressed layer sizes of every image. */
  size: number
}

const IMAGE_MANIFESTS: string[] = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]
const INDEXES: string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList]

interface Read {
  descriptors: Descriptor[]
  /** Compressed size of the image(s): the sum of their layers. */
  size: number
}

function layerBytes(manifest: ManifestJson): number {
  return (manifest.layers ?? []).reduce((sum, l) => sum + (Number(l.size) || 0), 0)
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
}

function keyOf(d: Descriptor): string {
  return platformKey(d.platform ?? parsePlatform(''))
}

function platformText(p: Platform | undefined): string {
  return [p?.os || 'unknown', p?.architecture || 'unknown', p?.variant].filter(Boolean).join('/')
}

/**
 * Reads every digest from `repository` (its manifest, and the config of an image manifest) and
 * returns the index that lists them. Throws a UserError naming every digest the repository does
 * not have, or every platform that comes twice; nothing has been pushed then.
 */
export async function buildMergedIndex(
  client: Pick<RegistryClient, 'getManifest' | 'getBlob' | 'registry'>,
  repository: string,
  digests: string[],
  annotations: Record<string, string> = {},
  concurrency = 8
): Promise<MergedIndex> {
  // 1. Every manifest, concurrently; a 404 means the repository does not have it.
  const missing: string[] = []
  const fetched = await mapLimit(digests, concurrency, async digest => {
    try {
      return await client.getManifest(repository, digest)
    } catch (error) {
      if (error instanceof RegistryError && error.status === 404) {
        missing.push(`${digest} (${error.code.toLowerCase()})`)
        return undefined
      }
      throw error
    }
  })
  if (missing.length) {
    const ordered = digests.flatMap(d => missing.filter(m => m.startsWith(d)))
    throw new UserError(
      `merge-digests: ${client.registry}/${repository} has no manifest ${ordered.join(', ')}. ` +
        'Each digest must be the digest output of a push-by-digest job that pushed to this same ' +
        'image (registry, owner, image-name); imageid is not a digest. Nothing was pushed.'
    )
  }

  // 2. What each one is: an image (its platform is in its config), or an index (taken over).
  const parsed = fetched.map((m, i) => {
    const json = JSON.parse(m!.bytes.toString('utf8')) as ManifestJson
    const mediaType = json.mediaType || m!.mediaType
    return { digest: digests[i], bytes: m!.bytes, json, mediaType }
  })
  const read = await mapLimit(parsed, concurrency, async (p): Promise<Read> => {
    if (INDEXES.includes(p.mediaType) || Array.isArray(p.json.manifests)) {
      const listed = p.json.manifests ?? []
      const sizes = await Promise.all(
        listed
          .filter(d => !isAttestation(d))
          .map(async d =>
            layerBytes(
              JSON.parse((await client.getManifest(repository, d.digest)).bytes.toString('utf8'))
            )
          )
      )
      return { descriptors: listed, size: sizes.reduce((a, b) => a + b, 0) }
    }
    if (!IMAGE_MANIFESTS.includes(p.mediaType) || !p.json.config) {
      throw new UserError(
        `merge-digests: ${p.digest} is a ${p.mediaType || 'manifest of unknown type'}, not an image ` +
          'manifest or index: it cannot be listed in an image index.'
      )
    }
    const config = JSON.parse(
      (await client.getBlob(repository, p.json.config.digest)).toString('utf8')
    ) as ConfigJson
    if (!config.os || !config.architecture) {
      throw new UserError(
        `merge-digests: the config of ${p.digest} names no os and architecture, so the image has no platform to be listed under.`
      )
    }
    const platform: Descriptor['platform'] = { architecture: config.architecture, os: config.os }
    if (config.variant) platform.variant = config.variant
    if (config['os.version']) platform['os.version'] = config['os.version']
    if (config['os.features']?.length) platform['os.features'] = config['os.features']
    const descriptor = { mediaType: p.mediaType, digest: p.digest, size: p.bytes.length, platform }
    return { descriptors: [descriptor], size: layerBytes(p.json) }
  })

  // 3. The entries, one per platform; an index's entries (and its attestations) as they are.
  const entries = read.flatMap(r => r.descriptors)
  const unique = entries.filter((e, i) => entries.findIndex(o => o.digest === e.digest) === i)
  const platformEntries = unique.filter(e => !isAttestation(e))
  const byPlatform = new Map<string, typeof unique>()
  for (const e of platformEntries) {
    const key = keyOf(e)
    byPlatform.set(key, [...(byPlatform.get(key) ?? []), e])
  }
  const twice = [...byPlatform].filter(([, list]) => list.length > 1)
  if (twice.length) {
    const text = twice
      .map(([key, list]) => `${key}: ${list.map(e => e.digest).join(' and ')}`)
      .join('; ')
    throw new UserError(
      `merge-digests has more than one image for the same platform (${text}): an index lists one ` +
        'image per platform. Give one digest per platform (did two matrix jobs build for the same ' +
        'platform?). Nothing was pushed.'
    )
  }

  // 4. The index: images sorted by platform (the same digests give the same index, whatever
  //    order the matrix jobs finished in), each attestation after the image it describes.
  const sorted = [...platformEntries].sort((a, b) =>
    keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0
  )
  const attestations = unique.filter(isAttestation)
  const ordered = sorted.flatMap(e => [
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
    platforms: sorted.map(e => platformText(e.platform)),
    size: read.reduce((sum, r) => sum + r.size, 0)
  }
}
