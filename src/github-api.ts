/**
 * The repository's description and licence, for the description and licenses labels. The event
 * payload usually carries both; when it does not, one REST call asks the API
 * (GET GITHUB_API_URL/repos/OWNER/REPO). That call is made only with a GitHub token, i.e. when the
 * registry is one of GitHub's (the `token` input of any other registry must never be sent to
 * GitHub), and its failure is never fatal: the two labels are then left out, with a notice.
 */
import type { EventContext } from './event.js'
import { repositoryInfo, repositoryInfoFromPayload, type RepositoryInfo } from './metadata.js'
import { githubServerFor } from './naming.js'

export interface RepositoryInfoResult {
  info: RepositoryInfo
  /** Why the API was not asked or what went wrong; for the log. */
  message?: string
  /** Whether `message` deserves a notice (a failed call) rather than an info line. */
  failed?: boolean
}

export async function resolveRepositoryInfo(
  ctx: EventContext,
  registry: string,
  token: string,
  fetchFn: typeof fetch = fetch,
  timeoutMs = 10_000
): Promise<RepositoryInfoResult> {
  const fromPayload = repositoryInfoFromPayload(ctx.payload.repository)
  if (fromPayload.complete) return { info: fromPayload.info }
  const skip = (why: string): RepositoryInfoResult => ({
    info: fromPayload.info,
    message: `The event payload has no repository description or licence and ${why}; the description and licenses labels are left out.`
  })
  if (!githubServerFor(registry, ctx.serverUrl)) {
    return skip(`${registry} is not a GitHub registry, so its token is not sent to the GitHub API`)
  }
  if (!token) return skip('no token was given to ask the GitHub API')
  if (!ctx.apiUrl || !/^[^/]+\/[^/]+$/.test(ctx.repository)) {
    return skip('GITHUB_API_URL or GITHUB_REPOSITORY is not set')
  }
  const url = `${ctx.apiUrl}/repos/${ctx.repository}`
  try {
    const response = await fetchFn(url, {
      headers: {
        Accept: 'application/vnd.github+json',
        Authorization: `Bearer ${token}`,
        'X-GitHub-Api-Version': '2022-11-28',
        'User-Agent': 'publish-container'
      },
      signal: AbortSignal.timeout(timeoutMs)
    })
    if (!response.ok) {
      await response.body?.cancel()
      throw new Error(`HTTP ${response.status}`)
    }
    const body = (await response.json()) as {
      description?: string | null
      license?: { spdx_id?: string | null } | null
    }
    return { info: repositoryInfo(body.description, body.license?.spdx_id) }
  } catch (error) {
    // Only the status or the error's name: never anything that could echo the request headers.
    const why =
      error instanceof Error && /^HTTP \d+$/.test(error.message) ? error.message : errorName(error)
    return {
      info: fromPayload.info,
      message: `Could not read the repository's description and licence from ${url} (${why}); the description and licenses labels are left out.`,
      failed: true
    }
  }
}

function errorName(error: unknown): string {
  if (!(error instanceof Error)) return 'request failed'
  const cause = (error as { cause?: { code?: string } }).cause
  return cause?.code ?? error.name
}
