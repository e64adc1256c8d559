/**
 * HTTP details of talking to a registry that transport.ts applies: how much of a body may be read
 * into memory (counted on the stream), which redirects are followed and where, and the header
 * that never crosses to another origin. docs/facts/registry-protocol.md has the sources.
 */
import { RegistryError } from './errors.js'

/**
 * The most a body read into memory may hold, counted on the stream (a chunked answer has no
 * Content-Length to check): manifests as distribution's own limit, image configs the same, tag
 * lists (1000 tags of at most 128 characters need 130 KiB), tokens and error bodies small.
 * docs/facts/registry-protocol.md.
 */
export const BODY_LIMITS = {
  manifest: 4 * 1024 * 1024,
  config: 4 * 1024 * 1024,
  tagList: 4 * 1024 * 1024,
  token: 64 * 1024,
  error: 64 * 1024
} as const

/** A limit as a message names it: 4 MiB, 64 KiB. */
export function sizeText(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / 1024 / 1024} MiB` : `${bytes / 1024} KiB`
}

/** Redirects followed per request (fetch follows 20; a registry and its storage need 1 or 2). */
export const MAX_REDIRECTS = 5
export const REDIRECTS = new Set([301, 302, 303, 307, 308])

/** Headers without Authorization (any spelling): for another origin than the one it is for. */
export function withoutAuthorization(headers: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries((headers ?? {}) as Record<string, string>)) {
    if (k.toLowerCase() !== 'authorization') out[k] = v
  }
  return out
}

/**
 * Up to `limit` bytes of a body, read on the stream; `over` when it holds more (the rest is not
 * read: the stream is cancelled).
 */
export async function readUpTo(
  response: Response,
  limit: number
): Promise<{ bytes: Buffer; over: boolean }> {
  const reader = response.body?.getReader()
  if (!reader) return { bytes: Buffer.alloc(0), over: false }
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.length
    if (size > limit) {
      await reader.cancel().catch(() => undefined)
      return { bytes: Buffer.concat(chunks), over: true }
    }
    chunks.push(value)
  }
  return { bytes: Buffer.concat(chunks), over: false }
}

/**
 * Where a redirect leads (`location`, as the server sent it; `shown`, the same fit for a message),
 * or a RegistryError saying why it is not followed: not a URL, not HTTP, too many hops, or a
 * 301/302/303 for a request with a body (it would become a GET without one).
 */
export function redirectTarget(
  what: string,
  method: string,
  from: string,
  status: number,
  shown: string,
  location: string,
  hop: number
): URL {
  const fail = (why: string): RegistryError =>
    new RegistryError(`${what}: ${why}`, status, `HTTP_${status}`)
  let next: URL
  try {
    next = new URL(location, from)
  } catch {
    throw fail(`${status} to ${shown}, which is not a URL`)
  }
  if (next.protocol !== 'https:' && next.protocol !== 'http:') {
    throw fail(`${status} to ${shown}, not HTTP`)
  }
  if (hop >= MAX_REDIRECTS)
    throw fail(`more than ${MAX_REDIRECTS} redirects (the last to ${shown})`)
  const keepsBody = status === 307 || status === 308
  if (!keepsBody && method !== 'GET' && method !== 'HEAD') {
    throw fail(
      `${status} redirect to ${shown}. Only a 307 or 308 redirect keeps the method and the body ` +
        `of a ${method} (RFC 9110); a registry that moves uploads must use one of those.`
    )
  }
  return next
}
