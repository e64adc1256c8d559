/**
 * merge-digests: images pushed by digest (one per platform, each from its own runner) become one
 * image index (OCI, or a Docker manifest list: one family, never mixed), without a build and without docker. The registry client reads each manifest
 * and, for an image manifest, its config (os, architecture, variant), all concurrently; the index
 * lists each image under its platform (oci/index.ts). Nothing is pushed unless every digest is in
 * the repository and no platform comes twice; then the index is PUT under every tag (tags.ts).
 *
 * A digest may also name an index (e.g. a buildx push-by-digest with provenance): its entries are
 * taken over as they are, attestation manifests included.
 */
import * as core from '@actions/core'
import type { MergeEntry } from '../plan/merge-digests.js'
import type { ImageNames } from '../plan/names.js'
import type { RegistryClient } from '../registry/client.js'
import { RegistryError } from '../registry/errors.js'
import { phase } from '../report/phase.js'
import {
  isAttestation,
  layerBytes,
  parseJson,
  type Descriptor,
  type ImageConfigJson,
  type ManifestJson
} from '../oci/descriptor.js'
import {
  assembleIndex,
  duplicatePlatforms,
  foreignEntries,
  type AssembledIndex
} from '../oci/index.js'
import {
  FAMILY_TYPES,
  IMAGE_MANIFEST_TYPES,
  INDEX_TYPES,
  familyOf,
  type MediaTypeFamily
} from '../oci/media-types.js'
import type { MediaTypesChoice } from '../plan/media-types.js'
import { manifestAnnotations } from '../plan/build-options.js'
import type { Session } from '../session/session.js'
import { mapLimit } from '../util/concurrency.js'
import { UserError } from '../util/errors.js'
import type { Published } from './describe.js'
import { putUnderEveryTag } from './tags.js'
import { outside, quote } from '../util/text.js'
import { badPlatformField, type PlatformFields } from '../oci/platform.js'

export interface MergedIndex extends AssembledIndex {
  /** Sum of the compressed layer sizes of every image. */
  size: number
  /** The family the index was written in; its annotations are left out of a Docker list. */
  family: MediaTypeFamily
}

/**
 * The family of the index: the one asked for, else the one of the images. An index never mixes
 * families (docs/facts/github-registries.md, "ghcr.io protocol details": Quay breaks on mixed
 * indexes), so mixed images are refused, not converted: converting would give the images new
 * digests, not the ones the build jobs output.
 */
function chooseFamily(entries: Descriptor[], asked: MediaTypesChoice | undefined): MediaTypeFamily {
  if (asked?.given) return asked.family
  const images = entries.filter(e => !isAttestation(e))
  const families = new Set(images.map(e => familyOf(e.mediaType)))
  if (families.size > 1) {
    const of = (f: MediaTypeFamily): string =>
      `${FAMILY_TYPES[f].name} images (${images
        .filter(e => familyOf(e.mediaType) === f)
        .map(e => e.digest)
        .join(', ')})`
    throw new UserError(
      `merge-digests lists ${of('oci')} and ${of('docker')}: an index never mixes the two ` +
        'families (registries and tools break on it). Give the build jobs the same media-types ' +
        'input and re-run them. Nothing was pushed.'
    )
  }
  const [only] = [...families]
  return only ?? asked?.family ?? 'oci'
}

/**
 * Platform fields go into the index as they are: a value outside the platform grammar (a newline,
 * a workflow command, ESC, …) is refused, naming the image and the field.
 */
function refuseBadPlatform(digest: string, where: string, fields: PlatformFields): void {
  const bad = badPlatformField(fields)
  if (!bad) return
  const value = typeof bad.value === 'string' ? bad.value : (JSON.stringify(bad.value) ?? 'nothing')
  throw new UserError(
    `merge-digests: the ${where} of ${digest} names ${bad.field} ${outside(quote(value, 100))}, ` +
      'which is not a platform value (letters, digits, and _ . - only; % too in os.version and ' +
      'os.features): it cannot go into an index. Rebuild that image with a valid platform. ' +
      'Nothing was pushed.'
  )
}

interface Read {
  descriptors: Descriptor[]
  /** Compressed size of the image(s): the sum of their layers. */
  size: number
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
  concurrency = 8,
  /** The media-types input; when not given, the index takes the family of the images. */
  mediaTypes?: MediaTypesChoice
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
  const read = await mapLimit(fetched, concurrency, async (m, i): Promise<Read> => {
    const json = parseJson<ManifestJson>(m!.bytes)
    const mediaType = json.mediaType || m!.mediaType
    const digest = digests[i]
    if (INDEX_TYPES.includes(mediaType) || Array.isArray(json.manifests)) {
      const listed = json.manifests ?? []
      for (const d of listed)
        if (d.platform) refuseBadPlatform(digest, `entry ${d.digest}`, d.platform)
      const sizes = await Promise.all(
        listed
          .filter(d => !isAttestation(d))
          .map(async d =>
            layerBytes(
              parseJson<ManifestJson>((await client.getManifest(repository, d.digest)).bytes)
            )
          )
      )
      return { descriptors: listed, size: sizes.reduce((a, b) => a + b, 0) }
    }
    if (!IMAGE_MANIFEST_TYPES.includes(mediaType) || !json.config) {
      throw new UserError(
        `merge-digests: ${digest} is a ${mediaType || 'manifest of unknown type'}, not an image ` +
          'manifest or index: it cannot be listed in an image index.'
      )
    }
    const config = parseJson<ImageConfigJson>(await client.getBlob(repository, json.config.digest))
    if (!config.os || !config.architecture) {
      throw new UserError(
        `merge-digests: the config of ${digest} names no os and architecture, so the image has no platform to be listed under.`
      )
    }
    refuseBadPlatform(digest, 'config', config)
    const platform: Descriptor['platform'] = { architecture: config.architecture, os: config.os }
    if (config.variant) platform.variant = config.variant
    if (config['os.version']) platform['os.version'] = config['os.version']
    if (config['os.features']?.length) platform['os.features'] = config['os.features']
    return {
      descriptors: [{ mediaType, digest, size: m!.bytes.length, platform }],
      size: layerBytes(json)
    }
  })

  // 3. One image per platform; then the index.
  const entries = read.flatMap(r => r.descriptors)
  const twice = duplicatePlatforms(entries)
  if (twice.length) {
    const text = twice.map(([key, list]) => `${key}: ${list.join(' and ')}`).join('; ')
    throw new UserError(
      `merge-digests has more than one image for the same platform (${text}): an index lists one ` +
        'image per platform. Give one digest per platform (did two matrix jobs build for the same ' +
        'platform?). Nothing was pushed.'
    )
  }
  const family = chooseFamily(entries, mediaTypes)
  const foreign = foreignEntries(entries, family)
  if (foreign.length) {
    const what = foreign
      .map(e => `${e.digest} (${isAttestation(e) ? 'an attestation, OCI only' : e.mediaType})`)
      .join(', ')
    throw new UserError(
      `merge-digests: media-types is ${family}, so the index is a ${FAMILY_TYPES[family].name} ` +
        `${family === 'docker' ? 'manifest list' : 'index'}, which cannot list ${what}: an index ` +
        `never mixes the two families. Push the images with media-types: ${family}${
          family === 'docker' ? ' and without provenance or sbom' : ''
        }, or set media-types: ${family === 'docker' ? 'oci' : 'docker'} in this step. Nothing was pushed.`
    )
  }
  return {
    ...assembleIndex(entries, annotations, family),
    size: read.reduce((sum, r) => sum + r.size, 0),
    family
  }
}

/**
 * merge-digests: reads each image (manifest and config) and PUTs one index listing them under every
 * tag. Nothing is pushed when a digest is missing or a platform comes twice.
 */
export async function mergeIndex(
  registry: RegistryClient,
  names: ImageNames,
  entries: MergeEntry[],
  annotations: Record<string, string>,
  mediaTypes?: MediaTypesChoice
): Promise<Published & { annotated: boolean }> {
  const index = await phase('read-back', names.registry, () =>
    core.group(`Read the ${entries.length} images to merge from ${names.image}`, async () => {
      const merged = await buildMergedIndex(
        registry,
        names.path,
        entries.map(e => e.digest),
        annotations,
        8,
        mediaTypes
      )
      core.info(`Platforms: ${outside(merged.platforms.join(', '))}`)
      core.info(`Media types: ${FAMILY_TYPES[merged.family].name} (${merged.mediaType})`)
      if (!FAMILY_TYPES[merged.family].indexAnnotations && Object.keys(annotations).length) {
        core.info('A Docker manifest list has no annotations: the labels are not attached to it.')
      }
      return merged
    })
  )
  const manifest = await phase('push', names.registry, () =>
    core.group(`Push the index under ${names.tags.length} tag(s)`, async () => {
      const m = await putUnderEveryTag(registry, names, index.bytes, index.mediaType)
      for (const tag of names.tags) core.info(`${names.image}:${tag} → ${m.digest}`)
      return m
    })
  )
  core.info(`Digest: ${manifest.digest} (${registry.requests} registry API requests)`)
  return {
    digest: manifest.digest,
    size: index.size,
    platform: index.platforms.join(','),
    annotated: FAMILY_TYPES[index.family].indexAnnotations
  }
}

/**
 * merge-digests as a stage: no docker at all (no config directory, no login). The labels, and the
 * annotations input over them, become the index's annotations, where GitHub reads a multi-platform
 * image's description (docs/facts/github-registries.md, "Labels GitHub reads"). Returns them when
 * the index carries them.
 */
export async function mergeDigests(
  session: Session,
  labels: Promise<Record<string, string>>
): Promise<Published & { annotations: Record<string, string> }> {
  const { plan, registry } = session
  const warmUp = session.warmUp()
  const annotations = { ...(await labels), ...manifestAnnotations(plan.inputs.build.annotations) }
  await warmUp
  const { annotated, ...published } = await mergeIndex(
    registry,
    plan.names,
    plan.inputs.mergeDigests,
    annotations,
    plan.mediaTypes
  )
  return { ...published, annotations: annotated ? annotations : {} }
}
