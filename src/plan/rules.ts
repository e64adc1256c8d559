/**
 * How the inputs go together: combinations that cannot work are refused rather than ignored, and
 * what a push or a build needs is there. Runs before any daemon or network call (the build files
 * are looked up on the local disk only).
 */
import { existsSync, statSync } from 'node:fs'
import * as path from 'node:path'
import type { BuilderNeeds } from '../docker/buildx.js'
import { UserError } from '../util/errors.js'
import { attr, type CacheEntry } from '../docker/cache-syntax.js'
import { splitAnnotation, type BuildOptions } from './build-options.js'
import type { ActionInputs } from './action-inputs.js'
import { parseSourceImage } from './names.js'
import { MATRIX_WAY } from '../util/advice.js'
import { describeCharacters, hasHiddenCharacters, quote } from '../util/text.js'

/**
 * The rules that need the inputs alone (makePlan runs them right after readInputs). A check only:
 * source-image is validated as readInputs trimmed it, and nothing of the inputs is changed.
 */
export function checkInputCombinations(inputs: ActionInputs): void {
  if (inputs.mergeDigests.length) refuseWithMerge(inputs)
  if (inputs.sourceImage) {
    parseSourceImage(inputs.sourceImage)
    refuseWithSourceImage(inputs)
  }
  checkPlatformInputs(inputs)
  checkBuildOptionInputs(inputs)
}

/**
 * What the build asks of its builder. Without buildx, the engine's built-in BuildKit reads a
 * registry cache (cache-from type=registry) and writes an inline one (cache-to type=inline);
 * every other cache, and build-contexts, need buildx.
 */
export function builderNeeds(build: BuildOptions): BuilderNeeds {
  // What the built-in BuildKit does: read a registry cache by reference, write an inline one.
  const plainRegistry = (e: CacheEntry): boolean =>
    e.type === 'registry' && e.attrs.every(([k]) => k === 'ref')
  const plainInline = (e: CacheEntry): boolean => e.type === 'inline' && e.attrs.length === 0
  const from = build.cacheFrom.find(e => !plainRegistry(e))
  const to = build.cacheTo.find(e => !plainInline(e))
  const buildx = [
    build.buildContexts.length > 0 && 'build-contexts',
    from && `cache-from type=${from.type}`,
    to && `cache-to type=${to.type}`
  ]
  const buildKit = [
    build.secrets.length > 0 && 'secrets',
    build.ssh.length > 0 && 'ssh',
    build.cacheTo.length > 0 && 'cache-to'
  ]
  const names = (list: (string | false | undefined)[]): string =>
    list.filter((n): n is string => Boolean(n)).join(' and ')
  return { buildx: names(buildx), buildKit: names(buildKit) }
}

/** What the build asks of its builder, decided once for the plan (plan.ts). */
export interface BuildDecisions {
  /** What the inputs ask that only BuildKit's push does (platforms, attestations); '' if none. */
  onlyBuildKitPush: string
  /** builderNeeds, with what only BuildKit's push does as the reason buildx is needed. */
  builderNeeds: BuilderNeeds
}

export function buildDecisions(
  inputs: Pick<ActionInputs, 'build' | 'platforms' | 'attestations'>
): BuildDecisions {
  const onlyBuildKitPush = inputs.platforms.length
    ? `platforms (${inputs.platforms.join(',')})`
    : inputs.attestations.join(' and ')
  const needs = builderNeeds(inputs.build)
  return {
    onlyBuildKitPush,
    builderNeeds: onlyBuildKitPush ? { ...needs, buildx: onlyBuildKitPush } : needs
  }
}

/** The BuildKit inputs against buildx: false, and annotations that need an index. */
function checkBuildOptionInputs(inputs: ActionInputs): void {
  const { build } = inputs
  const needs = builderNeeds(build)
  if (needs.buildx && inputs.buildx.mode === 'false') {
    throw new UserError(
      `${needs.buildx} needs buildx, but buildx is false: set buildx to auto (buildx when the ` +
        'runner has it) or true (installed when missing). Without buildx, the engine reads ' +
        'cache-from type=registry and writes cache-to type=inline.'
    )
  }
  for (const entry of build.annotations) {
    const { type, platform } = splitAnnotation(entry)
    const forIndex = (type !== undefined && type !== 'manifest') || platform !== undefined
    if (forIndex && !inputs.platforms.length) {
      throw new UserError(
        `annotation '${entry.slice(0, 60)}' is for an index or a platform's manifest, which only a ` +
          'build for platforms makes: drop the prefix (the annotation then goes on the manifest), ' +
          'or set platforms.'
      )
    }
  }
}

/** Inputs of the build that need the step's environment or the disk (plan.ts runs it). */
export function checkBuildEnvironment(
  inputs: ActionInputs,
  env: Readonly<Record<string, string | undefined>>,
  cwd = process.cwd()
): void {
  const { build } = inputs
  for (const secret of build.secrets) {
    if (secret.source === 'env' && env[secret.variable] === undefined) {
      throw new UserError(
        `secret-envs ${secret.id}: the environment variable ${secret.variable} is not set: set it in ` +
          `the step's env (e.g. ${secret.variable}: \${{ secrets.${secret.variable} }}).`
      )
    }
    if (secret.source === 'file') {
      const file = path.resolve(cwd, secret.path)
      if (!existsSync(file) || !statSync(file).isFile()) {
        throw new UserError(
          `secret-files ${secret.id}: ${file} is not a file: give a path relative to the workspace ` +
            '(write the file in an earlier step).'
        )
      }
    }
  }
  if (build.ssh.includes('default') && !env.SSH_AUTH_SOCK) {
    throw new UserError(
      'ssh default forwards the SSH agent, but SSH_AUTH_SOCK is not set: start an agent in an ' +
        'earlier step (e.g. webfactory/ssh-agent), or give ID=PATH of a key file.'
    )
  }
  const gha = [...build.cacheFrom, ...build.cacheTo].filter(e => e.type === 'gha')
  if (gha.some(e => !attr(e, 'token')) && !env.ACTIONS_RUNTIME_TOKEN) {
    throw new UserError(
      "cache type=gha needs the runner's cache service (ACTIONS_RUNTIME_TOKEN and ACTIONS_CACHE_URL " +
        'or ACTIONS_RESULTS_URL), which this step does not have: it is given to actions on ' +
        'GitHub-hosted and self-hosted runners; use type=registry or type=local elsewhere.'
    )
  }
  for (const entry of build.buildContexts) {
    const value = entry.slice(entry.indexOf('=') + 1)
    if (/^[a-z][a-z0-9+.-]*:/i.test(value) && !/^[A-Za-z]:[\\/]/.test(value)) continue
    const dir = path.resolve(cwd, value)
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new UserError(
        `build-contexts '${entry.slice(0, 80)}': ${dir} is not a directory: give a folder relative ` +
          'to the workspace, or docker-image://IMAGE.'
      )
    }
  }
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
  const { attestations } = inputs
  if (attestations.length && inputs.buildx.mode === 'false') {
    const list = attestations.join(' and ')
    throw new UserError(
      `${list} ${attestations.length > 1 ? 'are attestations' : 'is an attestation'} that BuildKit ` +
        `attaches when it pushes the image, which needs buildx, but buildx is false: set buildx to ` +
        `auto or true, or remove ${list}.`
    )
  }
  if (inputs.builder && inputs.buildx.mode === 'false') {
    throw new UserError(
      `builder ${quote(inputs.builder)} is a buildx builder, but buildx is false: set buildx to auto ` +
        'or true, or remove builder.'
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
        `push-by-digest pushes no tag, so tags (${inputs.tags.map(t => quote(t)).join(', ')}) would have no effect: ` +
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
      builder: inputs.builder !== '',
      load: inputs.load,
      platforms: inputs.platforms.length > 0,
      provenance: inputs.attestations.includes('provenance'),
      sbom: inputs.sbom,
      'push-by-digest': inputs.pushByDigest,
      ...buildOnly(inputs.build)
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
      builder: inputs.builder !== '',
      load: inputs.load,
      pull: inputs.pull,
      'no-cache': inputs.noCache,
      platforms: inputs.platforms.length > 0,
      provenance: inputs.attestations.includes('provenance'),
      sbom: inputs.sbom,
      ...buildOnly(inputs.build)
    },
    `source-image ${quote(inputs.sourceImage)} publishes an existing image`,
    ', or remove source-image to build from a Dockerfile'
  )
}

/** The BuildKit inputs that only a build uses (annotations also go on a pushed image or index). */
function buildOnly(build: BuildOptions): Record<string, boolean> {
  return {
    secrets: build.secrets.some(s => s.source === 'value'),
    'secret-files': build.secrets.some(s => s.source === 'file'),
    'secret-envs': build.secrets.some(s => s.source === 'env'),
    ssh: build.ssh.length > 0,
    'cache-from': build.cacheFrom.length > 0,
    'cache-to': build.cacheTo.length > 0,
    'build-contexts': build.buildContexts.length > 0
  }
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

/**
 * The username docker logs in with. Never with a line break, ':' (Basic authentication splits
 * user:password at the first ':'), blanks or invisible characters: the registry would refuse it, and
 * the failure would blame the token. For GitHub's registries, as GitHub spells user names (ASCII
 * letters, digits, '-'; an app's bot account ends in [bot]).
 */
export function checkUsername(username: string, gitHubRegistry: boolean): void {
  if (/[\s:]/.test(username) || hasHiddenCharacters(username)) {
    throw new UserError(
      `username ${quote(username, 60)} contains ${describeCharacters(username, /[^\s:\p{C}\p{Z}\p{M}]/u)}, ` +
        'which no registry accepts in a user name: set the username input to the account name alone ' +
        '(for example `${{ github.actor }}`).'
    )
  }
  if (gitHubRegistry && !/^[A-Za-z0-9-]+(\[bot\])?$/.test(username)) {
    throw new UserError(
      `username ${quote(username, 60)} is not a GitHub user name: it contains ` +
        `${describeCharacters(username.replace(/\[bot\]$/, ''), /[A-Za-z0-9-]/)}; GitHub user names hold ` +
        "only ASCII letters, digits and '-'. Set the username input to the GitHub account the token " +
        'belongs to (for example `${{ github.actor }}`).'
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
      `context ${quote(inputs.context)} is not a directory (looked in ${quote(context)}). ` +
        'Check out the repository first (actions/checkout) or set context to the folder that holds the build files.'
    )
  }
  const file = inputs.file ? path.resolve(cwd, inputs.file) : path.join(context, 'Dockerfile')
  if (!existsSync(file) || !statSync(file).isFile()) {
    throw new UserError(
      `Dockerfile not found at ${quote(file)}. Set the file input to its path (relative to the workspace), ` +
        'or add a Dockerfile to the context.'
    )
  }
}
