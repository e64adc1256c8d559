/**
 * The OCI labels the action adds: from the workflow run and the repository (description and
 * licence, from the payload or the API: github/repository-info.ts), minus those the user sets.
 * Pure functions.
 */
import type { RunContext } from '../github/context.js'
import type { RepositoryInfo } from '../github/repository-info.js'

/**
 * GitHub shows at most 512 characters of org.opencontainers.image.description
 * (docs/facts/github-registries.md, "Labels GitHub reads").
 */
export const DESCRIPTION_MAX_LENGTH = 512
/** Cuts text to `max` characters (code points, not UTF-16 units), ending with '…' when cut. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text)
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…'
}

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
export function repositoryUrl(ctx: RunContext): string {
  if (ctx.repository) return `${ctx.serverUrl}/${ctx.repository}`
  return ctx.payload.repository?.html_url ?? ''
}

export interface LabelRequest {
  ctx: RunContext
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

/** The label that names the commit an image was built from. */
export const REVISION_LABEL = `${OCI}.revision`

/** The OCI labels the action adds, minus those the user set, plus the user's own. */
export function imageLabels(req: LabelRequest): ImageLabels {
  const { ctx } = req
  const url = repositoryUrl(ctx)
  const title = ctx.payload.repository?.name || ctx.repository.split('/')[1] || ''
  const ours: [string, string][] = [
    [`${OCI}.source`, url],
    [`${OCI}.url`, url],
    [REVISION_LABEL, ctx.sha],
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
