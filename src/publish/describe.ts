/**
 * Size and platform of the published image, for the summary and the metadata output. After a
 * push they come from the registry (what was really published): the compressed size is the sum
 * of the layer sizes in the manifest, the platform the config's os/architecture[/variant]. For an
 * image index (multi-platform, or with attestations) every platform manifest is read, attestation
 * manifests (platform unknown/unknown) are skipped, and the sizes are added up.
 */
import * as core from '@actions/core'
import type { Docker } from '../docker/cli.js'
import {
  isAttestation,
  layerBytes,
  parseJson,
  type ImageConfigJson,
  type ManifestJson
} from '../oci/descriptor.js'
import { platformString } from '../oci/platform.js'
import type { RegistryClient } from '../registry/client.js'
import { errorMessage } from '../util/errors.js'

export interface ImageInfo {
  /** Compressed size in bytes (the layers as stored in the registry); null when not known. */
  size: number | null
  /** os/architecture[/variant], comma-separated for several platforms. */
  platform: string
}

/** What a way of publishing returns: the digest the registry serves, with size and platform. */
export interface Published extends ImageInfo {
  /** '' when nothing was pushed. */
  digest: string
  localSize?: number
  /** Which way a local image went, and why (publish/route.ts), for the job summary. */
  route?: string
  /** The bytes of the manifest (or index) the registry serves under `digest`, when read. */
  manifest?: Buffer
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
  const top = parseJson<ManifestJson>(bytes)
  if (Array.isArray(top.manifests)) {
    const images = top.manifests.filter(d => !isAttestation(d))
    let size = 0
    for (const d of images) {
      size += layerBytes(
        parseJson<ManifestJson>((await client.getManifest(repository, d.digest)).bytes)
      )
    }
    return { size, platform: images.map(d => platformString(d.platform)).join(',') }
  }
  if (!top.config) throw new Error(`the manifest of ${repository}@${reference} has no config`)
  if (known.config && known.config.digest === top.config.digest) {
    return { size: layerBytes(top), platform: known.config.platform }
  }
  const config = parseJson<ImageConfigJson>(await client.getBlob(repository, top.config.digest))
  return { size: layerBytes(top), platform: platformString(config) }
}

/** Size and platform are for the summary and the metadata output: a failure is not fatal. */
export async function describeOrWarn(
  client: RegistryClient,
  image: string,
  repository: string,
  digest: string,
  known: KnownImageData = {}
): Promise<Published> {
  const info = await describePushedImage(client, repository, digest, known).catch(error => {
    core.warning(`Could not read the size and platform of ${image}: ${errorMessage(error)}`)
    return { size: null, platform: '' }
  })
  return { digest, ...info }
}

/** Not pushed: platform and uncompressed size of the local image. */
export async function describeLocalImage(docker: Docker, imageId: string): Promise<Published> {
  core.info('push is false: the image was tagged locally, nothing was pushed.')
  try {
    const local = await docker.inspectImage(imageId)
    return { digest: '', size: null, platform: platformString(local), localSize: local.size }
  } catch (error) {
    core.warning(`Could not inspect the local image ${imageId}: ${errorMessage(error)}`)
    return { digest: '', size: null, platform: '' }
  }
}
