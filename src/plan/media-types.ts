/**
 * The media-types input (oci | docker) and what each name scheme allows, decided before any
 * daemon or network call (docs/facts/github-registries.md, "The legacy Docker registry"):
 *
 * - default: oci on the container scheme, docker on the docker scheme (the legacy registry serves
 *   OCI manifests back labelled as Docker v2, so OCI there is refused).
 * - the docker scheme never accepted image indexes: platforms that make an index (several, or
 *   attestations), merge-digests, and push-by-digest (whose only use is a merge) are refused.
 * - Docker v2 has no attestation manifests and no index annotations: provenance and sbom are
 *   refused with media-types docker, and so are labels on a merge (they become index annotations).
 */
import { FAMILY_TYPES, type MediaTypeFamily } from '../oci/media-types.js'
import { UserError } from '../util/errors.js'
import type { ActionInputs } from './action-inputs.js'
import type { RegistryType } from './names.js'

export interface MediaTypesChoice {
  family: MediaTypeFamily
  /** Given in the workflow; when not, a merge follows the family of the images it lists. */
  given: boolean
}

/** `oci`, `docker`, or empty (the scheme's default: undefined). */
export function parseMediaTypes(value: string): MediaTypeFamily | undefined {
  const v = value.trim().toLowerCase()
  if (v === '') return undefined
  if (v === 'oci' || v === 'docker') return v
  throw new UserError(
    `media-types '${value}' is not one of oci, docker: oci writes OCI manifests and indexes, ` +
      'docker writes Docker v2 schema 2 manifests and manifest lists (for registries and tools ' +
      'that do not read OCI). Leave it unset for the default of the registry-type.'
  )
}

/** The family written: the one given, else the scheme's default (decided once: Plan.mediaTypes). */
function familyFor(
  given: MediaTypeFamily | undefined,
  registryType: RegistryType
): MediaTypeFamily {
  return given ?? (registryType === 'docker' ? 'docker' : 'oci')
}

const LEGACY =
  'the Docker registry of GitHub (registry-type docker) never accepted image indexes ' +
  '(multi-platform images)'

/** The media types of the run, or a UserError for what the registry or the family cannot hold. */
export function resolveMediaTypes(
  inputs: Pick<
    ActionInputs,
    | 'mediaTypes'
    | 'platforms'
    | 'attestations'
    | 'pushByDigest'
    | 'mergeDigests'
    | 'labels'
    | 'build'
  >,
  registryType: RegistryType,
  registry: string
): MediaTypesChoice {
  const attestations = inputs.attestations.join(' and ')
  if (registryType === 'docker') {
    if (inputs.mediaTypes === 'oci') {
      throw new UserError(
        `media-types oci cannot be used with ${registry} (registry-type docker): GitHub's Docker ` +
          'registry serves OCI manifests back labelled as Docker v2, which breaks pulls. Remove ' +
          'media-types (docker is the default there), or publish to the Container registry.'
      )
    }
    const index = inputs.mergeDigests.length
      ? 'merge-digests'
      : inputs.platforms.length > 1
        ? `platforms (${inputs.platforms.join(',')})`
        : attestations
          ? `${attestations} (attestations are listed in an image index)`
          : inputs.pushByDigest
            ? 'push-by-digest (its only use is a later merge-digests)'
            : ''
    if (index) {
      throw new UserError(
        `${index} cannot be used with ${registry}: ${LEGACY}. Publish one image per tag there, ` +
          'or publish multi-platform images to the Container registry (ghcr.io, or ' +
          'containers.HOSTNAME on GitHub Enterprise Server; registry-type container).'
      )
    }
  }
  const family = familyFor(inputs.mediaTypes, registryType)
  if (family === 'docker' && attestations) {
    throw new UserError(
      `${attestations} cannot be used with media-types docker: attestations are OCI manifests, ` +
        `which a ${FAMILY_TYPES.docker.name} manifest list cannot list. Remove ${attestations}, ` +
        'or set media-types: oci.'
    )
  }
  if (family === 'docker' && inputs.mergeDigests.length && inputs.labels.length) {
    throw new UserError(
      'labels of a merge become the annotations of the index, and a Docker manifest list ' +
        '(media-types docker) has no annotations: remove labels from the merge step (set them ' +
        'in the build jobs, where they are image labels), or set media-types: oci.'
    )
  }
  if (family === 'docker' && inputs.build.annotations.length) {
    throw new UserError(
      'annotations cannot be used with media-types docker: Docker v2 schema 2 manifests and ' +
        'manifest lists have no annotations. Remove annotations (labels are kept in the image ' +
        'config), or set media-types: oci.'
    )
  }
  return { family, given: inputs.mediaTypes !== undefined }
}
