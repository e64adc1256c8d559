/**
 * A small client for the OCI distribution API: enough to ask the registry which manifest a tag
 * serves, with the same credentials `docker login` used. Built on Node's fetch; the
 * WWW-Authenticate challenge parser is hand-written (a few lines; no maintained package covers
 * just that without pulling in a whole HTTP stack).
 */
import { createHash } from 'node:crypto'

export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json'
]

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string
  ) {
    super(message)
    this.name = 'RegistryError'
  }
}

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

/** Registries on loopback are spoken to over plain HTTP, as the docker daemon does by default. */
export function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '')
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]'
}

export interface ManifestResult {
  digest: string
  mediaType: string
  bytes: Buffer
}

export interface RegistryClientOptions {
  registry: string
  username?: string
  password?: string
  fetchFn?: typeof fetch
  timeoutMs?: number
}

export class RegistryClient {
  readonly baseUrl: string
  private readonly fetchFn: typeof fetch
  private readonly tokens = new Map<string, string>()
  private useBasic = false

  constructor(private readonly options: RegistryClientOptions) {
    this.baseUrl = `${isLoopback(options.registry) ? 'http' : 'https'}://${options.registry}`
    this.fetchFn = options.fetchFn ?? fetch
  }

  private basicHeader(): string | undefined {
    const { username, password } = this.options
    if (!password) return undefined
    return 'Basic ' + Buffer.from(`${username ?? ''}:${password}`).toString('base64')
  }

  private authHeader(scope: string): string | undefined {
    const token = this.tokens.get(scope)
    if (token) return `Bearer ${token}`
    return this.useBasic ? this.basicHeader() : undefined
  }

  private async send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchFn(url, {
        ...init,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000)
      })
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause
      const why = cause?.code ?? cause?.message ?? (error as Error).message
      throw new RegistryError(`cannot reach ${this.options.registry} (${why})`, 0, 'NETWORK')
    }
  }

  /** Sends a request, answering one authentication challenge (Bearer token or Basic) if asked. */
  async request(
    method: string,
    path: string,
    scope: string,
    headers: Record<string, string> = {}
  ): Promise<Response> {
    const url = `${this.baseUrl}${path}`
    const withAuth = (): Record<string, string> => {
      const auth = this.authHeader(scope)
      return auth ? { ...headers, Authorization: auth } : headers
    }
    let response = await this.send(url, { method, headers: withAuth() })
    if (response.status !== 401) return response
    const challenge = parseChallenge(response.headers.get('www-authenticate') ?? '')
    await response.body?.cancel()
    if (challenge?.scheme === 'bearer') {
      await this.fetchToken(challenge.params, scope)
    } else if (challenge?.scheme === 'basic' && !this.useBasic && this.basicHeader()) {
      this.useBasic = true
    } else {
      throw await this.errorFrom(response, `${method} ${path}`)
    }
    response = await this.send(url, { method, headers: withAuth() })
    return response
  }

  private async fetchToken(params: Record<string, string>, scope: string): Promise<void> {
    if (!params.realm)
      throw new RegistryError('registry sent a Bearer challenge without realm', 401, 'UNAUTHORIZED')
    const url = new URL(params.realm)
    if (params.service) url.searchParams.set('service', params.service)
    url.searchParams.set('scope', scope)
    const basic = this.basicHeader()
    const response = await this.send(url.toString(), {
      method: 'GET',
      headers: basic ? { Authorization: basic } : {}
    })
    if (!response.ok) throw await this.errorFrom(response, 'token request')
    const body = (await response.json()) as { token?: string; access_token?: string }
    const token = body.token ?? body.access_token
    if (!token)
      throw new RegistryError(
        'token endpoint answered without a token',
        response.status,
        'UNAUTHORIZED'
      )
    this.tokens.set(scope, token)
  }

  private async errorFrom(response: Response, what: string): Promise<RegistryError> {
    let code = `HTTP_${response.status}`
    let detail = response.statusText
    try {
      const text = await response.text()
      const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] }
      const first = body.errors?.[0]
      if (first?.code) code = first.code
      if (first?.message) detail = first.message
    } catch {
      // not a JSON error body; keep the HTTP status
    }
    return new RegistryError(
      `${what} on ${this.options.registry}: ${response.status} ${code.toLowerCase()}: ${detail}`,
      response.status,
      code
    )
  }

  /**
   * Fetches a manifest by tag or digest. The digest is the sha256 of the bytes served (what
   * `docker pull NAME@DIGEST` fetches); a `Docker-Content-Digest` header that disagrees is an error.
   */
  async getManifest(repository: string, reference: string): Promise<ManifestResult> {
    const path = `/v2/${repository}/manifests/${reference}`
    const response = await this.request('GET', path, `repository:${repository}:pull`, {
      Accept: MANIFEST_MEDIA_TYPES.join(', ')
    })
    if (!response.ok) throw await this.errorFrom(response, `GET ${path}`)
    const bytes = Buffer.from(await response.arrayBuffer())
    const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex')
    const header = response.headers.get('docker-content-digest')
    if (header && header !== digest) {
      throw new RegistryError(
        `${this.options.registry} served ${repository}:${reference} with Docker-Content-Digest ${header}, but the bytes hash to ${digest}`,
        response.status,
        'DIGEST_INVALID'
      )
    }
    const mediaType = (response.headers.get('content-type') ?? '').split(';')[0].trim()
    return { digest, mediaType, bytes }
  }

  /**
   * Fetches a (small) blob by digest, such as an image config, and checks that its bytes hash to
   * that digest. Redirects to a storage backend are followed; fetch drops the Authorization
   * header when a redirect leaves the registry's origin.
   */
  async getBlob(repository: string, digest: string, maxBytes = 4 * 1024 * 1024): Promise<Buffer> {
    const algorithm = /^(sha256|sha512):[0-9a-f]+$/.exec(digest)?.[1]
    if (!algorithm) throw new RegistryError(`unsupported digest '${digest}'`, 0, 'DIGEST_INVALID')
    const path = `/v2/${repository}/blobs/${digest}`
    const response = await this.request('GET', path, `repository:${repository}:pull`)
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
