/**
 * Reads and checks the action's inputs and the workflow context. Everything here runs before any
 * daemon or network call; a mistake is reported as a UserError that says how to fix it.
 */
import * as core from '@actions/core'
import { existsSync, statSync } from 'node:fs'
import * as path from 'node:path'
import { UserError } from './errors.js'
import { DEFAULT_BUILDX_BASE_URL, DEFAULT_BUILDX_VERSION, type BuildxSettings } from './buildx.js'
import { parseMergeDigests, type MergeEntry } from './merge.js'
import type { TagsMode } from './metadata.js'
import { parseSourceImage } from './naming.js'
import { MATRIX_WAY, parsePlatforms } from './platforms.js'

export interface ActionInputs {
  registry: string
  registryType: string
  username: string
  token: string
  owner: string
  repository: string
  imageName: string
  /** The user's tags; empty means "derive them from the event". */
  tags: string[]
  tagsMode: TagsMode
  context: string
  file: string
  buildArgs: string[]
  labels: string[]
  target: string
  pull: boolean
  noCache: boolean
  /** undefined when not given: true, except on pull requests from forks (metadata.resolvePush). */
  push: boolean | undefined
  /** Retries of transient registry failures per operation (login, push, each API request). */
  retries: number
  /** An existing local image (ID or reference) to publish instead of building; '' to build. */
  sourceImage: string
  buildx: BuildxSettings
  /** Platforms to build for with buildx (which then pushes itself); empty for a plain build. */
  platforms: string[]
  /** buildx --provenance value: 'false' (the default), 'true', 'mode=min' or 'mode=max'. */
  provenance: string
  sbom: boolean
  /** Push the image without a tag, for a later merge-digests. */
  pushByDigest: boolean
  /** Images to merge into one index instead of building; empty to build. */
  mergeDigests: MergeEntry[]
  /** Workflow context (environment of the runner). */
  contextRepository: string
  serverUrl: string
}

type Env = Record<string, string | undefined>

/** Splits a list input on newlines and/or commas; trims entries and drops empty ones. */
export function parseList(value: string, separators: 'comma-newline' | 'newline'): string[] {
  const re = separators === 'newline' ? /\r?\n/ : /[\r\n,]+/
  return value
    .split(re)
    .map(s => s.trim())
    .filter(s => s !== '')
}

/** A YAML 1.2 core boolean, as GitHub documents them; anything else is a clear error. */
export function parseBoolean(name: string, value: string, fallback: boolean): boolean {
  const v = value.trim()
  if (v === '') return fallback
  if (/^(true|True|TRUE)$/.test(v)) return true
  if (/^(false|False|FALSE)$/.test(v)) return false
  throw new UserError(`${name} '${value}' is not a boolean: use true or false.`)
}

/** KEY=VALUE lines (build-args, labels). The value may be empty or hold '='; the key may not be empty. */
export function parseKeyValues(name: string, value: string): string[] {
  const entries = parseList(value, 'newline')
  for (const entry of entries) {
    const eq = entry.indexOf('=')
    const key = eq < 0 ? entry : entry.slice(0, eq)
    if (eq <= 0 || /\s/.test(key)) {
      throw new UserError(
        `${name} entry '${entry.length > 60 ? entry.slice(0, 60) + '…' : entry}' is not KEY=VALUE: ` +
          `give one KEY=VALUE per line, with no spaces in KEY.`
      )
    }
  }
  return entries
}

/** `replace` (the default: the user's tags replace the derived ones) or `append`. */
export function parseTagsMode(value: string): TagsMode {
  const v = value.trim().toLowerCase()
  if (v === '' || v === 'replace') return 'replace'
  if (v === 'append') return 'append'
  throw new UserError(
    `tags-mode '${value}' is not one of replace, append: use 'replace' to publish only the tags ` +
      `you give, or 'append' to add them to the tags derived from the event.`
  )
}

/**
 * Reads every input. The token is registered as a secret first, before anything can be printed.
 * `getInput` is injectable so the parsing can be tested without environment variables.
 */
export function readInputs(
  env: Env = process.env,
  getInput: (name: string) => string = name => core.getInput(name)
): ActionInputs {
  const token = getInput('token')
  if (token) core.setSecret(token)

  // action.yml gives `context` no default, so a context the workflow wrote is told from none.
  const rawContext = getInput('context')
  const inputs: ActionInputs = {
    registry: getInput('registry'),
    registryType: getInput('registry-type'),
    username: getInput('username') || env.GITHUB_ACTOR || '',
    token,
    owner: getInput('owner'),
    repository: getInput('repository'),
    imageName: getInput('image-name'),
    tags: parseList(getInput('tags'), 'comma-newline'),
    tagsMode: parseTagsMode(getInput('tags-mode')),
    context: rawContext || '.',
    file: getInput('file'),
    buildArgs: parseKeyValues('build-args', getInput('build-args')),
    labels: parseKeyValues('labels', getInput('labels')),
    target: getInput('target').trim(),
    pull: parseBoolean('pull', getInput('pull'), false),
    noCache: parseBoolean('no-cache', getInput('no-cache'), false),
    push: getInput('push').trim() === '' ? undefined : parseBoolean('push', getInput('push'), true),
    retries: parseRetries(getInput('retries')),
    sourceImage: getInput('source-image').trim(),
    buildx: parseBuildx(getInput),
    platforms: parsePlatforms(getInput('platforms')),
    provenance: parseProvenance(getInput('provenance')),
    sbom: parseBoolean('sbom', getInput('sbom'), false),
    pushByDigest: parseBoolean('push-by-digest', getInput('push-by-digest'), false),
    mergeDigests: parseMergeDigests(getInput('merge-digests')),
    contextRepository: env.GITHUB_REPOSITORY ?? '',
    serverUrl: env.GITHUB_SERVER_URL ?? ''
  }
  if (inputs.target && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(inputs.target)) {
    throw new UserError(
      `target '${inputs.target}' is not a build stage name: use the name after 'AS' in a FROM line of the Dockerfile.`
    )
  }
  if (inputs.mergeDigests.length) refuseWithMerge(inputs, rawContext)
  if (inputs.sourceImage) {
    inputs.sourceImage = parseSourceImage(inputs.sourceImage)
    refuseBuildInputs(inputs, rawContext)
  }
  checkPlatformInputs(inputs)
  return inputs
}

/** A whole number of retries, 0 to 20; 3 when not given. */
export function parseRetries(value: string): number {
  const v = value.trim()
  if (v === '') return 3
  if (!/^\d+$/.test(v) || Number(v) > 20) {
    throw new UserError(
      `retries '${value}' is not a whole number from 0 to 20: use for example 3 (the default), or 0 to never retry.`
    )
  }
  return Number(v)
}

/** `provenance`: empty or false (the default: no attestation), true, mode=min or mode=max. */
export function parseProvenance(value: string): string {
  const v = value.trim()
  if (v === '') return 'false'
  if (/^(true|True|TRUE|false|False|FALSE)$/.test(v)) return v.toLowerCase()
  if (/^mode=(min|max)$/.test(v)) return v
  throw new UserError(
    `provenance '${value}' is not one of false, true, mode=min, mode=max: false (the default) ` +
      'attaches no provenance attestation, true or mode=min a minimal one, mode=max a detailed one.'
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
function refuseWithMerge(inputs: ActionInputs, rawContext: string): void {
  const given = Object.entries({
    'source-image': inputs.sourceImage !== '',
    context: rawContext !== '',
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
  })
    .filter(([, isGiven]) => isGiven)
    .map(([name]) => name)
  if (given.length) {
    throw new UserError(
      `merge-digests merges images that are already pushed, so nothing is built and ` +
        `${given.join(', ')} ${given.length === 1 ? 'has' : 'have'} no effect: remove ` +
        `${given.length === 1 ? 'it' : 'them'} from the merge step (they belong to the build jobs).`
    )
  }
  if (inputs.push === false) {
    throw new UserError(
      'merge-digests pushes an index under the tags, but push is false: remove push: false from the merge step.'
    )
  }
}

/** buildx (auto/true/false), buildx-version (a release tag) and buildx-download-url (http[s]). */
export function parseBuildx(getInput: (name: string) => string): BuildxSettings {
  const raw = getInput('buildx').trim()
  const mode = /^(|auto)$/i.test(raw)
    ? 'auto'
    : /^(true|false)$/i.test(raw)
      ? (raw.toLowerCase() as 'true' | 'false')
      : undefined
  if (!mode) {
    throw new UserError(
      `buildx '${raw}' is not one of auto, true, false: auto uses buildx when the runner has it, ` +
        'true installs it when missing, false always uses the classic docker build.'
    )
  }
  const version = getInput('buildx-version').trim() || DEFAULT_BUILDX_VERSION
  if (!/^v\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(version)) {
    throw new UserError(
      `buildx-version '${version}' is not a docker/buildx release tag: use one such as ${DEFAULT_BUILDX_VERSION}.`
    )
  }
  const baseUrl = getInput('buildx-download-url').trim() || DEFAULT_BUILDX_BASE_URL
  let url: URL | undefined
  try {
    url = new URL(baseUrl)
  } catch {
    url = undefined
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.search || url.hash) {
    throw new UserError(
      `buildx-download-url '${baseUrl}' is not an http(s) URL of a releases folder: use one laid out like ` +
        `${DEFAULT_BUILDX_BASE_URL} (VERSION/buildx-VERSION.OS-ARCH and VERSION/checksums.txt below it).`
    )
  }
  return { mode, version, baseUrl }
}

/**
 * With `source-image` nothing is built, so inputs that configure a build would be silently
 * ignored: refuse them instead. (`pull` and `no-cache` only count when true: false is their default.)
 */
function refuseBuildInputs(inputs: ActionInputs, rawContext: string): void {
  const given = Object.entries({
    context: rawContext !== '',
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
  })
    .filter(([, isGiven]) => isGiven)
    .map(([name]) => name)
  if (given.length === 0) return
  throw new UserError(
    `source-image '${inputs.sourceImage}' publishes an existing image, so nothing is built and ` +
      `${given.join(', ')} ${given.length === 1 ? 'has' : 'have'} no effect: remove ` +
      `${given.length === 1 ? 'it' : 'them'}, or remove source-image to build from a Dockerfile.`
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
