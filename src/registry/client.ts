/**
 * A small client for the OCI distribution API (https://github.com/opencontainers/distribution-spec),
 * on undici's fetch: the ping and its authentication challenge (Bearer tokens fetched from
 * the realm with the user's credentials, as ghcr.io does, cached per scope; or Basic), manifests
 * (HEAD/GET/PUT, digest-checked), and blobs (HEAD, GET, cross-repository mount, monolithic
 * upload). Errors are RegistryError values carrying the registry's error code and HTTP status.
 * TLS (which CAs, which scheme) is decided in tls.ts; the client's undici Agent applies it. It
 * uses undici's own fetch with that Agent (one copy of undici for both: Node's built-in fetch
 * rejects an Agent of another undici major).
 *
 * Hand-written on purpose: the WWW-Authenticate parser and the upload state machine are a few lines
 * each, and the maintained registry clients on npm pull in their own HTTP stacks (cold start).
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { Agent, fetch as undiciFetch } from 'undici'
import { Readable } from 'node:stream'
import { sha256 } from '../oci/digest.js'
import { MANIFEST_MEDIA_TYPES } from '../oci/media-types.js'
import { networkCause } from '../util/errors.js'
import {
  DEFAULT_POLICY,
  RetriesExhausted,
  parseRetryAfter,
  withRetries,
  type RetryPolicy
} from '../util/retry.js'
import { parseChallenge, repositoryScope, type Challenge } from './auth.js'
import {
  RegistryError,
  classifyRegistryError,
  classifyUploadError,
  isSecondaryRateLimit,
  retryAfterFromBody
} from './errors.js'
import { StreamRequestError, sendStream, type StreamResponse, type TlsOptions } from './stream.js'
import {
  DEFAULT_TLS_SOURCES,
  certificateAdvice,
  chooseTransport,
  secureContext,
  type TlsSources,
  type Transport
} from './tls.js'
import { oneLine, quote, redactCredentials } from '../util/text.js'

export { isLoopback } from './tls.js'

export interface ManifestResult {
  digest: string
  mediaType: string
  bytes: Buffer
}

export interface ManifestHead {
  digest: string
  mediaType: string
  size: number
}

export interface RegistryClientOptions {
  registry: string
  username?: string
  password?: string
  fetchFn?: typeof fetch
  /** Limit of each small request (manifests, HEADs, tokens), whole. */
  timeoutMs?: number
  /** Blob uploads: given up when no byte moved for this long (never cut off while they move). */
  idleTimeoutMs?: number
  /** Retries of transient failures (5xx, 429, resets, timeouts), per request. */
  retry?: RetryPolicy
  /** Told before each retry, for the log. */
  onRetry?: (message: string) => void
  /** For tests: how to wait between retries. */
  sleep?: (ms: number) => Promise<void>
  /** Aborts every request under way and every wait (the step is ending). */
  signal?: AbortSignal
  /** Where the CAs and insecure registries are read from (tls.ts); the daemon's paths by default. */
  tls?: TlsSources
  /** Told once how an insecure registry is spoken to, when that is worth a line in the log. */
  onTransport?: (note: string) => void
  /**
   * Told every credential the client derives, as soon as it holds it (the Basic header's base64,
   * each Bearer token the registry issues): the action masks them (core.setSecret). The password
   * itself is the caller's to mask.
   */
  onSecret?: (value: string) => void
}

/** A blob in a file, sent as a stream (a layer may be larger than memory). */
export interface FileBlob {
  file: string
  /** sha256 of the file's bytes, computed while it was written. */
  digest: string
  size: number
}

/** A request body: bytes, or a function opening a fresh stream for each attempt. */
type Body = Buffer | (() => AsyncIterable<Uint8Array>)

export class RegistryClient {
  /** How the registry is spoken to (tls.ts), once decided; a fetchFn given by a test gets https. */
  private transport: Transport | undefined
  private fetchFn: typeof fetch
  /** Bearer tokens by scope set (space-separated scopes, sorted). */
  private readonly tokens = new Map<string, string>()
  /** What the registry asked for, learnt from the first 401: undefined until then. */
  private challenge: Challenge | undefined
  /** Number of HTTP requests sent (registry and token realm), for diagnostics and benchmarks. */
  requests = 0
  /** Blob bytes this client uploaded (0 for blobs the registry had or mounted). */
  uploadedBytes = 0

  /** Every credential this client holds: never in a message. */
  private readonly secrets: string[] = []

  constructor(private readonly options: RegistryClientOptions) {
    this.fetchFn = options.fetchFn ?? fetch
    if (options.password) {
      // The password is the caller's, masked where it was read; what the client derives from it is
      // the client's to announce.
      this.secrets.push(options.password)
      this.holdSecret(this.basicHeader()!.slice('Basic '.length))
    }
  }

  private holdSecret(value: string): void {
    if (!value || this.secrets.includes(value)) return
    this.secrets.push(value)
    this.options.onSecret?.(value)
  }

  /** Text a server sent, fit for a message: one line, no credentials (echoed headers, tokens). */
  private serverText(text: string, max = 300): string {
    return oneLine(redactCredentials(text, this.secrets), max)
  }

  /** https://REGISTRY, or http:// for an insecure registry that does not speak TLS. */
  get baseUrl(): string {
    return `${this.transport?.scheme ?? 'https'}://${this.options.registry}`
  }

  /** How to speak to the registry: decided before the first request (a TLS handshake at most). */
  private async ready(): Promise<void> {
    if (this.transport?.final) return
    // Concurrent first requests share one decision.
    this.choosing ??= this.choose().finally(() => (this.choosing = undefined))
    await this.choosing
  }

  private choosing: Promise<void> | undefined
  private agent: Agent | undefined
  private tlsOptions: TlsOptions | undefined

  private async choose(): Promise<void> {
    const transport = await chooseTransport(
      this.options.registry,
      this.options.tls ?? DEFAULT_TLS_SOURCES
    )
    if (transport.note) this.options.onTransport?.(transport.note)
    this.transport = transport
    // Plain HTTP needs no trust store (parsing it takes 0.1-0.2 s). The same trust serves fetch
    // and the streamed uploads (stream.ts).
    this.tlsOptions =
      transport.scheme === 'https'
        ? { secureContext: secureContext(transport.tls), rejectUnauthorized: transport.verify }
        : undefined
    if (this.options.fetchFn) return
    const agent = new Agent(this.tlsOptions ? { connect: this.tlsOptions } : {})
    void this.agent?.close().catch(() => undefined)
    this.agent = agent
    this.fetchFn = ((url: string, init: RequestInit) =>
      undiciFetch(url, {
        ...(init as Parameters<typeof undiciFetch>[1]),
        dispatcher: agent
      })) as unknown as typeof fetch
  }

  get registry(): string {
    return this.options.registry
  }

  private basicHeader(): string | undefined {
    const { username, password } = this.options
    if (!password) return undefined
    return 'Basic ' + Buffer.from(`${username ?? ''}:${password}`).toString('base64')
  }

  /** The Authorization header for these scopes, from what the registry's challenge asked for. */
  private authHeader(scopes: string[]): string | undefined {
    if (this.challenge?.scheme === 'basic') return this.basicHeader()
    if (this.challenge?.scheme === 'bearer') {
      const token = this.findToken(scopes)
      return token ? `Bearer ${token}` : undefined
    }
    return undefined
  }

  /** A cached token covering `scopes`: the exact set, or a pull,push token where pull is asked. */
  private findToken(scopes: string[]): string | undefined {
    const key = scopes.join(' ')
    const exact = this.tokens.get(key)
    if (exact) return exact
    if (scopes.length === 1 && scopes[0].endsWith(':pull')) {
      return this.tokens.get(scopes[0].replace(/:pull$/, ':pull,push'))
    }
    return undefined
  }

  /**
   * One HTTP request, retried on transient failures (5xx, 429 with its Retry-After, resets,
   * timeouts). `init` is made afresh for each attempt (a streamed body cannot be sent twice). A
   * 5xx/429 that outlasts the retries ends in an error that says so.
   */
  private async send(url: string, init: RequestInit | (() => RequestInit)): Promise<Response> {
    const make = typeof init === 'function' ? init : () => init
    const what = `${make().method ?? 'GET'} ${new URL(url).pathname}`
    return withRetries(
      `${what} on ${this.options.registry}`,
      () => this.sendOnce(url, make()),
      classifyRegistryError,
      this.options.retry ?? DEFAULT_POLICY,
      {
        sleep: this.options.sleep ?? (ms => sleepUnlessAborted(ms, this.options.signal)),
        onRetry: ({ attempt, delayMs, reason }) =>
          this.options.onRetry?.(
            `${what} on ${this.options.registry}: ${reason}; retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s`
          )
      }
    )
  }

  private requestSignal(): AbortSignal {
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 60_000)
    return this.options.signal ? AbortSignal.any([timeout, this.options.signal]) : timeout
  }

  private async sendOnce(url: string, init: RequestInit): Promise<Response> {
    this.requests++
    let response: Response
    try {
      response = await this.fetchFn(url, {
        ...init,
        signal: this.requestSignal()
      })
    } catch (error) {
      const code = networkCause(error)
      const advice = this.transport ? certificateAdvice(code, this.transport.tls) : ''
      throw new RegistryError(
        `cannot reach ${this.options.registry} (${code})${advice}`,
        0,
        'NETWORK',
        code
      )
    }
    const what = `${init.method ?? 'GET'} ${new URL(url).pathname}`
    if (response.status === 429 || response.status >= 500) {
      const error = await this.errorFrom(response, what)
      // ghcr.io names the wait of a 429 in its body only ("retry-after: 10.48ms, …").
      const retryAfter =
        parseRetryAfter(response.headers.get('retry-after')) ??
        (response.status === 429 ? retryAfterFromBody(error.detail) : undefined)
      throw new RegistryError(error.message, error.status, error.code, error.detail, retryAfter)
    }
    if (response.status === 403) {
      // GitHub's secondary rate limit is a 403: read the body to tell it from a refusal, and hand
      // any other 403 on with the same body.
      const text = await response.text().catch(() => '')
      const copy = new Response(text, {
        status: response.status,
        statusText: response.statusText,
        headers: response.headers
      })
      if (isSecondaryRateLimit(403, text)) {
        const error = await this.errorFrom(copy, what)
        const retryAfter = parseRetryAfter(response.headers.get('retry-after'))
        throw new RegistryError(
          error.message,
          403,
          error.code,
          error.detail || this.serverText(text),
          retryAfter
        )
      }
      return copy
    }
    return response
  }

  /** `GET /v2/`: learns how the registry wants to be authenticated. */
  async ping(): Promise<void> {
    await this.ready()
    const response = await this.send(`${this.baseUrl}/v2/`, { method: 'GET' })
    await response.body?.cancel()
    if (response.status === 401) {
      this.challenge = parseChallenge(response.headers.get('www-authenticate') ?? '')
    } else if (!response.ok) {
      throw new RegistryError(
        `GET /v2/ on ${this.options.registry}: ${response.status} ${this.serverText(response.statusText, 100)}`,
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

  private credentialsValid: Promise<boolean> | undefined

  private async askCredentials(): Promise<boolean> {
    if (!this.challenge) await this.ping()
    if (!this.challenge) return true
    if (this.challenge.scheme === 'basic') {
      const basic = this.basicHeader()
      if (!basic) return false
      const response = await this.send(`${this.baseUrl}/v2/`, {
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
    if (this.challenge?.scheme === 'bearer' && !this.findToken(scopes)) {
      await this.fetchToken(this.challenge.params, scopes)
    }
  }

  private async fetchToken(params: Record<string, string>, scopes: string[]): Promise<void> {
    if (!params.realm) {
      throw new RegistryError('registry sent a Bearer challenge without realm', 401, 'UNAUTHORIZED')
    }
    const url = new URL(params.realm, this.baseUrl)
    if (params.service) url.searchParams.set('service', params.service)
    for (const scope of scopes) url.searchParams.append('scope', scope)
    const basic = this.basicHeader()
    const response = await this.send(url.toString(), {
      method: 'GET',
      headers: basic ? { Authorization: basic } : {}
    })
    if (!response.ok) throw await this.errorFrom(response, 'token request')
    const body = (await response.json()) as { token?: string; access_token?: string }
    const token = body.token ?? body.access_token
    if (token) this.holdSecret(token)
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
   * Sends a request with the credentials for `scopes`; on a 401 it answers the challenge (fetching
   * a Bearer token, or switching to Basic) and sends the request once more. `body` must be
   * replayable (a Buffer, or a function that opens the stream again), since it may be sent twice.
   */
  async request(
    method: string,
    pathOrUrl: string,
    scopes: string[],
    init: { headers?: Record<string, string>; body?: Body } = {}
  ): Promise<Response> {
    await this.ready()
    const url = new URL(pathOrUrl, this.baseUrl).toString()
    const attempt = (): Promise<Response> => {
      const auth = this.authHeader(scopes)
      const headers = auth ? { ...init.headers, Authorization: auth } : { ...init.headers }
      const stream = init.body
      if (typeof stream === 'function') {
        // A streamed body, opened afresh for every attempt: fetch needs duplex 'half' (undici);
        // RequestInit's types lack both.
        return this.send(
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
      return this.send(url, { method, headers, body: stream })
    }
    const response = await attempt()
    if (response.status !== 401) return response
    const challenge = parseChallenge(response.headers.get('www-authenticate') ?? '')
    const firstTime = this.challenge?.scheme !== challenge?.scheme
    if (challenge?.scheme === 'bearer') {
      this.challenge = challenge
      // The challenge names the scope the registry wants; keep ours (it may be wider, e.g. a mount).
      await this.fetchToken(challenge.params, scopes)
    } else if (challenge?.scheme === 'basic' && firstTime && this.basicHeader()) {
      this.challenge = challenge
    } else {
      throw await this.errorFrom(response, `${method} ${new URL(url).pathname}`)
    }
    await response.body?.cancel()
    return attempt()
  }

  private async errorFrom(response: Response, what: string): Promise<RegistryError> {
    let code = `HTTP_${response.status}`
    let detail = ''
    try {
      const text = await response.text()
      const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] }
      const first = body.errors?.[0]
      if (typeof first?.code === 'string' && first.code) code = this.serverText(first.code, 60)
      if (typeof first?.message === 'string' && first.message)
        detail = this.serverText(first.message)
    } catch {
      // not a JSON error body; keep the HTTP status
    }
    const statusText = this.serverText(response.statusText, 100)
    return new RegistryError(
      `${what} on ${this.options.registry}: ${response.status} ${code.toLowerCase()}` +
        (detail ? `: ${detail}` : statusText ? ` (${statusText})` : ''),
      response.status,
      code,
      detail
    )
  }

  /** The registry's Docker-Content-Digest, when it sends one, must be the digest of the bytes. */
  private checkServedDigest(where: string, response: Response, digest: string): void {
    this.checkDigest(where, response.headers.get('docker-content-digest'), digest, response.status)
  }

  private checkDigest(where: string, header: string | null, digest: string, status: number): void {
    if (header && header !== digest) {
      throw new RegistryError(
        `${this.options.registry} served ${where} with Docker-Content-Digest ${this.serverText(header, 100)}, but the bytes hash to ${digest}`,
        status,
        'DIGEST_INVALID'
      )
    }
  }

  /** HEAD a manifest: its digest, media type and size, or undefined when it does not exist. */
  async headManifest(repository: string, reference: string): Promise<ManifestHead | undefined> {
    const path = `/v2/${repository}/manifests/${reference}`
    const response = await this.request('HEAD', path, [repositoryScope(repository, ['pull'])], {
      headers: { Accept: MANIFEST_MEDIA_TYPES.join(', ') }
    })
    if (response.status === 404) return undefined
    if (!response.ok) throw await this.errorFrom(response, `HEAD ${path}`)
    const digest = response.headers.get('docker-content-digest')
    if (!digest) {
      // Without the header a HEAD cannot name the digest; fall back to the bytes.
      const m = await this.getManifest(repository, reference)
      return { digest: m.digest, mediaType: m.mediaType, size: m.bytes.length }
    }
    return {
      digest,
      mediaType: contentType(response),
      size: Number(response.headers.get('content-length') ?? 0)
    }
  }

  /**
   * The repository's tags (GET /v2/NAME/tags/list, one page of up to `most`); none when the
   * repository does not exist yet.
   */
  async listTags(repository: string, most = 1000): Promise<string[]> {
    const path = `/v2/${repository}/tags/list?n=${most}`
    const response = await this.request('GET', path, [repositoryScope(repository, ['pull'])])
    if (response.status === 404) {
      await response.body?.cancel()
      return []
    }
    if (!response.ok) throw await this.errorFrom(response, `GET ${path}`)
    const body = (await response.json()) as { tags?: unknown }
    return Array.isArray(body.tags)
      ? body.tags.filter((t): t is string => typeof t === 'string')
      : []
  }

  /**
   * GET a manifest by tag or digest. The digest is the sha256 of the bytes served (what
   * `docker pull NAME@DIGEST` fetches); a `Docker-Content-Digest` header that disagrees is an error,
   * and so is a by-digest answer whose bytes do not hash to that digest.
   */
  async getManifest(repository: string, reference: string): Promise<ManifestResult> {
    const path = `/v2/${repository}/manifests/${reference}`
    const response = await this.request('GET', path, [repositoryScope(repository, ['pull'])], {
      headers: { Accept: MANIFEST_MEDIA_TYPES.join(', ') }
    })
    if (!response.ok) throw await this.errorFrom(response, `GET ${path}`)
    const bytes = Buffer.from(await response.arrayBuffer())
    const digest = sha256(bytes)
    this.checkServedDigest(`${repository}:${reference}`, response, digest)
    if (reference.startsWith('sha256:') && reference !== digest) {
      this.checkDigest(`${repository}@${reference}`, reference, digest, response.status)
    }
    return { digest, mediaType: contentType(response), bytes }
  }

  /**
   * PUT a manifest under a tag (or digest). Returns the digest the registry says it stored
   * (`Docker-Content-Digest`, checked against the bytes sent), or undefined when it did not say.
   */
  async putManifest(
    repository: string,
    reference: string,
    bytes: Buffer,
    mediaType: string
  ): Promise<string | undefined> {
    const path = `/v2/${repository}/manifests/${reference}`
    const response = await this.request(
      'PUT',
      path,
      [repositoryScope(repository, ['pull', 'push'])],
      {
        headers: { 'Content-Type': mediaType },
        body: bytes
      }
    )
    if (response.status !== 201 && !response.ok) throw await this.errorFrom(response, `PUT ${path}`)
    await response.body?.cancel()
    const digest = sha256(bytes)
    this.checkServedDigest(`${repository}:${reference}`, response, digest)
    return response.headers.get('docker-content-digest') ?? undefined
  }

  /** HEAD a blob: its size, or undefined when the repository does not have it. */
  async headBlob(repository: string, digest: string): Promise<number | undefined> {
    const path = `/v2/${repository}/blobs/${digest}`
    const response = await this.request('HEAD', path, [repositoryScope(repository, ['pull'])])
    if (response.status === 404) return undefined
    if (!response.ok) throw await this.errorFrom(response, `HEAD ${path}`)
    return Number(response.headers.get('content-length') ?? 0)
  }

  /**
   * Runs a few requests as one operation, retried as a whole on transient failures under the
   * client's policy, on top of each request's own retries: for idempotent steps (a manifest PUT
   * and the tags' read-back) that must not fail on one unlucky request.
   */
  retrying<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return withRetries(
      `${what} on ${this.options.registry}`,
      operation,
      // A request that ran out of its own retries on transient failures: the whole step again.
      error =>
        error instanceof RetriesExhausted
          ? { transient: true, reason: 'a request ran out of retries' }
          : classifyRegistryError(error),
      this.options.retry ?? DEFAULT_POLICY,
      {
        sleep: this.options.sleep ?? (ms => sleepUnlessAborted(ms, this.options.signal)),
        onRetry: ({ attempt, delayMs, reason }) =>
          this.options.onRetry?.(
            `${what} on ${this.options.registry}: ${reason}; again (attempt ${attempt + 1}) in ${(delayMs / 1000).toFixed(1)} s`
          )
      }
    )
  }

  /**
   * A cross-repository mount: true when the repository now holds the blob; false when the registry
   * offered an upload session instead (cancelled at once: nothing is sent).
   */
  async mountBlob(repository: string, digest: string, from: string): Promise<boolean> {
    const scopes = [repositoryScope(repository, ['pull', 'push']), repositoryScope(from, ['pull'])]
    const path =
      `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}` +
      `&from=${encodeURIComponent(from)}`
    const response = await this.request('POST', path, scopes, {
      headers: { 'Content-Length': '0' }
    })
    await response.body?.cancel()
    if (response.status === 201) return true
    if (response.status !== 202) throw await this.errorFrom(response, `POST ${path}`)
    const location = response.headers.get('location')
    if (location) {
      await this.request('DELETE', location, scopes).then(
        r => r.body?.cancel(),
        () => undefined
      )
    }
    return false
  }

  /**
   * Uploads a blob unless the repository has it: first a cross-repository mount from `mountFrom`
   * when given (201 = mounted, no bytes sent), else a monolithic upload (POST, then one PUT with
   * the bytes; a FileBlob streamed from its file, with back-pressure, on node:http — fetch reads a
   * stream ahead without bound — and an idle timeout rather than a total one, so an upload that
   * moves is never cut off).
   *
   * A failed attempt starts over: HEAD (a lost answer may have committed the blob: then it is
   * there), a new session, the whole PUT. The PUT itself is never retried on its session, which
   * the registry cancels when a body breaks off; BLOB_UPLOAD_UNKNOWN / BLOB_UPLOAD_INVALID / 416
   * after a broken attempt (a registry restarted, a session expired) mean "start over" too. Within
   * the retries and their time bound, the time spent sending bytes not counted.
   */
  async uploadBlob(
    repository: string,
    blob: Buffer | FileBlob,
    options: { mountFrom?: string } = {}
  ): Promise<'exists' | 'mounted' | 'uploaded'> {
    const bytes = Buffer.isBuffer(blob) ? blob : undefined
    const file = Buffer.isBuffer(blob) ? undefined : blob
    const digest = bytes ? sha256(bytes) : file!.digest
    const size = file ? file.size : bytes!.length
    const scopes = [repositoryScope(repository, ['pull', 'push'])]
    let path = `/v2/${repository}/blobs/uploads/`
    if (options.mountFrom) {
      scopes.push(repositoryScope(options.mountFrom, ['pull']))
      path += `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(options.mountFrom)}`
    }
    const what = `upload of blob ${digest} (${size} bytes) to ${this.options.registry}/${repository}`
    let sendingMs = 0
    const attempt = async (n: number): Promise<'exists' | 'mounted' | 'uploaded'> => {
      if ((await this.headBlob(repository, digest)) !== undefined) {
        return n === 1 ? 'exists' : 'uploaded'
      }
      const start = await this.request('POST', path, scopes, {
        headers: { 'Content-Length': '0' }
      })
      if (start.status === 201) {
        await start.body?.cancel()
        return 'mounted'
      }
      if (start.status !== 202) throw await this.errorFrom(start, `POST ${path}`)
      await start.body?.cancel()
      const finish = new URL(this.location(start, path), this.baseUrl)
      finish.searchParams.set('digest', digest)
      const t0 = Date.now()
      let answer: StreamResponse
      try {
        answer = await this.putStream(
          finish.toString(),
          scopes,
          () => (file ? createReadStream(file.file) : Readable.from([bytes!])),
          size
        )
      } finally {
        sendingMs += Date.now() - t0
      }
      if (answer.status !== 201) {
        throw errorFromAnswer(answer, 'PUT blob upload', this.options.registry)
      }
      this.uploadedBytes += size
      return 'uploaded'
    }
    return withRetries(what, attempt, classifyUploadError, this.options.retry ?? DEFAULT_POLICY, {
      sleep: this.options.sleep ?? (ms => sleepUnlessAborted(ms, this.options.signal)),
      now: () => Date.now() - sendingMs,
      onRetry: ({ attempt: n, delayMs, reason }) =>
        this.options.onRetry?.(
          `${what}: ${reason}; starting over (attempt ${n + 1}) in ${(delayMs / 1000).toFixed(1)} s`
        )
    })
  }

  /** One streamed request (no retry of its own), answering a 401 challenge once. */
  private async putStream(
    url: string,
    scopes: string[],
    body: () => Readable,
    length: number
  ): Promise<StreamResponse> {
    const once = async (): Promise<StreamResponse> => {
      this.requests++
      const auth = this.authHeader(scopes)
      try {
        return await sendStream(url, {
          method: 'PUT',
          headers: {
            'Content-Type': 'application/octet-stream',
            ...(auth ? { Authorization: auth } : {})
          },
          body,
          length,
          idleMs: this.options.idleTimeoutMs ?? this.options.timeoutMs ?? 60_000,
          signal: this.options.signal,
          tls: this.tlsOptions
        })
      } catch (error) {
        const code = error instanceof StreamRequestError ? error.code : 'ECONNRESET'
        const why = error instanceof Error ? error.message : String(error)
        throw new RegistryError(
          `cannot reach ${this.options.registry} (${code}: ${why})`,
          0,
          'NETWORK',
          code
        )
      }
    }
    const first = await once()
    if (first.status !== 401) return first
    const challenge = parseChallenge(String(first.headers['www-authenticate'] ?? ''))
    if (challenge?.scheme === 'bearer') {
      this.challenge = challenge
      await this.fetchToken(challenge.params, scopes)
    } else if (
      challenge?.scheme === 'basic' &&
      this.challenge?.scheme !== 'basic' &&
      this.basicHeader()
    ) {
      this.challenge = challenge
    } else {
      return first
    }
    return once()
  }

  private location(response: Response, fallback: string): string {
    const location = response.headers.get('location')
    if (!location) {
      throw new RegistryError(
        `${this.options.registry} answered ${fallback} without a Location`,
        response.status,
        'BLOB_UPLOAD_INVALID'
      )
    }
    return new URL(location, this.baseUrl).toString()
  }

  /**
   * Fetches a (small) blob by digest, such as an image config, and checks that its bytes hash to
   * that digest. Redirects to a storage backend are followed; fetch drops the Authorization
   * header when a redirect leaves the registry's origin.
   */
  async getBlob(repository: string, digest: string, maxBytes = 4 * 1024 * 1024): Promise<Buffer> {
    const algorithm = /^(sha256|sha512):[0-9a-f]+$/.exec(digest)?.[1]
    if (!algorithm)
      throw new RegistryError(`unsupported digest ${quote(digest)}`, 0, 'DIGEST_INVALID')
    const path = `/v2/${repository}/blobs/${digest}`
    const response = await this.request('GET', path, [repositoryScope(repository, ['pull'])])
    if (!response.ok) throw await this.errorFrom(response, `GET ${path}`)
    const length = Number(response.headers.get('content-length') ?? '0')
    if (length > maxBytes) {
      await response.body?.cancel()
      throw new RegistryError(
        `blob ${digest} is ${length} bytes, more than ${maxBytes}`,
        response.status,
        'SIZE_INVALID'
      )
    }
    const bytes = Buffer.from(await response.arrayBuffer())
    const actual = `${algorithm}:` + createHash(algorithm).update(bytes).digest('hex')
    if (actual !== digest) {
      throw new RegistryError(
        `${this.options.registry} served blob ${digest} with bytes that hash to ${actual}`,
        response.status,
        'DIGEST_INVALID'
      )
    }
    return bytes
  }
}

/** A streamed request's error answer, as a RegistryError (the registry's code and message). */
function errorFromAnswer(answer: StreamResponse, what: string, registry: string): RegistryError {
  let code = `HTTP_${answer.status}`
  let detail = ''
  try {
    const body = JSON.parse(answer.body) as { errors?: { code?: string; message?: string }[] }
    if (body.errors?.[0]?.code) code = body.errors[0].code
    if (body.errors?.[0]?.message) detail = body.errors[0].message
  } catch {
    // not a JSON error body; keep the HTTP status
  }
  return new RegistryError(
    `${what} on ${registry}: ${answer.status} ${code.toLowerCase()}${detail ? `: ${detail}` : ''}`,
    answer.status,
    code,
    detail
  )
}

function contentType(response: Response): string {
  return (response.headers.get('content-type') ?? '').split(';')[0].trim()
}

/** Waits `ms`, or less when `signal` aborts (the next request then fails at once). */
function sleepUnlessAborted(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise(resolve => {
    if (signal?.aborted) return resolve()
    const done = (): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}
