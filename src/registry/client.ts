/**
 * A small client for the OCI distribution API (https://github.com/opencontainers/distribution-spec):
 * manifests (HEAD/GET/PUT, digest-checked), tags, and blobs (HEAD, GET, cross-repository mount,
 * monolithic upload and its state machine). Errors are RegistryError values carrying the
 * registry's error code and HTTP status. It stands on two parts: transport.ts (scheme and TLS,
 * sending with retries, the one error reader) and auth.ts (the challenge, tokens, the one 401
 * answer).
 *
 * Hand-written on purpose: the WWW-Authenticate parser and the upload state machine are a few lines
 * each, and the maintained registry clients on npm pull in their own HTTP stacks (cold start).
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { Readable } from 'node:stream'
import { sha256 } from '../oci/digest.js'
import type { LayerInFile } from '../oci/layer-blob.js'
import { MANIFEST_MEDIA_TYPES } from '../oci/media-types.js'
import { quote } from '../util/text.js'
import { RegistryAuth, repositoryScope, type Body } from './auth.js'
import { RegistryError, classifyUploadError } from './errors.js'
import type { StreamResponse } from './stream.js'
import { BODY_LIMITS, sizeText } from './http.js'
import { RegistryTransport, type RegistryClientOptions } from './transport.js'

export { isLoopback } from './tls.js'
export type { RegistryClientOptions } from './transport.js'

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

export class RegistryClient {
  private readonly transport: RegistryTransport
  private readonly auth: RegistryAuth
  /** Blob bytes this client uploaded (0 for blobs the registry had or mounted). */
  uploadedBytes = 0

  constructor(options: RegistryClientOptions) {
    this.transport = new RegistryTransport(options)
    this.auth = new RegistryAuth(this.transport)
  }

  /** Number of HTTP requests sent (registry and token realm), for diagnostics and benchmarks. */
  get requests(): number {
    return this.transport.requests
  }

  get registry(): string {
    return this.transport.registry
  }

  /** https://REGISTRY, or http:// for an insecure registry that does not speak TLS. */
  get baseUrl(): string {
    return this.transport.baseUrl
  }

  /** `GET /v2/`: learns how the registry wants to be authenticated. */
  ping(): Promise<void> {
    return this.auth.ping()
  }

  /** Whether the registry accepts the credentials, asked the way `docker login` does. */
  verifyCredentials(): Promise<boolean> {
    return this.auth.verifyCredentials()
  }

  /** Gets credentials for `scopes` ahead of the requests that need them. */
  authorize(scopes: string[]): Promise<void> {
    return this.auth.authorize(scopes)
  }

  /** A request with the credentials for `scopes`, answering a 401 once (auth.ts). */
  request(
    method: string,
    pathOrUrl: string,
    scopes: string[],
    init: { headers?: Record<string, string>; body?: Body } = {}
  ): Promise<Response> {
    return this.auth.request(method, pathOrUrl, scopes, init)
  }

  /** A few requests as one operation, retried as a whole on transient failures (transport.ts). */
  retrying<T>(what: string, operation: () => Promise<T>): Promise<T> {
    return this.transport.retrying(what, operation)
  }

  private errorFrom(response: Response, what: string): Promise<RegistryError> {
    return this.transport.errorFrom(response, what)
  }

  /** The registry's Docker-Content-Digest, when it sends one, must be the digest of the bytes. */
  private checkServedDigest(where: string, response: Response, digest: string): void {
    this.checkDigest(where, response.headers.get('docker-content-digest'), digest, response.status)
  }

  private checkDigest(where: string, header: string | null, digest: string, status: number): void {
    if (header && header !== digest) {
      throw new RegistryError(
        `${this.registry} served ${where} with Docker-Content-Digest ${this.transport.serverText(header, 100)}, but the bytes hash to ${digest}`,
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
    const bytes = await this.transport.readBody(
      response,
      BODY_LIMITS.tagList,
      `the tag list of ${repository}`
    )
    const body = JSON.parse(bytes.toString('utf8')) as { tags?: unknown }
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
    const bytes = await this.transport.readBody(
      response,
      BODY_LIMITS.manifest,
      `the manifest ${repository}:${reference}`
    )
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
   * the bytes; a layer blob in a file (oci/layer-blob.ts) streamed from it, with back-pressure, on node:http — fetch reads a
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
    blob: Buffer | Pick<LayerInFile, 'file' | 'digest' | 'size'>,
    options: { mountFrom?: string } = {}
  ): Promise<'exists' | 'mounted' | 'uploaded'> {
    const { digest, size } = Buffer.isBuffer(blob)
      ? { digest: sha256(blob), size: blob.length }
      : blob
    const scopes = [repositoryScope(repository, ['pull', 'push'])]
    let path = `/v2/${repository}/blobs/uploads/`
    if (options.mountFrom) {
      scopes.push(repositoryScope(options.mountFrom, ['pull']))
      path += `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(options.mountFrom)}`
    }
    const what = `upload of blob ${digest} (${size} bytes) to ${this.registry}/${repository}`
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
        answer = await this.auth.requestStream(
          'PUT',
          finish.toString(),
          scopes,
          () => (Buffer.isBuffer(blob) ? Readable.from([blob]) : createReadStream(blob.file)),
          size
        )
      } finally {
        sendingMs += Date.now() - t0
      }
      if (answer.status !== 201) {
        throw await this.transport.errorFrom(answer, 'PUT blob upload')
      }
      this.uploadedBytes += size
      return 'uploaded'
    }
    return this.transport.retry(what, attempt, classifyUploadError, {
      named: true,
      now: () => Date.now() - sendingMs,
      note: (reason, n, delay) => `${reason}; starting over (attempt ${n + 1}) in ${delay} s`
    })
  }

  private location(response: Response, fallback: string): string {
    const location = response.headers.get('location')
    if (!location) {
      throw new RegistryError(
        `${this.registry} answered ${fallback} without a Location`,
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
  async getBlob(
    repository: string,
    digest: string,
    maxBytes: number = BODY_LIMITS.config
  ): Promise<Buffer> {
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
        `blob ${digest} of ${repository} from ${this.registry} is ${length} bytes, more than ${sizeText(maxBytes)}: not read`,
        response.status,
        'SIZE_INVALID'
      )
    }
    const bytes = await this.transport.readBody(
      response,
      maxBytes,
      `blob ${digest} of ${repository}`
    )
    const actual = `${algorithm}:` + createHash(algorithm).update(bytes).digest('hex')
    if (actual !== digest) {
      throw new RegistryError(
        `${this.registry} served blob ${digest} with bytes that hash to ${actual}`,
        response.status,
        'DIGEST_INVALID'
      )
    }
    return bytes
  }
}
function contentType(response: Response): string {
  return (response.headers.get('content-type') ?? '').split(';')[0].trim()
}
