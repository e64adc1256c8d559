/** The step's outputs, and what the run published (also the job summary's source: summary.ts). */
import * as core from '@actions/core'
import type { ImageNames } from '../plan/names.js'

export interface PublishResult {
  names: ImageNames
  imageId: string
  /** '' when nothing was pushed. */
  digest: string
  builder: string
  /** Which way the image went to the registry, and why (a build: produce/way.ts). */
  way?: string
  /** The first tag. */
  version: string
  /** Every label the action passed to the build (its own and the user's). */
  labels: Record<string, string>
  /** 'annotations' when they were set on an index the action made (merge-digests). */
  labelsAre?: 'labels' | 'annotations'
  /** Compressed size in bytes as the registry stores it; null when not pushed or not readable. */
  size: number | null
  /** Uncompressed size of the local image, shown when nothing was pushed. */
  localSize?: number
  /** os/architecture[/variant]; '' when not known. */
  platform: string
  /** The package's page on GitHub; undefined for other registries. */
  packageUrl?: string
  /** Which way a local image went to the registry, and why (publish/route.ts). */
  route?: string
  /** The build cache used, and the layers reused from the previous version (HTML); none unbuilt. */
  buildCache?: string
}

/** The `metadata` output: one JSON object with what was published. */
export function metadataJson(result: PublishResult): string {
  return JSON.stringify({
    image: result.names.image,
    tags: result.names.tags,
    labels: result.labels,
    digest: result.digest || null,
    size: result.size,
    platform: result.platform || null
  })
}

export function setOutputs(result: PublishResult): void {
  const { names, digest, imageId } = result
  core.setOutput('digest', digest)
  core.setOutput('image', names.image)
  core.setOutput('tags', names.references.join('\n'))
  core.setOutput('image-ref', digest ? `${names.image}@${digest}` : '')
  core.setOutput('imageid', imageId)
  core.setOutput('version', result.version)
  core.setOutput('metadata', metadataJson(result))
}
