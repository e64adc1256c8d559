/**
 * Reads and parses the action's inputs, each on its own. How inputs go together is checked in
 * rules.ts. Everything here runs before any daemon or network call; a mistake is reported as a
 * UserError that says how to fix it.
 */
import * as core from '@actions/core'
import type { BuildxSettings } from '../docker/buildx.js'
import type { RunContext } from '../github/context.js'
import { UserError } from '../util/errors.js'
import { parseMergeDigests, type MergeEntry } from './merge-digests.js'
import { parsePlatforms } from './platforms.js'
import { checkInputCombinations } from './rules.js'
import type { TagsMode } from './tags.js'

/** Keep in step with the default of the buildx-version input in action.yml (a test checks). */
export const DEFAULT_BUILDX_VERSION = 'v0.29.1'
export const DEFAULT_BUILDX_BASE_URL = 'https://github.com/docker/buildx/releases/download'

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
  /** context as the workflow wrote it ('' when not given: context is then '.'). */
  rawContext: string
  /** Workflow context: GITHUB_REPOSITORY and GITHUB_SERVER_URL. */
  contextRepository: string
  serverUrl: string
}

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
  run: Pick<RunContext, 'actor' | 'repository' | 'serverUrl'>,
  getInput: (name: string) => string = name => core.getInput(name)
): ActionInputs {
  const token = getInput('token')
  if (token) core.setSecret(token)

  // action.yml gives `context` no default, so a context the workflow wrote is told from none.
  const rawContext = getInput('context')
  const inputs: ActionInputs = {
    registry: getInput('registry'),
    registryType: getInput('registry-type'),
    username: getInput('username') || run.actor,
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
    rawContext,
    contextRepository: run.repository,
    serverUrl: run.serverUrl
  }
  if (inputs.target && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(inputs.target)) {
    throw new UserError(
      `target '${inputs.target}' is not a build stage name: use the name after 'AS' in a FROM line of the Dockerfile.`
    )
  }
  checkInputCombinations(inputs)
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
