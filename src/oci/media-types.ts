/**
 * The media types of manifests, configs and layers the action reads and writes, and the two
 * families it writes: OCI (the default on the container scheme) and Docker v2 schema 2 (the
 * `media-types: docker` input; the default on the docker scheme, whose legacy registry serves
 * nothing else). One image or index is written in one family only: an index never mixes them
 * (docs/facts/github-registries.md, "ghcr.io protocol details": Quay breaks on mixed indexes).
 */
import { UserError } from '../util/errors.js'

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json'
} as const

/** Every manifest type, as a registry's Accept header lists them. */
export const MANIFEST_MEDIA_TYPES: string[] = Object.values(MEDIA_TYPES)
export const IMAGE_MANIFEST_TYPES: string[] = [MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest]
export const INDEX_TYPES: string[] = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList]

export const LAYER_MEDIA_TYPES = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd'
} as const
export const CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json'

/** The two families of media types a manifest can be written in. */
export type MediaTypeFamily = 'oci' | 'docker'
export const FAMILIES: MediaTypeFamily[] = ['oci', 'docker']

/** How a layer blob is stored. */
export type LayerKind = 'tar' | 'gzip' | 'zstd' | 'foreign-tar' | 'foreign-gzip'

export interface FamilyTypes {
  /** What the family calls itself in messages. */
  name: string
  index: string
  manifest: string
  config: string
  /** Layer media type by kind; absent where the family has none (Docker v2 has no zstd). */
  layers: Partial<Record<LayerKind, string>>
  /** Whether its index may carry annotations (a Docker manifest list has no such field). */
  indexAnnotations: boolean
}

/** The media types of each family: the data imageManifest and assembleIndex write from. */
export const FAMILY_TYPES: Record<MediaTypeFamily, FamilyTypes> = {
  oci: {
    name: 'OCI',
    index: MEDIA_TYPES.ociIndex,
    manifest: MEDIA_TYPES.ociManifest,
    config: CONFIG_MEDIA_TYPE,
    layers: {
      tar: 'application/vnd.oci.image.layer.v1.tar',
      gzip: LAYER_MEDIA_TYPES.gzip,
      zstd: LAYER_MEDIA_TYPES.zstd,
      'foreign-tar': 'application/vnd.oci.image.layer.nondistributable.v1.tar',
      'foreign-gzip': 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'
    },
    indexAnnotations: true
  },
  docker: {
    name: 'Docker v2 schema 2',
    index: MEDIA_TYPES.dockerList,
    manifest: MEDIA_TYPES.dockerManifest,
    config: 'application/vnd.docker.container.image.v1+json',
    layers: {
      tar: 'application/vnd.docker.image.rootfs.diff.tar',
      gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
      'foreign-gzip': 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'
    },
    indexAnnotations: false
  }
}

/** The family a manifest, index, config or layer media type belongs to; undefined for others. */
export function familyOf(mediaType: string): MediaTypeFamily | undefined {
  for (const family of FAMILIES) {
    const t = FAMILY_TYPES[family]
    if ([t.index, t.manifest, t.config, ...Object.values(t.layers)].includes(mediaType)) {
      return family
    }
  }
  // Docker's older uncompressed/foreign variants and OCI's deprecated ones still name the family.
  if (mediaType.startsWith('application/vnd.docker.')) return 'docker'
  if (mediaType.startsWith('application/vnd.oci.')) return 'oci'
  return undefined
}

/** The kind of a layer media type of either family (undefined: not a layer type we know). */
export function layerKind(mediaType: string): LayerKind | undefined {
  for (const family of FAMILIES) {
    const layers = FAMILY_TYPES[family].layers
    const kind = (Object.keys(layers) as LayerKind[]).find(k => layers[k] === mediaType)
    if (kind) return kind
  }
  return undefined
}

/**
 * The media type of a layer in `family`: the same kind of blob (gzip stays gzip), named the way
 * the family names it. A kind the family has no name for (zstd in Docker v2) is a UserError
 * raised before anything is uploaded; a type of neither family is kept as it is.
 */
export function layerTypeIn(family: MediaTypeFamily, mediaType: string): string {
  const kind = layerKind(mediaType)
  if (!kind) return mediaType
  const type = FAMILY_TYPES[family].layers[kind]
  if (!type) {
    throw new UserError(
      `the image has ${kind} layers, which ${FAMILY_TYPES[family].name} manifests cannot list ` +
        `(there is no ${FAMILY_TYPES[family].name} media type for them): publish it with ` +
        'media-types: oci, or rebuild it with gzip layers (e.g. docker buildx build ' +
        '--output type=image,compression=gzip,force-compression=true).'
    )
  }
  return type
}
