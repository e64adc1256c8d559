/**
 * A classic personal access token (ghp_…) shows its scopes in the X-OAuth-Scopes header of any
 * authenticated GitHub API response (shared/REGISTRY-FACTS.md, "Credentials"). Read before the
 * build, so a token that cannot push fails in seconds, not after the build:
 *   - no write:packages: fail (pushing needs it);
 *   - repo: a warning (it grants far more than publishing needs);
 *   - the API cannot be reached: a notice, and the publish goes on.
 * One GET of GITHUB_API_URL/user with Node's fetch: @actions/github would bring Octokit into the
 * bundle (slower cold start) for a single request. The token is sent only to GitHub's API, and only
 * when it is a classic PAT pushing to one of GitHub's registries.
 */
import { UserError } from './errors.js'

export interface ScopeCheckContext {
  token: string
  push: boolean
  registry: string
  serverUrl: string
  apiUrl: string
}

export interface ScopeCheckResult {
  warning?: string
  notice?: string
  /** The scopes the token has, when they could be read. */
  scopes?: string[]
}

/** ghcr.io and docker.pkg.github.com, or on GHES the server's own registries. */
export function isGitHubRegistry(registry: string, serverUrl: string): boolean {
  let host = 'github.com'
  try {
    host = new URL(serverUrl || 'https://github.com').hostname.toLowerCase()
  } catch {
    // keep github.com
  }
  if (host === 'github.com') return registry === 'ghcr.io' || registry === 'docker.pkg.github.com'
  return [host, `containers.${host}`, `docker.${host}`].includes(registry)
}

export function appliesTo(ctx: ScopeCheckContext): boolean {
  return ctx.push && ctx.token.startsWith('ghp_') && isGitHubRegistry(ctx.registry, ctx.serverUrl)
}

export async function checkTokenScopes(
  ctx: ScopeCheckContext,
  fetchFn: typeof fetch = fetch
): Promise<ScopeCheckResult> {
  if (!appliesTo(ctx)) return {}
  const api = (ctx.apiUrl || 'https://api.github.com').replace(/\/+$/, '')
  let response: Response
  try {
    response = await fetchFn(`${api}/user`, {
      headers: {
        Authorization: `token ${ctx.token}`,
        Accept: 'application/vnd.github+json',
        'User-Agent': 'publish-container'
      },
      signal: AbortSignal.timeout(10_000)
    })
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name
    return {
      notice: `Could not read the classic token's scopes from ${api} (${cause}); going on without that check.`
    }
  }
  await response.body?.cancel()
  if (response.status === 401) {
    throw new UserError(
      `the GitHub API at ${api} refuses the classic personal access token (401): it is expired, ` +
        'revoked or mistyped. Create a new one with the write:packages scope, or use GITHUB_TOKEN ' +
        'with `permissions: packages: write`.'
    )
  }
  const header = response.headers.get('x-oauth-scopes')
  if (!response.ok || header === null) {
    return {
      notice: `Could not read the classic token's scopes from ${api} (HTTP ${response.status}); going on without that check.`
    }
  }
  const scopes = header
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
