/**
 * Building the image from the context: one image loaded into the engine and tagged with every
 * reference, or for `platforms` a buildx build that buildx pushes itself.
 */
import * as core from '@actions/core'
import * as path from 'node:path'
import type { BuildRequest, Builder, CacheService } from '../docker/build-args.js'
import { chooseBuilder } from '../docker/buildx.js'
import type { BuildOptions, Docker } from '../docker/cli.js'
import { buildxAnnotations } from '../plan/build-options.js'
import type { ActionInputs } from '../plan/inputs.js'
import { familyFor } from '../plan/media-types.js'
import type { ImageNames } from '../plan/names.js'
import { builderNeeds } from '../plan/rules.js'
import type { BuildCache } from './cache-source.js'

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
  /** The runner's cache service variables (type=gha); the token stays in docker's environment. */
  service?: CacheService
  /** The `cache` input: sets cache-from / cache-to when the user gave none (cache-source.ts). */
  cache?: BuildCache
}

const HOW: Record<Builder, string> = {
  buildx: 'docker buildx build --load',
  buildkit: 'docker build with BuildKit',
  classic: 'docker build, classic builder'
}

/** The parts of a build request every build shares; secret values are handed over separately. */
function request(
  inputs: ActionInputs,
  labels: string[],
  cwd: string
): { req: BuildRequest; options: BuildOptions } {
  const { build } = inputs
  const secrets: NonNullable<BuildRequest['secrets']> = []
  const secretValues: { id: string; value: string }[] = []
  for (const s of build.secrets) {
    if (s.source === 'value') secretValues.push({ id: s.id, value: s.value })
    else if (s.source === 'file') secrets.push({ id: s.id, file: path.resolve(cwd, s.path) })
    else secrets.push({ id: s.id, env: s.variable })
  }
  return {
    req: {
      context: inputs.context,
      file: inputs.file,
      tags: [],
      buildArgs: inputs.buildArgs,
      labels,
      target: inputs.target,
      pull: inputs.pull,
      noCache: inputs.noCache,
      secrets,
      ssh: build.ssh,
      cacheFrom: build.cacheFrom,
      cacheTo: build.cacheTo,
      buildContexts: build.buildContexts
    },
    options: { secretValues }
  }
}

/**
 * Builds the context with `docker buildx build --load` when buildx is there (or installed, see
 * docker/buildx.ts), else with the classic `docker build`.
 */
export async function buildImage(
  { docker, configDir, temp, buildxProbe, service, cache }: BuildEnvironment,
  inputs: ActionInputs,
  names: ImageNames,
  /** Every label to set: the action's own and the user's (which win on the same key). */
  labels: string[],
  cwd = process.cwd()
): Promise<LocalImage> {
  const needs = builderNeeds(inputs.build)
  const builder = await chooseBuilder(docker, inputs.buildx, configDir, temp, needs, buildxProbe)
  const { req, options } = request(inputs, labels, cwd)
  await cache?.apply(builder, req)
  const imageId = await core.group(`Build ${names.image} (${HOW[builder]})`, () =>
    docker.build({ ...req, tags: names.references }, builder, { ...options, service })
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
  { docker, configDir, temp, buildxProbe, service, cache }: BuildEnvironment,
  inputs: ActionInputs,
  names: ImageNames,
  labels: string[],
  push: boolean,
  cwd = process.cwd()
): Promise<PlatformImage> {
  const platforms = inputs.platforms.join(',')
  await chooseBuilder(
    docker,
    inputs.buildx,
    configDir,
    temp,
    { buildx: `platforms (${platforms})` },
    buildxProbe
  )
  const { req, options } = request(inputs, labels, cwd)
  await cache?.apply('buildx', req)
  const index = inputs.platforms.length > 1 || inputs.provenance !== 'false' || inputs.sbom
  const output = !push
    ? ({ push: false } as const)
    : inputs.pushByDigest
      ? ({ push: true, name: names.image, byDigest: true } as const)
      : ({ push: true, name: names.references[0], byDigest: false } as const)
  // media-types docker: Docker v2 manifests and list, which carry no annotations (BuildKit would
  // switch back to OCI types for them).
  const oci = familyFor(inputs.mediaTypes, names.registryType) === 'oci'
  const what = !push ? 'not pushed' : inputs.pushByDigest ? 'pushed by digest' : 'pushed by buildx'
  const result = await core.group(
    `Build ${names.image} for ${platforms} (docker buildx build, ${what})`,
    () =>
      docker.buildPlatforms(
        {
          ...req,
          platforms: inputs.platforms,
          output,
          provenance: inputs.provenance,
          sbom: inputs.sbom,
          indexAnnotations: index && oci ? labels : [],
          annotations: buildxAnnotations(inputs.build.annotations, index),
          ociMediaTypes: oci
        },
        { ...options, service }
      )
  )
  return {
    digest: push ? result.digest : undefined,
    imageId: index ? '' : (result.configDigest ?? ''),
    builder: `buildx for ${platforms}`
  }
}
