/**
 * The BuildKit inputs: secrets, secret-files, secret-envs, ssh, cache-from, cache-to,
 * build-contexts and annotations, each parsed on its own (rules.ts checks how they go with the
 * builder and the other inputs). Nothing here reads a secret's value into a message.
 */
import { CACHE_TYPES, attr, type CacheEntry } from '../docker/cache-syntax.js'
import { UserError } from '../util/errors.js'
import { parseList } from './list-input.js'

/** A build secret: its value (secrets), a file (secret-files) or an environment variable (secret-envs). */
export type BuildSecret =
  | { id: string; source: 'value'; value: string }
  | { id: string; source: 'file'; path: string }
  | { id: string; source: 'env'; variable: string }

/** What the build needs from its builder, for rules.ts and produce/build.ts. */
export interface BuildOptions {
  secrets: BuildSecret[]
  /** `default` or `ID=PATH[,PATH]` (paths as given). */
  ssh: string[]
  cacheFrom: CacheEntry[]
  cacheTo: CacheEntry[]
  /** `NAME=VALUE` (a path, docker-image://…, target:…, https://…). */
  buildContexts: string[]
  /** `KEY=VALUE`, or `TYPE:KEY=VALUE` with TYPE one of ANNOTATION_TYPES (optionally `TYPE[PLATFORM]`). */
  annotations: string[]
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/
/** An environment variable's name (POSIX: letters, digits, underscore; not starting with a digit). */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** `ID=REST` of a line; says what is wrong without echoing the line (it may hold a secret). */
function idAndRest(input: string, line: string, index: number, what: string): [string, string] {
  const eq = line.indexOf('=')
  const id = eq < 0 ? '' : line.slice(0, eq).trim()
  if (eq <= 0 || !ID.test(id)) {
    throw new UserError(
      `${input} line ${index + 1} is not ID=${what}: give one ID=${what} per line, ID made of ` +
        'letters, digits, ".", "_" and "-" (the id in RUN --mount=type=secret,id=ID).'
    )
  }
  return [id, line.slice(eq + 1)]
}

/** secrets, secret-files and secret-envs together: ids are unique across the three. */
export function parseSecrets(secrets: string, files: string, envs: string): BuildSecret[] {
  const out: BuildSecret[] = []
  parseList(secrets, 'newline').forEach((line, i) => {
    const [id, value] = idAndRest('secrets', line, i, 'VALUE')
    out.push({ id, source: 'value', value })
  })
  parseList(files, 'newline').forEach((line, i) => {
    const [id, file] = idAndRest('secret-files', line, i, 'PATH')
    if (!file.trim()) {
      throw new UserError(
        `secret-files ${id} has no path: give ${id}=PATH (relative to the workspace).`
      )
    }
    out.push({ id, source: 'file', path: file.trim() })
  })
  parseList(envs, 'newline').forEach((line, i) => {
    const [id, variable] = idAndRest('secret-envs', line, i, 'ENV_NAME')
    if (!ENV_NAME.test(variable.trim())) {
      throw new UserError(
        `secret-envs ${id}: '${variable.trim().slice(0, 60)}' is not an environment variable name: ` +
          `give ${id}=NAME, and set NAME in the step's env (e.g. NAME: \${{ secrets.NAME }}).`
      )
    }
    out.push({ id, source: 'env', variable: variable.trim() })
  })
  const seen = new Set<string>()
  for (const s of out) {
    if (seen.has(s.id)) {
      throw new UserError(
        `secret id '${s.id}' is given twice (secrets, secret-files and secret-envs share one set of ids): ` +
          'give each secret its own id.'
      )
    }
    seen.add(s.id)
  }
  return out
}

/** ssh: `default` (the agent at SSH_AUTH_SOCK) or `ID=PATH[,PATH…]` (keys or agent sockets). */
export function parseSsh(value: string): string[] {
  const entries = parseList(value, 'newline')
  for (const entry of entries) {
    if (entry === 'default') continue
    const eq = entry.indexOf('=')
    const id = eq < 0 ? entry : entry.slice(0, eq)
    if (!ID.test(id) || (eq >= 0 && !entry.slice(eq + 1).trim())) {
      throw new UserError(
        `ssh '${entry.slice(0, 60)}' is not 'default' or ID=PATH: use default to forward the job's ` +
          'SSH agent (SSH_AUTH_SOCK, e.g. from webfactory/ssh-agent), or ID=PATH for a key file.'
      )
    }
  }
  return entries
}

/** cache-from / cache-to: buildx syntax, one entry per line; a bare image reference is type=registry. */
export function parseCache(name: 'cache-from' | 'cache-to', value: string): CacheEntry[] {
  return parseList(value, 'newline').map(line => {
    if (!line.includes('=')) {
      if (name === 'cache-to' || /[\s,]/.test(line)) throw badCache(name, line)
      return { type: 'registry', attrs: [['ref', line]] }
    }
    const attrs: [string, string][] = []
    let type = ''
    for (const part of line.split(',')) {
      const eq = part.indexOf('=')
      if (eq <= 0) throw badCache(name, line)
      const key = part.slice(0, eq).trim()
      const v = part.slice(eq + 1).trim()
      if (key === 'type') type = v
      else attrs.push([key, v])
    }
    if (!(CACHE_TYPES as readonly string[]).includes(type)) throw badCache(name, line)
    const entry = { type: type as CacheEntry['type'], attrs }
    if (name === 'cache-from' && entry.type === 'inline') {
      throw new UserError(
        'cache-from type=inline is not a cache source: an inline cache travels inside an image, ' +
          'so read it with cache-from: type=registry,ref=IMAGE:TAG.'
      )
    }
    if (entry.type === 'registry' && !attr(entry, 'ref')) {
      throw new UserError(`${name} '${line}' has no ref: give type=registry,ref=IMAGE:TAG.`)
    }
    if (entry.type === 'local' && !attr(entry, name === 'cache-from' ? 'src' : 'dest')) {
      throw new UserError(
        `${name} '${line}' has no ${name === 'cache-from' ? 'src' : 'dest'}: ` +
          `give type=local,${name === 'cache-from' ? 'src' : 'dest'}=FOLDER.`
      )
    }
    return entry
  })
}

function badCache(name: string, line: string): UserError {
  return new UserError(
    `${name} '${line.slice(0, 80)}' is not a cache entry: give one per line in buildx's syntax, ` +
      'type=TYPE,KEY=VALUE,… with TYPE one of gha, registry, local, inline' +
      `${name === 'cache-from' ? ' (or an image reference alone)' : ''}.`
  )
}

/** build-contexts: NAME=VALUE lines (VALUE a path, docker-image://REF, target:STAGE or a URL). */
export function parseBuildContexts(value: string): string[] {
  const entries = parseList(value, 'newline')
  for (const entry of entries) {
    const eq = entry.indexOf('=')
    const name = eq < 0 ? '' : entry.slice(0, eq)
    if (eq <= 0 || !/^[A-Za-z0-9][A-Za-z0-9_./:@-]*$/.test(name) || !entry.slice(eq + 1).trim()) {
      throw new UserError(
        `build-contexts '${entry.slice(0, 80)}' is not NAME=VALUE: give one per line, e.g. ` +
          'shared=../shared or alpine=docker-image://alpine:3.20 (NAME as used in FROM or COPY --from).'
      )
    }
  }
  return entries
}

export const ANNOTATION_TYPES = ['manifest', 'index', 'manifest-descriptor', 'index-descriptor']

/** annotations: KEY=VALUE lines, optionally TYPE:KEY=VALUE or TYPE[PLATFORM]:KEY=VALUE. */
export function parseAnnotations(value: string): string[] {
  const entries = parseList(value, 'newline')
  for (const entry of entries) {
    const { type, key } = splitAnnotation(entry)
    if (!key || /\s/.test(key) || (type !== undefined && !ANNOTATION_TYPES.includes(type))) {
      throw new UserError(
        `annotations '${entry.slice(0, 80)}' is not KEY=VALUE: give one per line, e.g. ` +
          'org.opencontainers.image.description=My image, optionally prefixed with manifest: or ' +
          'index: (where the annotation goes; both by default for a multi-platform image).'
      )
    }
  }
  return entries
}

/** TYPE (without a [PLATFORM]), KEY and VALUE of an annotation line. */
export function splitAnnotation(entry: string): {
  type?: string
  platform?: string
  key: string
  value: string
} {
  const eq = entry.indexOf('=')
  if (eq <= 0) return { key: '', value: '' }
  const left = entry.slice(0, eq)
  const value = entry.slice(eq + 1)
  const m = /^([a-z-]+)(?:\[([^\]]+)\])?:(.+)$/.exec(left)
  // Annotation keys are reverse-DNS names, so a colon before '=' can only be a TYPE prefix.
  if (m) return { type: m[1], platform: m[2], key: m[3], value }
  return { key: left, value }
}

/**
 * The annotations the action puts on a manifest it pushes (no prefix, or manifest:), or on an
 * index it makes of a local image of several platforms (no prefix, or index:, as buildx does).
 */
function annotationsOn(target: 'manifest' | 'index', entries: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const entry of entries) {
    const { type, platform, key, value } = splitAnnotation(entry)
    if ((type === undefined || type === target) && platform === undefined) out[key] = value
  }
  return out
}

export const manifestAnnotations = (entries: string[]): Record<string, string> =>
  annotationsOn('manifest', entries)
export const indexAnnotations = (entries: string[]): Record<string, string> =>
  annotationsOn('index', entries)

/**
 * buildx --annotation values for a build of platforms: an entry without a TYPE goes on every
 * manifest, and also on the index when the result is one (GitHub shows an index's annotations).
 */
export function buildxAnnotations(entries: string[], index: boolean): string[] {
  const out: string[] = []
  for (const entry of entries) {
    const { type } = splitAnnotation(entry)
    if (type !== undefined) {
      out.push(entry)
    } else {
      out.push(`manifest:${entry}`)
      if (index) out.push(`index:${entry}`)
    }
  }
  return out
}
