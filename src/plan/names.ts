/**
 * Image naming for GitHub's registries: which registry, which scheme, and the lowercase,
 * grammar-checked names and tags. Pure functions; nothing here touches the network or docker.
 *
 * Name schemes (docs/facts/github-registries.md, "Hosts and name schemes"):
 *   container: REGISTRY/OWNER/IMAGE_NAME          (ghcr.io, containers.HOSTNAME on GHES)
 *   docker:    REGISTRY/OWNER/REPOSITORY/IMAGE_NAME (docker.pkg.github.com, docker.HOSTNAME, HOSTNAME)
 */
import { isIPv6 } from 'node:net'
import { defaultRegistry, runnerServer } from '../github/hosts.js'
import { UserError } from '../util/errors.js'
import { describeCharacters, quote } from '../util/text.js'

export type RegistryType = 'container' | 'docker'

/**
 * The distribution reference grammar, spelled once: one path component of a repository name, a
 * tag (case is kept), one label of a domain. The checks below and REFERENCE are built from them.
 */
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*'
const TAG_GRAMMAR = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'
const LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const PATH_COMPONENT = new RegExp(`^${COMPONENT}$`)
const TAG = new RegExp(`^${TAG_GRAMMAR}$`)
const DOMAIN_LABEL = new RegExp(`^${LABEL}$`)
/** Total length of a name, registry included, as docker's reference parser enforces it. */
export const NAME_TOTAL_LENGTH_MAX = 255

/**
 * Checks a `registry` input: a bare `host[:port]` (IPv6 in brackets). Returns it lowercased.
 */
export function parseRegistry(input: string): string {
  const value = input.trim()
  if (!value)
    throw new UserError('registry is empty: give a host such as ghcr.io, or leave it unset.')
  const authority = value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0]
  if (authority.includes('@')) {
    const host = authority.slice(authority.lastIndexOf('@') + 1)
    throw new UserError(
      `registry ${quote(value.replace(authority, `***@${host}`), 100)} must be a host[:port] without ` +
        `credentials (user@ or user:password@): use ${quote(host)}, and give the account in the ` +
        'username input and its token in the token input.'
    )
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    const bare = value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/.*$/, '')
    throw new UserError(
      `registry ${quote(value)} must be a host[:port] without a scheme: use ${quote(bare)}.`
    )
  }
  if (value.includes('/')) {
    const [host, ...rest] = value.split('/')
    throw new UserError(
      `registry ${quote(value)} must be only the host[:port] (${quote(host)}); ` +
        `set ${quote(rest.join('/'))} through the owner, repository or image-name inputs instead.`
    )
  }
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:]+)(?::(\d+))?$/.exec(value)
  const host = match?.[1] ?? ''
  const port = match?.[2]
  // A DNS label is 1-63 characters, a name at most 253 (RFC 1035 2.3.4); an IPv6 literal in
  // brackets must be one (`[:]` is not): each would fail later, at docker login or the first
  // request, with a less clear message.
  const long = host.startsWith('[') ? undefined : host.split('.').find(l => l.length > 63)
  const hostOk = host.startsWith('[')
    ? isIPv6(host.slice(1, -1))
    : host !== '' &&
      host.length <= 253 &&
      !long &&
      host.split('.').every(label => DOMAIN_LABEL.test(label))
  if (!match || !hostOk || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
    const why = long
      ? ` (a DNS label is at most 63 characters; ${quote(long, 20)} has ${long.length})`
      : host.startsWith('[') && !hostOk
        ? ` (${quote(host)} is not an IPv6 address)`
        : ''
    throw new UserError(
      `registry ${quote(value)} is not a valid host[:port]${why}: use a host name such as ` +
        `ghcr.io, containers.github.example.com or localhost:5000.`
    )
  }
  return value.toLowerCase()
}

/** `auto`: docker.pkg.github.com and hosts starting with `docker.` use the docker scheme. */
export function resolveRegistryType(input: string, registry: string): RegistryType {
  const value = (input || 'auto').trim().toLowerCase()
  if (value === 'container' || value === 'docker') return value
  if (value !== 'auto') {
    throw new UserError(
      `registry-type ${quote(input)} is not one of auto, container, docker: ` +
        `use 'container' for ghcr.io-style names (REGISTRY/OWNER/IMAGE_NAME) or 'docker' for ` +
        `docker.pkg.github.com-style names (REGISTRY/OWNER/REPOSITORY/IMAGE_NAME).`
    )
  }
  const host = registry.replace(/:\d+$/, '')
  return host === 'docker.pkg.github.com' || host.startsWith('docker.') ? 'docker' : 'container'
}

/** Why a path component is invalid, in words a workflow author can act on; '' when valid. */
function componentProblem(component: string): string {
  if (component === '') return 'it has an empty path component (a leading, trailing or doubled /)'
  if (PATH_COMPONENT.test(component)) return ''
  if (/[^a-z0-9._-]/.test(component)) {
    const bad = describeCharacters(component, /[a-z0-9._-]/)
    return `${quote(component)} contains ${bad}: only lowercase letters, digits, '.', '_' and '-' are allowed`
  }
  return `${quote(component)} must start and end with a letter or digit, and separators (., _, __, -) must stand between letters or digits`
}

function checkPath(what: string, value: string, hint: string): void {
  for (const component of value.split('/')) {
    const problem = componentProblem(component)
    if (problem)
      throw new UserError(`${what} ${quote(value)} is not a valid image path: ${problem}. ${hint}`)
  }
}

export interface NameInputs {
  registry: string
  registryType: string
  /** From the inputs; '' means "take it from the workflow context". */
  owner: string
  repository: string
  imageName: string
  tags: string[]
  /** No tags is fine (push-by-digest pushes none); otherwise at least one is needed. */
  allowNoTags?: boolean
  /** owner/name from GITHUB_REPOSITORY. */
  contextRepository: string
  serverUrl: string
}

export interface ImageNames {
  registry: string
  registryType: RegistryType
  owner: string
  repository: string
  imageName: string
  /** REGISTRY/PATH, no tag. */
  image: string
  /** Repository path inside the registry (what the registry API calls the name). */
  path: string
  tags: string[]
  /** image:tag for every tag. */
  references: string[]
  notices: string[]
}

/**
 * GitHub spells user and organization names with ASCII letters, digits and '-', repository names
 * also with '.' and '_'. Checked before lowercasing: 'K' (U+212A, the Kelvin sign) lowercases to an
 * ASCII 'k', and would name another account.
 */
const GITHUB_NAME_CHARACTER = { owner: /[A-Za-z0-9-]/, repository: /[A-Za-z0-9._-]/ }

function checkGitHubName(what: 'owner' | 'repository', value: string, source: string): void {
  const allowed = GITHUB_NAME_CHARACTER[what]
  if ([...value].every(c => allowed.test(c))) return
  const kind = what === 'owner' ? 'user or organization' : 'repository'
  const spelling =
    what === 'owner' ? "ASCII letters, digits and '-'" : "ASCII letters, digits, '.', '_' and '-'"
  throw new UserError(
    `${what} ${quote(value, 100)} (${source}) is not a GitHub ${kind} name: it contains ` +
      `${describeCharacters(value, allowed)}; GitHub ${kind} names hold only ${spelling}. ` +
      `Set the ${what} input to the name as GitHub shows it.`
  )
}

/** Lowercases a case-insensitive GitHub name, with a notice when that changed it. */
function lowercaseName(what: string, value: string, source: string, notices: string[]): string {
  const lower = value.toLowerCase()
  if (lower !== value) {
    notices.push(
      `${what} ${quote(value)} (${source}) was lowercased to ${quote(lower)}: image names must be lowercase.`
    )
  }
  return lower
}

/**
 * Resolves every name from the inputs and the workflow context, or throws a UserError that says
 * what is wrong and how to fix it.
 */
export function resolveNames(inputs: NameInputs): ImageNames {
  const notices: string[] = []
  const registry = inputs.registry.trim()
    ? parseRegistry(inputs.registry)
    : defaultRegistry(runnerServer(inputs.serverUrl))
  const registryType = resolveRegistryType(inputs.registryType, registry)

  const [ctxOwner = '', ctxRepo = ''] = inputs.contextRepository.split('/')
  const ownerSource = inputs.owner.trim()
    ? 'input owner'
    : 'repository owner from the workflow context'
  const rawOwner = inputs.owner.trim() || ctxOwner
  if (!rawOwner) {
    throw new UserError(
      'owner is empty and GITHUB_REPOSITORY is not set: set the owner input (the user or organization that owns the package).'
    )
  }
  if (rawOwner.includes('/')) {
    throw new UserError(
      `owner ${quote(rawOwner)} must be a single user or organization name, without '/'.`
    )
  }
  checkGitHubName('owner', rawOwner, ownerSource)
  const owner = lowercaseName('owner', rawOwner, ownerSource, notices)
  checkPath(
    'owner',
    owner,
    'Set the owner input to the GitHub user or organization that owns the package.'
  )

  const repoSource = inputs.repository.trim()
    ? 'input repository'
    : 'repository name from the workflow context'
  const rawRepository = inputs.repository.trim() || ctxRepo
  if (rawRepository && !rawRepository.includes('/')) {
    checkGitHubName('repository', rawRepository, repoSource)
  }
  // Notices about the repository name matter only to the docker scheme, which uses it.
  const repoNotices: string[] = []
  const repository = lowercaseName('repository', rawRepository, repoSource, repoNotices)

  let imageName: string
  const givenImage = inputs.imageName.trim()
  if (givenImage) {
    // Not ASCII: no lowercase suggestion ('İ' lowercases to 'i' and a combining dot).
    if (!/^[\x21-\x7e]*$/.test(givenImage)) {
      throw new UserError(
        `image-name ${quote(givenImage, 100)} is not a valid image path: it contains ` +
          `${describeCharacters(givenImage, /[a-z0-9._/-]/)}: only lowercase ASCII letters, digits, ` +
          "'.', '_', '-' and '/' are allowed. Example of a valid image-name: 'my-app' or 'app/release'."
      )
    }
    if (givenImage !== givenImage.toLowerCase()) {
      throw new UserError(
        `image-name ${quote(givenImage)} must be lowercase: use ${quote(givenImage.toLowerCase())}.`
      )
    }
    imageName = givenImage
    checkPath('image-name', imageName, "Example of a valid image-name: 'my-app' or 'app/release'.")
  } else {
    if (!rawRepository) {
      throw new UserError(
        'image-name is empty and GITHUB_REPOSITORY is not set: set the image-name input.'
      )
    }
    imageName = lowercaseName('image-name', rawRepository, 'default: the repository name', notices)
    checkPath(
      'image-name',
      imageName,
      'It defaults to the repository name; set the image-name input to a valid name.'
    )
  }

  let path: string
  if (registryType === 'docker') {
    if (!repository) {
      throw new UserError(
        'repository is empty and GITHUB_REPOSITORY is not set: the docker registry scheme ' +
          '(REGISTRY/OWNER/REPOSITORY/IMAGE_NAME) needs the repository input.'
      )
    }
    if (repository.includes('/')) {
      throw new UserError(
        `repository ${quote(rawRepository)} must be a single repository name, without '/'.`
      )
    }
    checkPath(
      'repository',
      repository,
      'Set the repository input to the name of the GitHub repository.'
    )
    notices.push(...repoNotices)
    path = `${owner}/${repository}/${imageName}`
  } else {
    path = `${owner}/${imageName}`
  }

  const image = `${registry}/${path}`
  if (image.length > NAME_TOTAL_LENGTH_MAX) {
    throw new UserError(
      `image name ${quote(image)} is ${image.length} characters long; registries accept at most ` +
        `${NAME_TOTAL_LENGTH_MAX}. Choose a shorter image-name.`
    )
  }

  const tags = inputs.allowNoTags && inputs.tags.length === 0 ? [] : validateTags(inputs.tags)
  return {
    registry,
    registryType,
    owner,
    repository,
    imageName,
    image,
    path,
    tags,
    references: tags.map(tag => `${image}:${tag}`),
    notices
  }
}

/** Checks tags against the reference grammar; keeps their case and order, drops duplicates. */
export function validateTags(tags: string[]): string[] {
  const unique = [...new Set(tags.map(t => t.trim()).filter(t => t !== ''))]
  if (unique.length === 0) {
    throw new UserError("tags is empty: give at least one tag, for example 'latest' or '1.2.3'.")
  }
  for (const tag of unique) {
    if (/^sha256:/i.test(tag) || /^[0-9a-f]{64}$/i.test(tag) || tag.includes('@')) {
      throw new UserError(
        `tag ${quote(tag)} looks like a digest: images are pushed as IMAGE_NAME:VERSION, not by SHA. ` +
          `Use a version such as '1.2.3' or 'latest'; the digest is an output of this action.`
      )
    }
    if (tag.includes(':') || tag.includes('/')) {
      const last = tag.split(/[:/]/).pop() ?? ''
      throw new UserError(
        `tag ${quote(tag)} must be only the tag, not an image reference: use ${quote(last)} ` +
          `(the image name comes from the registry, owner and image-name inputs).`
      )
    }
    if (!TAG.test(tag)) {
      const why =
        tag.length > 128
          ? `it is ${tag.length} characters long (at most 128)`
          : /^[.-]/.test(tag)
            ? "it starts with '.' or '-'"
            : `it contains ${describeCharacters(tag, /[A-Za-z0-9_.-]/)}`
      throw new UserError(
        `tag ${quote(tag)} is not valid: ${why}. Tags may hold letters, digits, '_', '.' and '-', ` +
          `must not start with '.' or '-', and are at most 128 characters.`
      )
    }
  }
  return unique
}

/** An image ID as `docker images` shows it (12 hex digits) up to the full `sha256:…`. */
const IMAGE_ID = /^(?:sha256:)?[0-9a-f]{12,64}$/
/** A local image reference: [DOMAIN[:PORT]/]PATH[:TAG][@DIGEST] (distribution reference grammar). */
const DOMAIN = `${LABEL}(?:\\.${LABEL})*(?::[0-9]+)?`
const REFERENCE = new RegExp(
  `^(?:${DOMAIN}/)?${COMPONENT}(?:/${COMPONENT})*(?::${TAG_GRAMMAR})?(?:@sha256:[0-9a-f]{64})?$`
)

/**
 * Checks a `source-image` input: an image ID (`38f737a91f39`, `sha256:…`) or a local reference
 * (`hello_docker:latest`, `localhost:5000/app@sha256:…`). Anything else — and in particular a value
 * starting with '-', which docker would read as an option — is refused before docker runs.
 */
export function parseSourceImage(input: string): string {
  const value = input.trim()
  if (IMAGE_ID.test(value) || REFERENCE.test(value)) return value
  const hint =
    'Use an image ID or a reference as `docker images` lists them, e.g. 38f737a91f39 or hello_docker:latest.'
  if (value.startsWith('@')) {
    throw new UserError(
      `source-image ${quote(value, 80)} has no image name before '@': give NAME@sha256:…, or the image ID alone. ${hint}`
    )
  }
  if (/[A-Z]/.test(value.replace(/^[^/]*\//, '').replace(/:[^/]*$/, '')) && !/\s/.test(value)) {
    throw new UserError(
      `source-image ${quote(value)} is not a valid image reference: repository names are lowercase. ${hint}`
    )
  }
  throw new UserError(
    `source-image ${quote(value)} is neither an image ID nor an image reference (NAME[:TAG] or NAME@sha256:…). ${hint}`
  )
}
