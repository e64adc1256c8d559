/**
 * Tags, labels and the push default derived from the workflow run (event name, ref, SHA and the
 * event payload read by event.ts). Pure functions: no environment, file or network access here.
 *
 * Tags when the user gives none:
 *   push of tag v1.2.3         → 1.2.3, 1.2, 1, latest   (0.y.z: no floating "0" tag)
 *   push of tag v1.2.3-rc.1    → 1.2.3-rc.1              (prereleases move no other tag)
 *   push of another tag        → its sanitised name
 *   push to the default branch → latest, sha-<7 hex>
 *   push to another branch     → its sanitised name, sha-<7 hex>
 *   pull_request               → pr-<number>
 *   schedule                   → nightly
 *   anything else              → as for its ref (workflow_dispatch, release, …)
 */
import parseSemver from 'semver/functions/parse.js'
import { UserError } from './errors.js'
import type { EventContext, PayloadRepository } from './event.js'
import { githubServerFor, type ImageNames } from './naming.js'

/** Longest tag the distribution reference grammar allows. */
export const TAG_MAX_LENGTH = 128
/** GitHub shows at most 512 characters of org.opencontainers.image.description (REGISTRY-FACTS "Limits"). */
export const DESCRIPTION_MAX_LENGTH = 512
/** GitHub reads at most 256 characters of org.opencontainers.image.licenses (REGISTRY-FACTS "Limits"). */
export const LICENSES_MAX_LENGTH = 256

export type TagsMode = 'replace' | 'append'

/** Events whose GITHUB_TOKEN is read-only when the pull request comes from a fork. */
const PULL_REQUEST_EVENTS = ['pull_request', 'pull_request_review', 'pull_request_review_comment']

/**
 * Turns any name (branch, git tag) into a valid image tag: lowercase, accents dropped, every run of
 * other characters replaced by one '-' (and runs of '-' shortened to one), no leading '.' or '-',
 * no trailing '-' or '.', at most 128 characters. Returns '' when nothing usable is left (e.g. a name made only of CJK characters).
 */
export function sanitizeTag(name: string): string {
  return name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, TAG_MAX_LENGTH)
    .replace(/[.-]+$/, '')
}

export interface DerivedTags {
  tags: string[]
  notices: string[]
}

/** `sha-` and the first 7 hex digits of the commit, or '' when GITHUB_SHA is not a commit SHA. */
function shaTag(sha: string): string {
  return /^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(sha) ? `sha-${sha.slice(0, 7).toLowerCase()}` : ''
}

/** Tags for a pushed git tag: semver ladders, prereleases alone, other names sanitised. */
export function gitTagTags(name: string): string[] {
  const version = parseSemver(name)
  if (!version) return [sanitizeTag(name)]
  // version.version drops build metadata (+…), which cannot be part of an image tag and, by
  // semver's rules, does not make a different version.
  if (version.prerelease.length > 0) return [sanitizeTag(version.version)]
  const { major, minor, patch } = version
  const tags = [`${major}.${minor}.${patch}`, `${major}.${minor}`]
  // Major version zero is initial development (semver §4): a floating "0" would cross breaking changes.
  if (major > 0) tags.push(`${major}`)
  tags.push('latest')
  return tags
}

function pullRequestNumber(ctx: EventContext): number | undefined {
  const fromPayload = ctx.payload.number ?? ctx.payload.pull_request?.number
  if (typeof fromPayload === 'number' && Number.isInteger(fromPayload)) return fromPayload
  const fromRef = /^refs\/pull\/(\d+)\//.exec(ctx.ref)?.[1]
  return fromRef ? Number(fromRef) : undefined
}

/** The tags the run's event calls for; throws a UserError when the event says nothing usable. */
export function deriveTags(ctx: EventContext): DerivedTags {
  const notices: string[] = []
  const tags: string[] = []
  const pr = pullRequestNumber(ctx)

  if (ctx.eventName === 'schedule') {
    tags.push('nightly')
  } else if (
    PULL_REQUEST_EVENTS.includes(ctx.eventName) ||
    ctx.eventName === 'pull_request_target' ||
    ctx.ref.startsWith('refs/pull/')
  ) {
    if (pr !== undefined) tags.push(`pr-${pr}`)
  } else if (ctx.ref.startsWith('refs/tags/')) {
    const name = ctx.ref.slice('refs/tags/'.length)
    const fromTag = gitTagTags(name).filter(t => t !== '')
    if (fromTag.length === 0) {
      notices.push(`The git tag '${name}' has no characters usable in an image tag.`)
    }
    tags.push(...fromTag)
    if (fromTag.length === 0) tags.push(shaTag(ctx.sha))
  } else if (ctx.ref.startsWith('refs/heads/')) {
    const branch = ctx.ref.slice('refs/heads/'.length)
    const defaultBranch = ctx.payload.repository?.default_branch
    if (defaultBranch && branch === defaultBranch) {
      tags.push('latest')
    } else {
      if (!defaultBranch) {
        notices.push(
          `The event payload does not name the default branch, so '${branch}' is tagged like any ` +
            `other branch (not 'latest'); set the tags input to choose the tags yourself.`
        )
      }
      const name = sanitizeTag(branch)
      if (name) tags.push(name)
      else notices.push(`The branch '${branch}' has no characters usable in an image tag.`)
    }
    tags.push(shaTag(ctx.sha))
  }

  const unique = [...new Set(tags.filter(t => t !== ''))]
  if (unique.length === 0) {
    throw new UserError(
      `tags is empty and no tag can be derived from the ${ctx.eventName || 'unknown'} event ` +
        `(GITHUB_REF '${ctx.ref}'): set the tags input, for example 'latest' or '1.2.3'.`
    )
  }
  return { tags: unique, notices }
}

/**
 * The tags to publish: the user's tags replace the derived ones (the default), or with
 * `tags-mode: append` are added after them. Nothing is derived when the user's tags replace them.
 */
export function resolveTags(userTags: string[], mode: TagsMode, ctx: EventContext): DerivedTags {
  if (userTags.length > 0 && mode === 'replace') return { tags: userTags, notices: [] }
  const derived = deriveTags(ctx)
  return { tags: [...new Set([...derived.tags, ...userTags])], notices: derived.notices }
}

/**
 * push-by-digest pushes no tag, but its image gets the same version label as a tagged one: the
 * first tag the event calls for, or none ('') when the event calls for none.
 */
export function versionForDigestPush(ctx: EventContext): string {
  try {
    return deriveTags(ctx).tags[0]
  } catch (error) {
    if (error instanceof UserError) return ''
    throw error
  }
}

/** A pull request whose head branch lives in another repository (or in one that was deleted). */
export function isForkPullRequest(ctx: EventContext): boolean {
  if (!PULL_REQUEST_EVENTS.includes(ctx.eventName)) return false
  const pr = ctx.payload.pull_request
  if (!pr) return false
  const head = pr.head?.repo?.full_name
  const base = pr.base?.repo?.full_name || ctx.repository
  if (!head) return true
  return head.toLowerCase() !== base.toLowerCase()
}

/**
 * `push` when the user gave it; otherwise true, except on a pull request from a fork, where
 * GITHUB_TOKEN is read-only (REGISTRY-FACTS "Credentials") and a push could only fail.
 */
export function resolvePush(
  given: boolean | undefined,
  ctx: EventContext
): { push: boolean; notice?: string } {
  if (given !== undefined) return { push: given }
  if (isForkPullRequest(ctx)) {
    const head = ctx.payload.pull_request?.head?.repo?.full_name ?? 'a deleted fork'
    return {
      push: false,
      notice:
        `This pull request comes from a fork (${head}), where GITHUB_TOKEN is read-only: ` +
        'the image is built but not pushed. Set `push: true` to push anyway.'
    }
  }
  return { push: true }
}

/** Description and SPDX licence of the repository; undefined when unknown or absent. */
export interface RepositoryInfo {
  description?: string
  license?: string
}

/**
 * What the payload's repository object says. `complete` is false when it does not carry the
 * description or license fields at all (the REST API can tell then); a null value means
 * "the repository has none".
 */
export function repositoryInfoFromPayload(repo: PayloadRepository | undefined): {
  info: RepositoryInfo
  complete: boolean
} {
  if (!repo) return { info: {}, complete: false }
  return {
    info: repositoryInfo(repo.description, repo.license?.spdx_id),
    complete: 'description' in repo && 'license' in repo
  }
}

/** Normalises a description and an SPDX id as GitHub reports them. */
export function repositoryInfo(
  description: string | null | undefined,
  spdxId: string | null | undefined
): RepositoryInfo {
  const info: RepositoryInfo = {}
  if (description?.trim()) info.description = description.trim()
  // NOASSERTION is what GitHub reports for a licence it cannot identify: not an SPDX expression.
  if (spdxId && spdxId !== 'NOASSERTION' && spdxId.length <= LICENSES_MAX_LENGTH) {
    info.license = spdxId
  }
  return info
}

/** Cuts text to `max` characters (code points, not UTF-16 units), ending with '…' when cut. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text)
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…'
}

/**
 * The `created` label: SOURCE_DATE_EPOCH when set (reproducible builds), else `now`, in RFC 3339
 * (UTC, whole seconds).
 */
/**
 * org.opencontainers.image.created: SOURCE_DATE_EPOCH when set (the reproducible-builds
 * convention), else the time of the commit built (push events carry it), else now. A run repeated
 * on the same commit so builds the same image, with the same digest, and a republish of it uploads
 * nothing; with "now" every run would make a new config, a new image and a new digest.
 */
export function createdTimestamp(
  sourceDateEpoch: string | undefined,
  now: Date,
  commitTime?: string
): string {
  const epoch = sourceDateEpoch?.trim()
  const commit = commitTime ? new Date(commitTime) : undefined
  const date =
    epoch && /^\d+$/.test(epoch)
      ? new Date(Number(epoch) * 1000)
      : commit && !Number.isNaN(commit.getTime())
        ? commit
        : now
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The repository's web URL on GITHUB_SERVER_URL (what links a package to its repository). */
export function repositoryUrl(ctx: EventContext): string {
  if (ctx.repository) return `${ctx.serverUrl}/${ctx.repository}`
  return ctx.payload.repository?.html_url ?? ''
}

export interface LabelRequest {
  ctx: EventContext
  /** The first tag. */
  version: string
  created: string
  repo: RepositoryInfo
  /** The user's KEY=VALUE labels; they win over ours on the same key. */
  userLabels: string[]
}

export interface ImageLabels {
  /** KEY=VALUE for the labels the action adds (those the user did not set). */
  added: string[]
  /** Every label the action passes to the build, the user's included. */
  all: Record<string, string>
}

const OCI = 'org.opencontainers.image'

/** The OCI labels the action adds, minus those the user set, plus the user's own. */
export function imageLabels(req: LabelRequest): ImageLabels {
  const { ctx } = req
  const url = repositoryUrl(ctx)
  const title = ctx.payload.repository?.name || ctx.repository.split('/')[1] || ''
  const ours: [string, string][] = [
    [`${OCI}.source`, url],
    [`${OCI}.url`, url],
    [`${OCI}.revision`, ctx.sha],
    [`${OCI}.created`, req.created],
    [`${OCI}.version`, req.version],
    [`${OCI}.title`, title],
    [`${OCI}.description`, truncate(req.repo.description ?? '', DESCRIPTION_MAX_LENGTH)],
    [`${OCI}.licenses`, req.repo.license ?? '']
  ]
  const user = new Map<string, string>()
  for (const entry of req.userLabels) {
    const eq = entry.indexOf('=')
    user.set(entry.slice(0, eq), entry.slice(eq + 1))
  }
  const added = ours.filter(([key, value]) => value !== '' && !user.has(key))
  const all: Record<string, string> = {}
  for (const [key, value] of [...added, ...user]) all[key] = value
  return { added: added.map(([key, value]) => `${key}=${value}`), all }
}

/**
 * The package's page on GitHub, for the job summary:
 *   Container registry (ghcr.io, containers.HOSTNAME):
 *     SERVER/orgs|users/OWNER/packages/container/package/IMAGE_NAME ('/' in the name as %2F)
 *   when the owner's kind (user or organization) is unknown, or the legacy Docker registry:
 *     SERVER/OWNER?tab=packages
 *   any other registry: undefined (no page on GitHub).
 * The owner's kind comes from the payload (repository.owner.type), so it is known only when the
 * package belongs to the repository's owner.
 */
export function packagePageUrl(
  names: Pick<ImageNames, 'registry' | 'registryType' | 'owner' | 'imageName'>,
  ctx: EventContext
): string | undefined {
  const server = githubServerFor(names.registry, ctx.serverUrl)
  if (!server) return undefined
  const owner = ctx.payload.repository?.owner
  const kind =
    owner?.login?.toLowerCase() === names.owner
      ? { Organization: 'orgs', User: 'users' }[owner.type ?? '']
      : undefined
  if (names.registryType === 'container' && kind) {
    return `${server}/${kind}/${names.owner}/packages/container/package/${encodeURIComponent(names.imageName)}`
  }
  return `${server}/${names.owner}?tab=packages`
}
