/**
 * Where the image comes from: built from the context, or an existing local image (`source-image`)
 * tagged under the computed names. Either way the result is the local image ID and every reference
 * in `names.references` pointing at it.
 */
import * as core from '@actions/core'
import { chooseBuilder } from './buildx.js'
import type { Docker } from './docker.js'
import { UserError } from './errors.js'
import type { ActionInputs } from './inputs.js'
import type { ImageNames } from './naming.js'

export interface LocalImage {
  imageId: string
  /** How the image got here, for the log and the job summary. */
  builder: string
}

/**
 * The full ID of the `source-image`, or a UserError when the runner's engine does not have it.
 * Runs before login, so a typo fails before anything is sent anywhere.
 */
export async function findSourceImage(docker: Docker, sourceImage: string): Promise<string> {
  const id = await docker.localImageId(sourceImage)
  if (!id) {
    throw new UserError(
      `source-image '${sourceImage}' is not an image on this runner's Docker engine: build, load or ` +
        'pull it in an earlier step of the same job (`docker images` lists what is there), or give its image ID.'
    )
  }
  return id
}

/** Tags the (already found) source image under every computed reference. */
export async function tagSourceImage(
  docker: Docker,
  sourceImage: string,
  imageId: string,
  names: ImageNames
): Promise<LocalImage> {
  const builder = `none: published the local image ${sourceImage}`
  if (names.references.length === 0) return { imageId, builder } // push-by-digest: no tag
  await core.group(`Tag ${sourceImage} (${imageId.slice(0, 19)}…) as ${names.image}`, async () => {
    // Tag by ID: the image published is exactly the one found, even if the name moves meanwhile.
    for (const reference of names.references) {
      await docker.tag(imageId, reference)
      core.info(`Tagged ${reference}`)
    }
  })
  return { imageId, builder }
}

/**
 * Builds the context with `docker buildx build --load` when buildx is there (or installed, see
 * buildx.ts), else with the classic `docker build`.
 */
export async function buildImage(
  docker: Docker,
  inputs: ActionInputs,
  names: ImageNames,
  configDir: string,
  /** Every label to set: the action's own and the user's (which win on the same key). */
  labels: string[],
  buildxProbe?: Promise<boolean>
): Promise<LocalImage> {
  const builder = await chooseBuilder(docker, inputs.buildx, configDir, undefined, buildxProbe)
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
  docker: Docker,
  inputs: ActionInputs,
  names: ImageNames,
  configDir: string,
  labels: string[],
  push: boolean,
  buildxProbe?: Promise<boolean>
): Promise<PlatformImage> {
  const platforms = inputs.platforms.join(',')
  await chooseBuilder(docker, inputs.buildx, configDir, `platforms (${platforms})`, buildxProbe)
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
