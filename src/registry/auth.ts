/**
 * Authentication with a registry: its challenge (WWW-Authenticate), the scopes a request asks a
 * token for, and RegistryAuth, which sends requests with credentials over the transport.
 */
import type { Readable } from 'node:stream'
import { RegistryError } from './errors.js'
import type { StreamResponse } from './stream.js'
import { BODY_LIMITS } from './http.js'
import type { RegistryTransport } from './transport.js'

export interface Challenge {
  scheme: string
  params: Record<string, string>
}

/** Parses `Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header)
  if (!m) return undefined
  const params: Record<string, string> = {}
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g
  let p: RegExpExecArray | null
  while ((p = re.exec(m[2])) !== null) {
    if (p[0] === '') break
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]
  }
  return { scheme: m[1].toLowerCase(), params }
}

export type Action = 'pull' | 'push'

/** `repository:NAME:pull` or `repository:NAME:pull,push`. */
export function repositoryScope(repository: string, actions: Action[]): string {
  return `repository:${repository}:${[...new Set(actions)].sort().join(',')}`
}

/** A request body: bytes, or a function opening a fresh stream for each attempt. */
export type Body = Buffer | (() => AsyncIterable<Uint8Array>)

/**
 * Authentication with one registry: what its challenge asked for (learnt from the first 401),
 * the Bearer tokens it issued (cached per scope set), and the one answer to a 401, the same for
 * every request whether its body is bytes or a stream.
 */
export class RegistryAuth {
  /** Bearer tokens by scope set (space-separated scopes, sorted). */
  private readonly tokens = new Map<string, string>()
  /** What the registry asked for, learnt from the first 401: undefined until then. */
  private challenge: Challenge | undefined
  /** The `GET /v2/` under way or done, shared. */
  private pinging: Promise<void> | undefined
  /** Token requests under way, by scope set. */
  private readonly fetching = new Map<string, Promise<void>>()
  private credentialsValid: Promise<boolean> | undefined

  constructor(private readonly transport: RegistryTransport) {
    const { password } = transport.options
    if (password) {
      // The password is the caller's, masked where it was read; what the client derives from it
      // is the client's to announce.
      transport.holdSecret(password, false)
      transport.holdSecret(this.basicHeader()!.slice('Basic '.length))
    }
  }

  private basicHeader(): string | undefined {
    const { username, password } = this.transport.options
    if (!password) return undefined
    return 'Basic ' + Buffer.from(`${username ?? ''}:${password}`).toString('base64')
  }

  /**
   * The Authorization header for these scopes, from what the registry's challenge asked for; none
   * for a URL on another origin than the registry's (an upload Location naming a storage host or
   * another port): credentials go only to the origin that asked for them
   * (docs/facts/registry-protocol.md).
   */
  private authHeader(scopes: string[], url: string): string | undefined {
    if (!this.isRegistry(url)) return undefined
    if (this.challenge?.scheme === 'basic') return this.basicHeader()
    if (this.challenge?.scheme === 'bearer') {
      const token = this.findToken(scopes)
      return token ? `Bearer ${token}` : undefined
    }
    return undefined
  }

  /** Whether `url` is on the registry's own origin (scheme, host and port). */
  private isRegistry(url: string): boolean {
    return new URL(url).origin === this.transport.origin
  }

  /** A cached token covering `scopes`: the exact set, or a pull,push token where pull is asked. */
  private findToken(scopes: string[]): string | undefined {
    return coveringKeys(scopes)
      .map(key => this.tokens.get(key))
      .find(Boolean)
  }

  /**
   * `GET /v2/`: learns how the registry wants to be authenticated. Callers at the same time share
   * one request (the login check, the push token and the cache's lookup start together).
   */
  ping(): Promise<void> {
    this.pinging ??= this.askPing().catch((error: unknown) => {
      this.pinging = undefined
      throw error
    })
    return this.pinging
  }

  private async askPing(): Promise<void> {
    await this.transport.ready()
    const response = await this.transport.send(`${this.transport.baseUrl}/v2/`, { method: 'GET' })
    await response.body?.cancel()
    if (response.status === 401) {
      this.challenge = parseChallenge(response.headers.get('www-authenticate') ?? '')
    } else if (!response.ok) {
      throw new RegistryError(
        `GET /v2/ on ${this.transport.registry}: ${response.status} ${this.transport.serverText(response.statusText, 100)}`,
        response.status,
        `HTTP_${response.status}`
      )
    }
  }

  /**
   * Whether the registry accepts the credentials, asked the way `docker login` does (Basic: an
   * authenticated `GET /v2/`; Bearer: a token from the realm with no scope). True for a registry
   * that asks for none. Transient failures are retried like every request; the answer is cached.
   */
  async verifyCredentials(): Promise<boolean> {
    this.credentialsValid ??= this.askCredentials()
    return this.credentialsValid
  }

  private async askCredentials(): Promise<boolean> {
    if (!this.challenge) await this.ping()
    if (!this.challenge) return true
    if (this.challenge.scheme === 'basic') {
      const basic = this.basicHeader()
      if (!basic) return false
      const response = await this.transport.send(`${this.transport.baseUrl}/v2/`, {
        method: 'GET',
        headers: { Authorization: basic }
      })
      await response.body?.cancel()
      return response.ok
    }
    try {
      await this.fetchToken(this.challenge.params, [])
      return true
    } catch (error) {
      if (error instanceof RegistryError && (error.status === 401 || error.status === 403)) {
        return false
      }
      throw error
    }
  }

  /**
   * Gets credentials for `scopes` ahead of the requests that need them, so those requests need no
   * extra 401 round trip (used while the image builds).
   */
  async authorize(scopes: string[]): Promise<void> {
    if (!this.challenge) await this.ping()
    const challenge = this.challenge
    if (challenge?.scheme !== 'bearer') return
    // A token under way that will cover these scopes (pull,push where pull is asked) is waited
    // for rather than asked again.
    const pending = coveringKeys(scopes)
      .map(key => this.fetching.get(key))
      .find(Boolean)
    if (pending) await pending.catch(() => undefined)
    if (this.findToken(scopes)) return
    const key = scopes.join(' ')
    let fetch = this.fetching.get(key)
    if (!fetch) {
      fetch = this.fetchToken(challenge.params, scopes).finally(() => this.fetching.delete(key))
      this.fetching.set(key, fetch)
    }
    await fetch
  }

  private async fetchToken(params: Record<string, string>, scopes: string[]): Promise<void> {
    if (!params.realm) {
      throw new RegistryError('registry sent a Bearer challenge without realm', 401, 'UNAUTHORIZED')
    }
    const url = new URL(params.realm, this.transport.baseUrl)
    if (params.service) url.searchParams.set('service', params.service)
    for (const scope of scopes) url.searchParams.append('scope', scope)
    const basic = this.basicHeader()
    const response = await this.transport.send(url.toString(), {
      method: 'GET',
      headers: basic ? { Authorization: basic } : {}
    })
    if (!response.ok) throw await this.transport.errorFrom(response, 'token request')
    const bytes = await this.transport.readBody(
      response,
      BODY_LIMITS.token,
      `the token response of ${url.origin}`
    )
    let body: { token?: unknown; access_token?: unknown } = {}
    try {
      body = JSON.parse(bytes.toString('utf8')) as typeof body
    } catch {
      throw new RegistryError(
        `the token response of ${url.origin} is not JSON`,
        response.status,
        'UNAUTHORIZED'
      )
    }
    const token =
      typeof body.token === 'string'
        ? body.token
        : typeof body.access_token === 'string'
          ? body.access_token
          : undefined
    if (token) this.transport.holdSecret(token)
    if (!token) {
      throw new RegistryError(
        'token endpoint answered without a token',
        response.status,
        'UNAUTHORIZED'
      )
    }
    this.tokens.set(scopes.join(' '), token)
  }

  /**
   * The one answer to a 401, for every request: a Bearer challenge fetches a token for `scopes`
   * (ours, which may be wider than the challenge's: a mount); a first Basic challenge switches to
   * Basic when there is a password. True when the request is worth sending once more.
   */
  private async answer(wwwAuthenticate: string, scopes: string[]): Promise<boolean> {
    const challenge = parseChallenge(wwwAuthenticate)
    if (challenge?.scheme === 'bearer') {
      this.challenge = challenge
      await this.fetchToken(challenge.params, scopes)
      return true
    }
    if (challenge?.scheme === 'basic' && this.challenge?.scheme !== 'basic' && this.basicHeader()) {
      this.challenge = challenge
      return true
    }
    return false
  }

  /**
   * Sends a request with the credentials for `scopes`; on a 401 it answers the challenge and
   * sends the request once more. `body` must be replayable (a Buffer, or a function that opens
   * the stream again), since it may be sent twice.
   */
  async request(
    method: string,
    pathOrUrl: string,
    scopes: string[],
    init: { headers?: Record<string, string>; body?: Body } = {}
  ): Promise<Response> {
    await this.transport.ready()
    const url = new URL(pathOrUrl, this.transport.baseUrl).toString()
    const attempt = (): Promise<Response> => {
      const auth = this.authHeader(scopes, url)
      const headers = auth ? { ...init.headers, Authorization: auth } : { ...init.headers }
      const stream = init.body
      if (typeof stream === 'function') {
        // A streamed body, opened afresh for every attempt: fetch needs duplex 'half' (undici);
        // RequestInit's types lack both.
        return this.transport.send(
          url,
          () =>
            ({
              method,
              headers,
              body: stream() as unknown as RequestInit['body'],
              duplex: 'half'
            }) as RequestInit
        )
      }
      return this.transport.send(url, { method, headers, body: stream })
    }
    const response = await attempt()
    // Only the registry's own challenge is answered: another origin never gets its credentials.
    if (response.status !== 401 || !this.isRegistry(url)) return response
    if (!(await this.answer(response.headers.get('www-authenticate') ?? '', scopes))) {
      throw await this.transport.errorFrom(response, `${method} ${new URL(url).pathname}`)
    }
    await response.body?.cancel()
    return attempt()
  }

  /**
   * One request with a streamed body (node:http, back-pressure, idle timeout; no retry of its
   * own), with the same credentials and the same 401 answer as request().
   */
  async requestStream(
    method: string,
    url: string,
    scopes: string[],
    body: () => Readable,
    length: number
  ): Promise<StreamResponse> {
    const once = (): Promise<StreamResponse> => {
      const auth = this.authHeader(scopes, url)
      return this.transport.sendStream({
        url,
        method,
        headers: {
          'Content-Type': 'application/octet-stream',
          ...(auth ? { Authorization: auth } : {})
        },
        body,
        length
      })
    }
    const first = await once()
    if (first.status !== 401 || !this.isRegistry(url)) return first
    if (!(await this.answer(String(first.headers['www-authenticate'] ?? ''), scopes))) return first
    return once()
  }
}

/**
 * The token keys (scope sets) whose token serves a request for `scopes`: the exact set, then,
 * where one repository's pull is asked, its pull,push token.
 */
function coveringKeys(scopes: string[]): string[] {
  const key = scopes.join(' ')
  return scopes.length === 1 && key.endsWith(':pull')
    ? [key, key.replace(/:pull$/, ':pull,push')]
    : [key]
}
