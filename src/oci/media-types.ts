/** The media types of manifests, configs and layers the action reads and writes. */
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
