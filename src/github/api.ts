/**
 * The GitHub REST API through @actions/github's Octokit. Every call goes to the API that
 * hosts.apiForToken allows for the token; the callers decide whether a failure matters.
 */
import { gitHub } from './context.js'
import { networkCause } from '../util/errors.js'
import { apiForToken, type GitHubServer } from './hosts.js'

export interface ApiOptions {
  /** The API base URL (https://api.github.com or https://HOST/api/v3). */
  baseUrl: string
  token: string
  /** The registry the token was given for, and the runner's server: hosts.apiForToken must allow baseUrl. */
  registry: string
  server: GitHubServer
  timeoutMs?: number
  /** For tests: the fetch Octokit uses. */
  fetchFn?: typeof fetch
}

export interface ApiAnswer<T> {
  status: number
  headers: Record<string, string | undefined>
  data?: T
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} }

/**
 * `GET route` with the token; resolves with the status whatever it is (an HTTP error is an
 * answer too) and rejects only when the API could not be reached, with the network cause alone
 * (nothing of the request, so no header can leak into a message).
 */
export async function apiGet<T>(
  route: string,
  params: Record<string, string>,
  options: ApiOptions
): Promise<ApiAnswer<T>> {
  // The one decision of where a token may go (hosts.ts), enforced where the token leaves.
  if (apiForToken(options.registry, options.server, options.baseUrl) === undefined) {
    throw new Error(`the token for ${options.registry} may not be sent to ${options.baseUrl}`)
  }
  const { getOctokit } = await gitHub()
  const octokit = getOctokit(options.token, {
    baseUrl: options.baseUrl,
    userAgent: 'publish-container',
    log: quiet,
    request: {
      fetch: options.fetchFn ?? fetch,
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000)
    }
  })
  try {
    const response = await octokit.request(`GET ${route}`, {
      ...params,
      headers: { 'X-GitHub-Api-Version': '2022-11-28' }
    })
    const headers = response.headers as Record<string, string | undefined>
    return { status: response.status, headers, data: response.data as T }
  } catch (error) {
    // An HTTP answer other than 2xx comes as a RequestError with its response; without one,
    // the API was not reached (the fetch failure is the cause).
    const e = error as {
      status?: number
      response?: { headers?: Record<string, string> }
      cause?: unknown
    }
    if (e.response && typeof e.status === 'number') {
      return { status: e.status, headers: e.response.headers ?? {} }
    }
    throw new Error(networkCause(e.cause ?? error))
  }
}
