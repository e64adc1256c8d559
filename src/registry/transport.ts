/**
 * How requests reach a registry: the scheme and TLS (decided in tls.ts, applied by an undici Agent
 * for fetch and by node:https for streamed bodies), sending with retries of transient failures,
 * and the one reader of error answers (which always strips credentials from what the server says).
 * It knows nothing of authentication (auth.ts) or of the API's resources (client.ts).
 *
 * undici's own fetch is used with that Agent (one copy of undici for both: Node's built-in fetch
 * rejects an Agent of another undici major).
 */
import type { Readable } from 'node:stream'
import { Agent, fetch as undiciFetch } from 'undici'
import { networkCause } from '../util/errors.js'
import {
  DEFAULT_POLICY,
  RetriesExhausted,
  parseRetryAfter,
  withRetries,
  type RetryPolicy,
  type Verdict
} from '../util/retry.js'
import { outside, redactCredentials } from '../util/text.js'
import {
  RegistryError,
  classifyRegistryError,
  isSecondaryRateLimit,
  retryAfterFromBody
} from './errors.js'
import {
  BODY_LIMITS,
  REDIRECTS,
  readUpTo,
  redirectTarget,
  sizeText,
  withoutAuthorization
} from './http.js'
import { StreamRequestError, sendStream, type StreamResponse, type TlsOptions } from './stream.js'
import {
  DEFAULT_TLS_SOURCES,
  certificateAdvice,
  chooseTransport,
  secureContext,
  type TlsSources,
  type Transport
} from './tls.js'

/**
 * How each registry is spoken to, decided once per run (a TLS handshake with a port that never
 * answers costs its whole timeout): by registry and TLS sources.
 */
const decided = new Map<string, Transport>()

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

/** A request whose body is a stream, opened afresh by `body` for each send. */
export interface StreamedRequest {
  url: string
  method: string
  headers: Record<string, string>
  body: () => Readable
  length: number
}

/** An answer whose body was read already: a fetch Response, or a streamed request's answer. */
type Answer = Response | StreamResponse

export class RegistryTransport {
  /** How the registry is spoken to (tls.ts), once decided; a fetchFn given by a test gets https. */
  private transport: Transport | undefined
  private fetchFn: typeof fetch
  private choosing: Promise<void> | undefined
  private agent: Agent | undefined
  private tlsOptions: TlsOptions | undefined
  /** Number of HTTP requests sent (registry and token realm), for diagnostics and benchmarks. */
  requests = 0
  /** Every credential the client holds: never in a message. */
  private readonly secrets: string[] = []

  constructor(readonly options: RegistryClientOptions) {
    this.fetchFn = options.fetchFn ?? fetch
  }

  get registry(): string {
    return this.options.registry
  }

  /** Keeps `value` out of every message, and tells the caller to mask it. */
  holdSecret(value: string, announce = true): void {
    if (!value || this.secrets.includes(value)) return
    this.secrets.push(value)
    if (announce) this.options.onSecret?.(value)
  }

  /** Text a server sent, fit for a message: one line, no credentials (echoed headers, tokens). */
  serverText(text: string, max = 300): string {
    return outside(redactCredentials(text, this.secrets), max)
  }

  /** https://REGISTRY, or http:// for an insecure registry that does not speak TLS. */
  get baseUrl(): string {
    return `${this.transport?.scheme ?? 'https'}://${this.options.registry}`
  }

  /** scheme://host:port of the registry: the origin its credentials are for. */
  get origin(): string {
    return new URL(this.baseUrl).origin
  }

  /**
   * A body read into memory, at most `limit` bytes counted on the stream; more fails with a
   * message naming the limit and `what` was read.
   */
  async readBody(response: Response, limit: number, what: string): Promise<Buffer> {
    const { bytes, over } = await readUpTo(response, limit)
    if (over) {
      throw new RegistryError(
        `${what} from ${this.registry} is more than ${sizeText(limit)}: not read further`,
        response.status,
        'SIZE_INVALID'
      )
    }
    return bytes
  }

  /** How to speak to the registry: decided before the first request (a TLS handshake at most). */
  async ready(): Promise<void> {
    if (this.transport?.final) return
    // Concurrent first requests share one decision.
    this.choosing ??= this.choose().finally(() => (this.choosing = undefined))
    await this.choosing
  }

  private async choose(): Promise<void> {
    const sources = this.options.tls ?? DEFAULT_TLS_SOURCES
    const key = `${this.options.registry}\0${JSON.stringify(sources)}`
    let transport = decided.get(key)
    if (!transport) {
      transport = await chooseTransport(this.options.registry, sources)
      if (transport.note) this.options.onTransport?.(transport.note)
      if (transport.final) decided.set(key, transport)
    }
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

  /**
   * One HTTP request, retried on transient failures (5xx, 429 with its Retry-After, resets,
   * timeouts). `init` is made afresh for each attempt (a streamed body cannot be sent twice). A
   * 5xx/429 that outlasts the retries ends in an error that says so.
   */
  async send(url: string, init: RequestInit | (() => RequestInit)): Promise<Response> {
    const make = typeof init === 'function' ? init : () => init
    const what = `${make().method ?? 'GET'} ${new URL(url).pathname}`
    return this.retry(what, () => this.sendFollowing(url, make), classifyRegistryError, {
      note: (reason, attempt, delay) => `${reason}; retry ${attempt} in ${delay} s`
    })
  }

  /**
   * Runs `operation` under the client's retry policy: `classify` tells a transient failure; `now`
   * (uploads) leaves time spent sending out of the time bound. The log line is `what on
   * REGISTRY: ` and what `note` says.
   */
  retry<T>(
    what: string,
    operation: (attempt: number) => Promise<T>,
    classify: (error: unknown) => Verdict,
    hooks: {
      note: (reason: string, attempt: number, delaySeconds: string) => string
      now?: () => number
      /** `what` names the registry already. */
      named?: boolean
    }
  ): Promise<T> {
    const label = hooks.named ? what : `${what} on ${this.options.registry}`
    return withRetries(label, operation, classify, this.options.retry ?? DEFAULT_POLICY, {
      sleep: this.options.sleep ?? (ms => sleepUnlessAborted(ms, this.options.signal)),
      now: hooks.now,
      onRetry: ({ attempt, delayMs, reason }) =>
        this.options.onRetry?.(
          `${label}: ${hooks.note(reason, attempt, (delayMs / 1000).toFixed(1))}`
        )
    })
  }

  /**
   * Runs a few requests as one operation, retried as a whole on transient failures under the
   * client's policy, on top of each request's own retries: for idempotent steps (a manifest PUT
   * and the tags' read-back) that must not fail on one unlucky request.
   */
  retrying<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return this.retry(
      what,
      operation,
      // A request that ran out of its own retries on transient failures: the whole step again.
      error =>
        error instanceof RetriesExhausted
          ? { transient: true, reason: 'a request ran out of retries' }
          : classifyRegistryError(error),
      {
        note: (reason, attempt, delay) => `${reason}; again (attempt ${attempt + 1}) in ${delay} s`
      }
    )
  }

  private requestSignal(): AbortSignal {
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 60_000)
    return this.options.signal ? AbortSignal.any([timeout, this.options.signal]) : timeout
  }

  /**
   * One attempt, following redirects as the distribution spec allows: any request may be
   * redirected; a 307/308 keeps the method and the body (sent again, made afresh), a 301/302/303
   * is followed by GET and HEAD only (for a PUT or POST it would drop the body: refused with a
   * message). Authorization goes only to the origin it was meant for: a hop to another origin
   * (host, port or scheme) goes without it, as docker does (docs/facts/registry-protocol.md).
   */
  private async sendFollowing(url: string, make: () => RequestInit): Promise<Response> {
    const first = new URL(url).origin
    let target = url
    let init = make()
    for (let hop = 0; ; hop++) {
      const response = await this.sendOnce(target, { ...init, redirect: 'manual' })
      const location = response.headers.get('location')
      if (!REDIRECTS.has(response.status) || !location) return response
      await response.body?.cancel().catch(() => undefined)
      const next = this.redirect(init.method ?? 'GET', target, response.status, location, hop)
      const keepsBody = response.status === 307 || response.status === 308
      init = keepsBody ? make() : { ...init, body: undefined }
      if (next.origin !== first) init = { ...init, headers: withoutAuthorization(init.headers) }
      target = next.toString()
    }
  }

  /** Where a redirect of `method` on `from` leads (http.ts decides; messages name the registry). */
  private redirect(
    method: string,
    from: string,
    status: number,
    location: string,
    hop: number
  ): URL {
    const what = `${method} ${new URL(from).pathname} on ${this.registry}`
    return redirectTarget(what, method, from, status, this.serverText(location, 200), location, hop)
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
      const read = await readUpTo(response, BODY_LIMITS.error).catch(() => undefined)
      const text = read?.bytes.toString('utf8') ?? ''
      const copy = new Response(read?.over ? '' : text, {
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

  /**
   * One request with a streamed body (a layer) on node:http(s), with the trust fetch uses; no
   * retry of its own (the caller starts the upload over).
   */
  async sendStream(request: StreamedRequest): Promise<StreamResponse> {
    const first = new URL(request.url).origin
    let sent = request
    for (let hop = 0; ; hop++) {
      const answer = await this.sendStreamOnce(sent)
      const location = answer.headers.location
      if (!REDIRECTS.has(answer.status) || !location) return answer
      // A 307/308 is sent again with the body, streamed afresh from its source (the file).
      const next = this.redirect(sent.method, sent.url, answer.status, location, hop)
      const headers = next.origin === first ? sent.headers : withoutAuthorization(sent.headers)
      sent = { ...sent, url: next.toString(), headers }
    }
  }

  private async sendStreamOnce({
    url,
    method,
    headers,
    body,
    length
  }: StreamedRequest): Promise<StreamResponse> {
    this.requests++
    try {
      return await sendStream(url, {
        method,
        headers,
        body,
        length,
        idleMs: this.options.idleTimeoutMs ?? this.options.timeoutMs ?? 60_000,
        signal: this.options.signal,
        tls: this.tlsOptions,
        bodyLimit: BODY_LIMITS.error
      })
    } catch (error) {
      const code = error instanceof StreamRequestError ? error.code : 'ECONNRESET'
      const why = error instanceof Error ? error.message : String(error)
      throw new RegistryError(
        `cannot reach ${this.options.registry} (${code}: ${this.serverText(why)})`,
        0,
        'NETWORK',
        code
      )
    }
  }

  /**
   * An error answer as a RegistryError: the registry's error code and message when the body is
   * the distribution spec's `{"errors":[…]}`, else the HTTP status (and status text). Everything
   * the server said goes through serverText (one line, credentials removed).
   */
  async errorFrom(response: Answer, what: string): Promise<RegistryError> {
    let code = `HTTP_${response.status}`
    let detail = ''
    const read = isStreamed(response)
      ? { text: response.body, over: response.bodyOver === true }
      : await readUpTo(response, BODY_LIMITS.error).then(
          r => ({ text: r.bytes.toString('utf8'), over: r.over }),
          () => ({ text: '', over: false })
        )
    if (read.over) detail = `the error body is more than ${sizeText(BODY_LIMITS.error)}: not read`
    else
      try {
        const body = JSON.parse(read.text) as { errors?: { code?: string; message?: string }[] }
        const first = body.errors?.[0]
        if (typeof first?.code === 'string' && first.code) code = this.serverText(first.code, 60)
        if (typeof first?.message === 'string' && first.message)
          detail = this.serverText(first.message)
      } catch {
        // not a JSON error body; keep the HTTP status
      }
    const statusText = isStreamed(response) ? '' : this.serverText(response.statusText, 100)
    return new RegistryError(
      `${what} on ${this.options.registry}: ${response.status} ${code.toLowerCase()}` +
        (detail ? `: ${detail}` : statusText ? ` (${statusText})` : ''),
      response.status,
      code,
      detail
    )
  }
}

/** A streamed request's answer (its body read already), not a fetch Response. */
function isStreamed(answer: Answer): answer is StreamResponse {
  return typeof (answer as Partial<Response>).text !== 'function'
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
