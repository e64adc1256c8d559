/**
 * Tags and the push default derived from the workflow run (event name, ref, SHA and the event
 * payload: github/context.ts). Pure functions: no environment, file or network access here.
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
import type { RunContext } from '../github/context.js'
import { UserError } from '../util/errors.js'
import { quote } from '../util/text.js'

/** Longest tag the distribution reference grammar allows. */
export const TAG_MAX_LENGTH = 128

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

function pullRequestNumber(ctx: RunContext): number | undefined {
  const fromPayload = ctx.payload.number ?? ctx.payload.pull_request?.number
  if (typeof fromPayload === 'number' && Number.isInteger(fromPayload)) return fromPayload
  const fromRef = /^refs\/pull\/(\d+)\//.exec(ctx.ref)?.[1]
  return fromRef ? Number(fromRef) : undefined
}

/** The tags the run's event calls for; throws a UserError when the event says nothing usable. */
export function deriveTags(ctx: RunContext): DerivedTags {
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
      notices.push(`The git tag ${quote(name)} has no characters usable in an image tag.`)
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
          `The event payload does not name the default branch, so ${quote(branch)} is tagged like any ` +
            `other branch (not 'latest'); set the tags input to choose the tags yourself.`
        )
      }
      const name = sanitizeTag(branch)
      if (name) tags.push(name)
      else notices.push(`The branch ${quote(branch)} has no characters usable in an image tag.`)
    }
    tags.push(shaTag(ctx.sha))
  }

  const unique = [...new Set(tags.filter(t => t !== ''))]
  if (unique.length === 0) {
    throw new UserError(
      `tags is empty and no tag can be derived from the ${ctx.eventName || 'unknown'} event ` +
        `(GITHUB_REF ${quote(ctx.ref)}): set the tags input, for example 'latest' or '1.2.3'.`
    )
  }
  return { tags: unique, notices }
}

/**
 * The tags to publish: the user's tags replace the derived ones (the default), or with
 * `tags-mode: append` are added after them. Nothing is derived when the user's tags replace them.
 */
export function resolveTags(userTags: string[], mode: TagsMode, ctx: RunContext): DerivedTags {
  if (userTags.length > 0 && mode === 'replace') return { tags: userTags, notices: [] }
  const derived = deriveTags(ctx)
  return { tags: [...new Set([...derived.tags, ...userTags])], notices: derived.notices }
}

/**
 * push-by-digest pushes no tag, but its image gets the same version label as a tagged one: the
 * first tag the event calls for, or none ('') when the event calls for none.
 */
export function versionForDigestPush(ctx: RunContext): string {
  try {
    return deriveTags(ctx).tags[0]
  } catch (error) {
    if (error instanceof UserError) return ''
    throw error
  }
}

/** A pull request whose head branch lives in another repository (or in one that was deleted). */
export function isForkPullRequest(ctx: RunContext): boolean {
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
 * GITHUB_TOKEN is read-only (docs/facts/github-registries.md, "Credentials") and a push could
 * only fail.
 */
export function resolvePush(
  given: boolean | undefined,
  ctx: RunContext
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
