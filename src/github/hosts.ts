/**
 * The one module that knows GitHub's hosts: which server a registry belongs to, that server's web
 * and API URLs, and so where a registry's token may be sent. Pure functions.
 *
 * (docs/facts/github-registries.md, "Hosts and name schemes")
 *   github.com:  ghcr.io (container scheme), docker.pkg.github.com (docker scheme, closed)
 *   GHES HOST:   containers.HOST (container), docker.HOST and HOST (docker scheme)
 * A registry given with a port is none of these (GitHub's registries are served on 443 only).
 *
 * A token given for a GitHub registry was issued by that registry's server: it may go to that
 * server's API and to no other host. A token for any other registry never goes to a GitHub API.
 */

export interface GitHubServer {
  /** https://github.com or https://HOST */
  url: string
  /** github.com or HOST, lowercase */
  host: string
  /** https://api.github.com or https://HOST/api/v3 */
  apiUrl: string
}

export const GITHUB_COM: GitHubServer = {
  url: 'https://github.com',
  host: 'github.com',
  apiUrl: 'https://api.github.com'
}

function hostOf(url: string | undefined): string {
  if (!url) return ''
  try {
    return new URL(url).hostname.toLowerCase()
  } catch {
    return ''
  }
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '')
}

/**
 * The server the workflow runs on, from GITHUB_SERVER_URL and GITHUB_API_URL (github.com when
 * unset or unreadable; a GHES API URL defaults to https://HOST/api/v3).
 */
export function runnerServer(serverUrl: string | undefined, apiUrl?: string): GitHubServer {
  const host = hostOf(serverUrl)
  if (!host || host === 'github.com') {
    return apiUrl ? { ...GITHUB_COM, apiUrl: trimSlash(apiUrl) } : GITHUB_COM
  }
  return {
    url: trimSlash(serverUrl ?? ''),
    host,
    apiUrl: trimSlash(apiUrl || `https://${host}/api/v3`)
  }
}

/** The registry used when the `registry` input is empty: ghcr.io, or containers.HOST on GHES. */
export function defaultRegistry(server: GitHubServer): string {
  return server.host === 'github.com' ? 'ghcr.io' : `containers.${server.host}`
}

/** `ghcr.io:443` is ghcr.io; any other port makes it another host. */
function registryHost(registry: string): string {
  return registry.toLowerCase().replace(/:443$/, '')
}

/**
 * The GitHub server whose packages `registry` holds (the issuer of its tokens), or undefined for
 * any other registry.
 */
export function registryServer(registry: string, runner: GitHubServer): GitHubServer | undefined {
  const host = registryHost(registry)
  if (host === 'ghcr.io' || host === 'docker.pkg.github.com') {
    return runner.host === 'github.com' ? runner : GITHUB_COM
  }
  if (runner.host === 'github.com') return undefined
  const own = [`containers.${runner.host}`, `docker.${runner.host}`, runner.host]
  return own.includes(host) ? runner : undefined
}

export function isGitHubRegistry(registry: string, runner: GitHubServer): boolean {
  return registryServer(registry, runner) !== undefined
}

/** The registry GITHUB_TOKEN can push to: the runner's own Container registry. */
export function isRunnersContainerRegistry(registry: string, runner: GitHubServer): boolean {
  return registryHost(registry) === defaultRegistry(runner)
}

/** docker.pkg.github.com: github.com's legacy Docker registry, closed on 2025-02-24. */
export function isClosedLegacyRegistry(registry: string): boolean {
  return registryHost(registry) === 'docker.pkg.github.com'
}

/**
 * The GitHub API that may receive the token given for `registry`, or undefined when none may:
 * the API of the server that issued it, and only for a request about that server (`about`, the
 * API the request is for; the token's own server when not given).
 */
export function apiForToken(
  registry: string,
  runner: GitHubServer,
  about?: string
): string | undefined {
  const issuer = registryServer(registry, runner)
  if (!issuer) return undefined
  if (about !== undefined && trimSlash(about) !== issuer.apiUrl) return undefined
  return issuer.apiUrl
}

/**
 * The package's page on GitHub, for the job summary:
 *   Container registry (ghcr.io, containers.HOST):
 *     SERVER/orgs|users/OWNER/packages/container/package/IMAGE_NAME ('/' in the name as %2F)
 *   when the owner's kind (user or organization) is unknown, or the legacy Docker registry:
 *     SERVER/OWNER?tab=packages
 *   any other registry: undefined (no page on GitHub).
 * The owner's kind comes from the payload (repository.owner.type), so it is known only when the
 * package belongs to the repository's owner.
 */
export function packagePageUrl(
  names: { registry: string; registryType: string; owner: string; imageName: string },
  runner: GitHubServer,
  repositoryOwner: { login?: string; type?: string } | undefined
): string | undefined {
  const server = registryServer(names.registry, runner)
  if (!server) return undefined
  const kind =
    repositoryOwner?.login?.toLowerCase() === names.owner
      ? { Organization: 'orgs', User: 'users' }[repositoryOwner.type ?? '']
      : undefined
  if (names.registryType === 'container' && kind) {
    return `${server.url}/${kind}/${names.owner}/packages/container/package/${encodeURIComponent(names.imageName)}`
  }
  return `${server.url}/${names.owner}?tab=packages`
}
