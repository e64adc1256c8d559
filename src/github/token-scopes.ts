/**
 * A classic personal access token (ghp_…) shows its scopes in the X-OAuth-Scopes header of any
 * authenticated GitHub API response (docs/facts/github-registries.md, "Credentials"). Read before
 * the build, so a token that cannot push fails in seconds, not after the build:
 *   - no write:packages: fail (pushing needs it);
 *   - repo: a warning (it grants far more than publishing needs);
 *   - the API cannot be reached: a notice, and the publish goes on.
 * One GET /user on the API of the server that issued the token (hosts.apiForToken), and only when
 * it is a classic PAT pushing to one of GitHub's registries.
 */
import { UserError } from '../util/errors.js'
import { apiGet } from './api.js'
import { apiForToken, type GitHubServer } from './hosts.js'

export interface ScopeCheckContext {
  token: string
  push: boolean
  registry: string
  /** The server the workflow runs on. */
  server: GitHubServer
}

export interface ScopeCheckResult {
  warning?: string
  notice?: string
  /** The scopes the token has, when they could be read. */
  scopes?: string[]
}

/** The API to ask, or undefined when the check does not apply. */
export function scopeCheckApi(ctx: ScopeCheckContext): string | undefined {
  if (!ctx.push || !ctx.token.startsWith('ghp_')) return undefined
  return apiForToken(ctx.registry, ctx.server)
}

export async function checkTokenScopes(
  ctx: ScopeCheckContext,
  fetchFn?: typeof fetch
): Promise<ScopeCheckResult> {
  const api = scopeCheckApi(ctx)
  if (!api) return {}
  let answer: Awaited<ReturnType<typeof apiGet>>
  try {
    answer = await apiGet(
      '/user',
      {},
      {
        baseUrl: api,
        token: ctx.token,
        registry: ctx.registry,
        server: ctx.server,
        fetchFn
      }
    )
  } catch (error) {
    return {
      notice: `Could not read the classic token's scopes from ${api} (${(error as Error).message}); going on without that check.`
    }
  }
  if (answer.status === 401) {
    throw new UserError(
      `the GitHub API at ${api} refuses the classic personal access token (401): it is expired, ` +
        'revoked or mistyped. Create a new one with the write:packages scope, or use GITHUB_TOKEN ' +
        'with `permissions: packages: write`.'
    )
  }
  const header = answer.headers['x-oauth-scopes']
  if (answer.status !== 200 || header === undefined || header === null) {
    return {
      notice: `Could not read the classic token's scopes from ${api} (HTTP ${answer.status}); going on without that check.`
    }
  }
  const scopes = String(header)
    .split(',')
    .map(s => s.trim())
    .filter(Boolean)
  if (!scopes.includes('write:packages')) {
    throw new UserError(
      `the classic personal access token lacks the write:packages scope, which pushing needs ` +
        `(it has: ${scopes.length ? scopes.join(', ') : 'no scopes'}). Add write:packages to the ` +
        'token (GitHub → Settings → Developer settings → Personal access tokens), or use GITHUB_TOKEN ' +
        'with `permissions: packages: write`.'
    )
  }
  const result: ScopeCheckResult = { scopes }
  if (scopes.includes('repo')) {
    result.warning =
      'The classic personal access token has the repo scope, which grants full control of private ' +
      'repositories: publishing needs only write:packages (and read:packages). Use a token with ' +
      'just those scopes, or GITHUB_TOKEN.'
  }
  return result
}
