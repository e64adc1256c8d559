/**
 * Reads and parses the action's inputs, each on its own (the shape: action-inputs.ts). How inputs
 * go together is checked in rules.ts, which makePlan runs next. Everything here runs before any
 * daemon or network call; a mistake is reported as a UserError that says how to fix it.
 */
import * as core from '@actions/core'
import type { BuildxSettings } from '../docker/buildx.js'
import { attestationsAsked, type ActionInputs } from './action-inputs.js'
import type { RunContext } from '../github/context.js'
import { UserError } from '../util/errors.js'
import { parseMediaTypes } from './media-types.js'
import {
  parseAnnotations,
  parseBuildContexts,
  parseCache,
  parseSecrets,
  parseSsh
} from './build-options.js'
import { parseCacheMode } from './cache.js'
import { parseMergeDigests } from './merge-digests.js'
import { parseList } from './list-input.js'
import { parsePlatforms } from './platforms.js'
import type { TagsMode } from './tags.js'
import { describeCharacters, hasHiddenCharacters, quote } from '../util/text.js'

/** Keep in step with the default of the buildx-version input in action.yml (a test checks). */
export const DEFAULT_BUILDX_VERSION = 'v0.29.1'
export const DEFAULT_BUILDX_BASE_URL = 'https://github.com/docker/buildx/releases/download'

/** A YAML 1.2 core boolean, as GitHub documents them; anything else is a clear error. */
export function parseBoolean(name: string, value: string, fallback: boolean): boolean {
  const v = value.trim()
  if (v === '') return fallback
  if (/^(true|True|TRUE)$/.test(v)) return true
  if (/^(false|False|FALSE)$/.test(v)) return false
  throw new UserError(`${name} ${quote(value)} is not a boolean: use true or false.`)
}

/** A build argument's name, as a Dockerfile's ARG declares it (ASCII; '.' and '-' allowed inside). */
const BUILD_ARG_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/

/**
 * KEY=VALUE lines (build-args, labels). The value may be empty or hold '='; the key may not be
 * empty, nor hold blanks or invisible characters; a build-arg key is an ARG name.
 */
export function parseKeyValues(name: 'build-args' | 'labels', value: string): string[] {
  const entries = parseList(value, 'newline')
  for (const entry of entries) {
    const eq = entry.indexOf('=')
    const key = eq < 0 ? entry : entry.slice(0, eq)
    if (eq <= 0 || /\s/.test(key)) {
      throw new UserError(
        `${name} entry ${quote(entry, 60)} is not KEY=VALUE: ` +
          `give one KEY=VALUE per line, with no spaces in KEY.`
      )
    }
    if (name === 'build-args' && !BUILD_ARG_NAME.test(key)) {
      throw new UserError(
        `build-args name ${quote(key, 60)} is not a build argument name: it ` +
          (/^[0-9.-]/.test(key)
            ? 'starts with a digit, . or -'
            : `contains ${describeCharacters(key, /[A-Za-z0-9_.-]/)}`) +
          ". Use the name of an ARG of the Dockerfile: ASCII letters, digits, '_' (and '.' or '-' inside)."
      )
    }
    if (hasHiddenCharacters(key)) {
      throw new UserError(
        `labels key ${quote(key, 60)} contains ${describeCharacters(key, /[^\p{C}\p{Z}\p{M}]/u)}, ` +
          'which no one would see in the label: remove it.'
      )
    }
  }
  return entries
}

/**
 * The `tags` input: tags separated by commas and/or newlines. Only separators (`,,,`, often two
 * workflow expressions that came out empty) is refused: it would publish the derived tags instead.
 */
export function parseTags(value: string): string[] {
  const tags = parseList(value, 'comma-newline')
  if (tags.length === 0 && value.trim() !== '') {
    throw new UserError(
      `tags ${quote(value, 60)} holds no tag, only separators: did expressions such as ` +
        '${{ env.TAG }} come out empty? Give at least one tag, or leave tags unset to derive them from the event.'
    )
  }
  return tags
}

/** Schemes of a remote build context docker builds from: git repositories and http(s) tarballs. */
const CONTEXT_SCHEMES = ['http', 'https', 'git', 'ssh']

/**
 * The `context` input: a folder (default '.'), a git repository (https://…/repo.git, git@host:…,
 * git://…, ssh://…) or an http(s) URL of a tarball, as `docker build` takes them. Refused: `-`
 * (docker would wait for a context on stdin, which nothing sends, until the job times out), other
 * schemes (docker would only fail after the login), and URLs with credentials (they would be
 * printed with the docker command).
 */
export function parseContext(raw: string): string {
  const value = raw.trim()
  if (value === '') return '.'
  const ways =
    'use a folder of the workspace (the default is .), a git repository (https://host/repo.git, ' +
    'git@host:repo.git) or an http(s) URL of a tarball'
  if (value === '-') {
    throw new UserError(
      `context '-' would make docker read the build context from standard input, which this action does not give: ${ways}.`
    )
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]
  if (scheme && !CONTEXT_SCHEMES.includes(scheme.toLowerCase())) {
    const path = scheme.toLowerCase() === 'file' ? value.replace(/^file:\/\/(localhost)?/i, '') : ''
    throw new UserError(
      `context ${quote(withoutCredentials(value), 100)} uses the scheme ${quote(scheme)}, which docker cannot build from: ` +
        (path ? `give the folder itself (${quote(path, 100)}), or ${ways}.` : `${ways}.`)
    )
  }
  if (scheme && hasCredentials(value)) {
    throw new UserError(
      `context ${quote(withoutCredentials(value), 100)} holds credentials (user:password@), which would be ` +
        'printed in the log with the docker build command: check the repository out with ' +
        'actions/checkout (its token stays out of the log) and build from the folder, or use a URL that needs none.'
    )
  }
  return value
}

/**
 * Whether a URL carries credentials: a password (scheme://user:password@host), or, over http(s),
 * any user part (https://TOKEN@host). A bare user name of ssh or git (ssh://git@host) is not one.
 */
function hasCredentials(url: string): boolean {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)@/i.exec(url)
  if (!m) return false
  return m[2].includes(':') || /^https?$/i.test(m[1])
}

/** The URL with its user and password part replaced by ***, for messages. */
function withoutCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@')
}

/**
 * Environment variables the docker CLI (or buildx) reads itself: build-args reach docker through
 * its environment, so an ARG of one of these names would change how docker runs.
 */
const DOCKER_OWN_ENV =
  /^(PATH|HOME|TMPDIR|SSH_AUTH_SOCK|DOCKER_.*|BUILDX_.*|BUILDKIT_(PROGRESS|COLORS|TTY_LOG_LINES)|XDG_.*)$/

/**
 * build-args: KEY=VALUE lines, KEY an ARG name (parseKeyValues checks it; the value reaches docker
 * through its environment, never argv). A value equal to the token gets a warning: it would be in the
 * image's history; `secrets` is the way to hand a build a credential.
 */
export function parseBuildArgs(value: string, token = ''): string[] {
  const entries = parseKeyValues('build-args', value)
  const seen = new Set<string>()
  for (const entry of entries) {
    const key = entry.slice(0, entry.indexOf('='))
    if (DOCKER_OWN_ENV.test(key)) {
      throw new UserError(
        `build-args key '${key}' is an environment variable docker itself reads, and build-args ` +
          'reach docker through its environment: rename the ARG in the Dockerfile.'
      )
    }
    if (seen.has(key)) {
      throw new UserError(`build-args key '${key}' is given twice: keep one.`)
    }
    seen.add(key)
    if (token && entry.slice(entry.indexOf('=') + 1) === token) {
      core.warning(
        `build-args ${key} is the token: a build-arg stays readable in the image's history. ` +
          `Pass it with secrets instead (secrets: ${key}=\${{ secrets.… }}) and read it in the ` +
          `Dockerfile with RUN --mount=type=secret,id=${key}.`
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
    `tags-mode ${quote(value)} is not one of replace, append: use 'replace' to publish only the tags ` +
      `you give, or 'append' to add them to the tags derived from the event.`
  )
}

/**
 * Reads every input. The token is registered as a secret first, before anything can be printed.
 * `getInput` is injectable so the parsing can be tested without environment variables.
 */
export function readInputs(
  run: Pick<RunContext, 'actor' | 'repository' | 'serverUrl'> & Partial<Pick<RunContext, 'env'>>,
  getInput: (name: string) => string = name => core.getInput(name)
): ActionInputs {
  const token = getInput('token')
  if (token) core.setSecret(token)
  // Every secret value is masked before anything else is read (and could be printed).
  const secrets = parseSecrets(
    getInput('secrets'),
    getInput('secret-files'),
    getInput('secret-envs')
  )
  for (const secret of secrets) {
    if (secret.source === 'value' && secret.value) core.setSecret(secret.value)
    const fromEnv = secret.source === 'env' ? run.env?.[secret.variable] : undefined
    if (fromEnv) core.setSecret(fromEnv)
  }

  // action.yml gives `context` no default, so a context the workflow wrote is told from none.
  const rawContext = getInput('context')
  const inputs: Omit<ActionInputs, 'attestations'> = {
    registry: getInput('registry'),
    registryType: getInput('registry-type'),
    username: getInput('username') || run.actor,
    token,
    owner: getInput('owner'),
    repository: getInput('repository'),
    imageName: getInput('image-name'),
    tags: parseTags(getInput('tags')),
    tagsMode: parseTagsMode(getInput('tags-mode')),
    context: parseContext(rawContext),
    file: getInput('file'),
    buildArgs: parseBuildArgs(getInput('build-args'), token),
    labels: parseKeyValues('labels', getInput('labels')),
    target: getInput('target').trim(),
    pull: parseBoolean('pull', getInput('pull'), false),
    noCache: parseBoolean('no-cache', getInput('no-cache'), false),
    push: getInput('push').trim() === '' ? undefined : parseBoolean('push', getInput('push'), true),
    retries: parseRetries(getInput('retries')),
    sourceImage: getInput('source-image').trim(),
    buildx: parseBuildx(getInput),
    builder: parseBuilder(getInput('builder')),
    load: parseBoolean('load', getInput('load'), false),
    platforms: parsePlatforms(getInput('platforms')),
    provenance: parseProvenance(getInput('provenance')),
    sbom: parseBoolean('sbom', getInput('sbom'), false),
    pushByDigest: parseBoolean('push-by-digest', getInput('push-by-digest'), false),
    mergeDigests: parseMergeDigests(getInput('merge-digests')),
    mediaTypes: parseMediaTypes(getInput('media-types')),
    rawContext,
    contextRepository: run.repository,
    serverUrl: run.serverUrl,
    build: {
      secrets,
      ssh: parseSsh(getInput('ssh')),
      cacheFrom: parseCache('cache-from', getInput('cache-from')),
      cacheTo: parseCache('cache-to', getInput('cache-to')),
      buildContexts: parseBuildContexts(getInput('build-contexts')),
      annotations: parseAnnotations(getInput('annotations'))
    },
    keepLogin: parseBoolean('keep-login', getInput('keep-login'), false),
    cache: parseCacheMode(getInput('cache'))
  }
  if (inputs.target && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(inputs.target)) {
    throw new UserError(
      `target ${quote(inputs.target)} is not a build stage name: use the name after 'AS' in a FROM line of the Dockerfile.`
    )
  }
  return { ...inputs, attestations: attestationsAsked(inputs) }
}

/** A builder name as buildx names them (docker/setup-buildx-action's `name` output). */
export function parseBuilder(value: string): string {
  const v = value.trim()
  if (v !== '' && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(v)) {
    throw new UserError(
      `builder ${quote(value)} is not a buildx builder name: give the name an earlier step set up ` +
        "(docker/setup-buildx-action's name output), or leave builder empty for the runner's selected builder."
    )
  }
  return v
}

/** A whole number of retries, 0 to 20; 3 when not given. */
export function parseRetries(value: string): number {
  const v = value.trim()
  if (v === '') return 3
  if (!/^\d+$/.test(v) || Number(v) > 20) {
    throw new UserError(
      `retries ${quote(value)} is not a whole number from 0 to 20: use for example 3 (the default), or 0 to never retry.`
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
    `provenance ${quote(value)} is not one of false, true, mode=min, mode=max: false (the default) ` +
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
      `buildx ${quote(raw)} is not one of auto, true, false: auto uses buildx when the runner has it, ` +
        'true installs it when missing, false always uses the classic docker build.'
    )
  }
  const version = getInput('buildx-version').trim() || DEFAULT_BUILDX_VERSION
  if (!/^v\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(version)) {
    throw new UserError(
      `buildx-version ${quote(version)} is not a docker/buildx release tag: use one such as ${DEFAULT_BUILDX_VERSION}.`
    )
  }
  const baseUrl = getInput('buildx-download-url').trim() || DEFAULT_BUILDX_BASE_URL
  if (hasCredentials(baseUrl)) {
    throw new UserError(
      `buildx-download-url ${quote(withoutCredentials(baseUrl), 100)} holds credentials (user:password@): ` +
        'they are not used for the download and would be shown in the log. Remove them: the releases ' +
        'folder must be readable without.'
    )
  }
  let url: URL | undefined
  try {
    url = new URL(baseUrl)
  } catch {
    url = undefined
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.search || url.hash) {
    throw new UserError(
      `buildx-download-url ${quote(baseUrl)} is not an http(s) URL of a releases folder: use one laid out like ` +
        `${DEFAULT_BUILDX_BASE_URL} (VERSION/buildx-VERSION.OS-ARCH and VERSION/checksums.txt below it).`
    )
  }
  return { mode, version, baseUrl }
}
