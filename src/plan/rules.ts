/**
 * How the inputs go together: combinations that cannot work are refused rather than ignored, and
 * what a push or a build needs is there. Runs before any daemon or network call (the build files
 * are looked up on the local disk only).
 */
import { existsSync, statSync } from 'node:fs'
import * as path from 'node:path'
import { UserError } from '../util/errors.js'
import type { ActionInputs } from './inputs.js'
import { parseSourceImage } from './names.js'
import { MATRIX_WAY } from './platforms.js'

/** The rules that need the inputs alone (readInputs runs them). */
export function checkInputCombinations(inputs: ActionInputs): void {
  if (inputs.mergeDigests.length) refuseWithMerge(inputs)
  if (inputs.sourceImage) {
    inputs.sourceImage = parseSourceImage(inputs.sourceImage)
    refuseWithSourceImage(inputs)
  }
  checkPlatformInputs(inputs)
}

/**
 * Refuses the inputs of `given` that are set, where they would have no effect; `because` says
 * why, `instead` what to do.
 */
function refuseUnused(given: Record<string, boolean>, because: string, instead: string): void {
  const set = Object.keys(given).filter(name => given[name])
  if (set.length === 0) return
  const one = set.length === 1
  throw new UserError(
    `${because}, so nothing is built and ${set.join(', ')} ${one ? 'has' : 'have'} no effect: ` +
      `remove ${one ? 'it' : 'them'}${instead}.`
  )
}

/**
 * platforms, provenance, sbom and push-by-digest: combinations that cannot work are refused
 * rather than ignored.
 */
function checkPlatformInputs(inputs: ActionInputs): void {
  if (inputs.platforms.length && inputs.buildx.mode === 'false') {
    throw new UserError(
      `platforms (${inputs.platforms.join(',')}) builds with docker buildx, but buildx is false: ` +
        `set buildx to auto or true, ${MATRIX_WAY}.`
    )
  }
  const attestations = [
    inputs.provenance !== 'false' && 'provenance',
    inputs.sbom && 'sbom'
  ].filter(Boolean)
  if (attestations.length && !inputs.platforms.length) {
    throw new UserError(
      `${attestations.join(' and ')} ${attestations.length > 1 ? 'are attestations' : 'is an attestation'} ` +
        'that buildx attaches when it pushes the image itself, which it does when platforms is given: ' +
        `set platforms (e.g. linux/amd64 for one platform), or remove ${attestations.join(' and ')}.`
    )
  }
  if (inputs.pushByDigest) {
    if (inputs.push === false) {
      throw new UserError(
        'push-by-digest pushes the image without a tag, but push is false: remove one of them.'
      )
    }
    if (inputs.tags.length) {
      throw new UserError(
        `push-by-digest pushes no tag, so tags (${inputs.tags.join(', ')}) would have no effect: ` +
          'give the tags to the step with merge-digests, which tags the merged index.'
      )
    }
  }
}

/**
 * merge-digests builds nothing and pushes an index of images that are already in the registry:
 * inputs that configure a build or its push are refused rather than ignored. (labels stay: they
 * become the index's annotations.)
 */
function refuseWithMerge(inputs: ActionInputs): void {
  refuseUnused(
    {
      'source-image': inputs.sourceImage !== '',
      context: inputs.rawContext !== '',
      file: inputs.file !== '',
      'build-args': inputs.buildArgs.length > 0,
      target: inputs.target !== '',
      pull: inputs.pull,
      'no-cache': inputs.noCache,
      buildx: inputs.buildx.mode === 'true',
      platforms: inputs.platforms.length > 0,
      provenance: inputs.provenance !== 'false',
      sbom: inputs.sbom,
      'push-by-digest': inputs.pushByDigest
    },
    'merge-digests merges images that are already pushed',
    ' from the merge step (they belong to the build jobs)'
  )
  if (inputs.push === false) {
    throw new UserError(
      'merge-digests pushes an index under the tags, but push is false: remove push: false from the merge step.'
    )
  }
}

/**
 * With `source-image` nothing is built, so inputs that configure a build would be silently
 * ignored: refuse them instead. (`pull` and `no-cache` only count when true: false is their default.)
 */
function refuseWithSourceImage(inputs: ActionInputs): void {
  refuseUnused(
    {
      context: inputs.rawContext !== '',
      file: inputs.file !== '',
      'build-args': inputs.buildArgs.length > 0,
      labels: inputs.labels.length > 0,
      target: inputs.target !== '',
      buildx: inputs.buildx.mode === 'true',
      pull: inputs.pull,
      'no-cache': inputs.noCache,
      platforms: inputs.platforms.length > 0,
      provenance: inputs.provenance !== 'false',
      sbom: inputs.sbom
    },
    `source-image '${inputs.sourceImage}' publishes an existing image`,
    ', or remove source-image to build from a Dockerfile'
  )
}

/** Credentials are needed to push; without a push they are optional (base images may be public). */
export function checkCredentials(
  inputs: Pick<ActionInputs, 'token' | 'username'>,
  push: boolean
): void {
  if (!push) return
  if (!inputs.token) {
    throw new UserError(
      'token is empty, so the image cannot be pushed: pass `token: ${{ secrets.GITHUB_TOKEN }}` ' +
        '(with `permissions: packages: write` in the workflow) or a classic personal access token ' +
        'with the write:packages scope, or set `push: false`.'
    )
  }
  if (!inputs.username) {
    throw new UserError(
      'username is empty and GITHUB_ACTOR is not set: set the username input (for example `${{ github.actor }}`).'
    )
  }
}

function isRemoteContext(context: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(context) || context.startsWith('git@') || context === '-'
}

/** The build context and Dockerfile must exist before we start a build (remote contexts excepted). */
export function checkBuildFiles(inputs: ActionInputs, cwd = process.cwd()): void {
  if (inputs.sourceImage || isRemoteContext(inputs.context)) return
  const context = path.resolve(cwd, inputs.context)
  if (!existsSync(context) || !statSync(context).isDirectory()) {
    throw new UserError(
      `context '${inputs.context}' is not a directory (looked in ${context}). ` +
        'Check out the repository first (actions/checkout) or set context to the folder that holds the build files.'
    )
  }
  const file = inputs.file ? path.resolve(cwd, inputs.file) : path.join(context, 'Dockerfile')
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new UserError(
      `Dockerfile not found at ${file}. Set the file input to its path (relative to the workspace), ` +
        'or add a Dockerfile to the context.'
    )
  }
}
