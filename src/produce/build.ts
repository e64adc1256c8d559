/**
 * Building the image from the context: one image loaded into the engine and tagged with every
 * reference, or for `platforms` a buildx build that buildx pushes itself.
 */
import * as core from '@actions/core'
import { chooseBuilder } from '../docker/buildx.js'
import type { Docker } from '../docker/cli.js'
import type { ActionInputs } from '../plan/inputs.js'
import type { ImageNames } from '../plan/names.js'

export interface LocalImage {
  imageId: string
  /** How the image got here, for the log and the job summary. */
  builder: string
}

/** Where the build runs: the engine, the action's Docker config, a temp folder. */
export interface BuildEnvironment {
  docker: Docker
  configDir: string
  temp: string
  /** An answer to `docker buildx version` already under way (probed while docker logs in). */
  buildxProbe?: Promise<boolean>
}

/**
 * Builds the context with `docker buildx build --load` when buildx is there (or installed, see
 * docker/buildx.ts), else with the classic `docker build`.
 */
export async function buildImage(
  { docker, configDir, temp, buildxProbe }: BuildEnvironment,
  inputs: ActionInputs,
  names: ImageNames,
  /** Every label to set: the action's own and the user's (which win on the same key). */
  labels: string[]
): Promise<LocalImage> {
  const builder = await chooseBuilder(
    docker,
    inputs.buildx,
    configDir,
    temp,
    undefined,
    buildxProbe
  )
  const imageId = await core.group(
    `Build ${names.image} (${builder === 'buildx' ? 'docker buildx build --load' : 'docker build'})`,
    () =>
      docker.build(
        {
          context: inputs.context,
          file: inputs.file,
          tags: names.references,
          buildArgs: inputs.buildArgs,
          labels,
          target: inputs.target,
          pull: inputs.pull,
          noCache: inputs.noCache
        },
        builder
      )
  )
  core.info(`Built image ${imageId}`)
  return { imageId, builder }
}

export interface PlatformImage {
  /** What buildx pushed (index or manifest); undefined when nothing was pushed. */
  digest?: string
  /** The config of a single-platform build; '' for an index (there is no one image). */
  imageId: string
  builder: string
}

/**
 * Builds for `platforms` with buildx, which pushes the result itself: a multi-platform image cannot
 * be loaded into the classic image store, so there is no `--load` and no `docker push`. Pushed
 * under the first tag (the rest are tagged through the registry API), or by digest without any
 * tag; with push false the build is only checked. Attestations (provenance, sbom) are off unless
 * asked for, so GitHub's package page lists no unknown/unknown platform. Index annotations carry
 * the labels where the result is an index (GitHub reads a multi-platform image's description there:
 * shared/REGISTRY-FACTS.md, "Limits").
 */
export async function buildForPlatforms(
  { docker, configDir, temp, buildxProbe }: BuildEnvironment,
  inputs: ActionInputs,
  names: ImageNames,
  labels: string[],
  push: boolean
): Promise<PlatformImage> {
  const platforms = inputs.platforms.join(',')
  await chooseBuilder(
    docker,
    inputs.buildx,
    configDir,
    temp,
    `platforms (${platforms})`,
    buildxProbe
  )
  const index = inputs.platforms.length > 1 || inputs.provenance !== 'false' || inputs.sbom
  const output = !push
    ? ({ push: false } as const)
    : inputs.pushByDigest
      ? ({ push: true, name: names.image, byDigest: true } as const)
      : ({ push: true, name: names.references[0], byDigest: false } as const)
  const what = !push ? 'not pushed' : inputs.pushByDigest ? 'pushed by digest' : 'pushed by buildx'
  const result = await core.group(
    `Build ${names.image} for ${platforms} (docker buildx build, ${what})`,
    () =>
      docker.buildPlatforms({
        context: inputs.context,
        file: inputs.file,
        tags: [],
        buildArgs: inputs.buildArgs,
        labels,
        target: inputs.target,
        pull: inputs.pull,
        noCache: inputs.noCache,
        platforms: inputs.platforms,
        output,
        provenance: inputs.provenance,
        sbom: inputs.sbom,
        indexAnnotations: index ? labels : []
      })
  )
  return {
    digest: push ? result.digest : undefined,
    imageId: index ? '' : (result.configDigest ?? ''),
    builder: `buildx for ${platforms}`
  }
}
