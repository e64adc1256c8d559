/**
 * The repository's description and licence, for the description and licenses labels. The event
 * payload usually carries both; when it does not, one REST call asks the API
 * (GET /repos/OWNER/REPO on the runner's server). The token goes there only when that API is the
 * one of the server that issued it (hosts.apiForToken): the token of any other registry, or of
 * ghcr.io on a GHES runner, is never sent. A failure is never fatal: the two labels are then left
 * out, with a notice.
 */
import { apiGet } from './api.js'
import type { PayloadRepository, RunContext } from './context.js'
import { apiForToken, isGitHubRegistry } from './hosts.js'

/**
 * GitHub reads at most 256 characters of org.opencontainers.image.licenses
 * (docs/facts/github-registries.md, "Labels GitHub reads").
 */
export const LICENSES_MAX_LENGTH = 256

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

export interface RepositoryInfoResult {
  info: RepositoryInfo
  /** Why the API was not asked or what went wrong; for the log. */
  message?: string
  /** Whether `message` deserves a notice (a failed call) rather than an info line. */
  failed?: boolean
}

export async function resolveRepositoryInfo(
  ctx: Pick<RunContext, 'payload' | 'server' | 'repository'>,
  registry: string,
  token: string,
  fetchFn?: typeof fetch,
  timeoutMs = 10_000
): Promise<RepositoryInfoResult> {
  const fromPayload = repositoryInfoFromPayload(ctx.payload.repository)
  if (fromPayload.complete) return { info: fromPayload.info }
  const skip = (why: string): RepositoryInfoResult => ({
    info: fromPayload.info,
    message: `The event payload has no repository description or licence and ${why}; the description and licenses labels are left out.`
  })
  if (!isGitHubRegistry(registry, ctx.server)) {
    return skip(`${registry} is not a GitHub registry, so its token is not sent to the GitHub API`)
  }
  const api = apiForToken(registry, ctx.server, ctx.server.apiUrl)
  if (!api) {
    return skip(
      `the token for ${registry} was not issued by ${ctx.server.url}, so it is not sent to its API`
    )
  }
  if (!token) return skip('no token was given to ask the GitHub API')
  const [owner, repo] = ctx.repository.split('/')
  if (!owner || !repo || ctx.repository.split('/').length !== 2) {
    return skip('GITHUB_REPOSITORY is not set')
  }
  const url = `${api}/repos/${ctx.repository}`
  try {
    const answer = await apiGet<{
      description?: string | null
      license?: { spdx_id?: string | null } | null
    }>(
      '/repos/{owner}/{repo}',
      { owner, repo },
      { baseUrl: api, token, registry, server: ctx.server, fetchFn, timeoutMs }
    )
    if (answer.status !== 200 || !answer.data) throw new Error(`HTTP ${answer.status}`)
    return { info: repositoryInfo(answer.data.description, answer.data.license?.spdx_id) }
  } catch (error) {
    return {
      info: fromPayload.info,
      message: `Could not read the repository's description and licence from ${url} (${(error as Error).message}); the description and licenses labels are left out.`,
      failed: true
    }
  }
}
