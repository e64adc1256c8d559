/**
 * A request whose body is a stream (a layer file), on node:http / node:https rather than fetch:
 * the body is piped with back-pressure (memory does not grow with the layer), and the limit is on
 * idleness — no byte moving either way for `idleMs` — not on the whole request, so a layer that
 * uploads steadily over a slow link is never cut off.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Readable } from 'node:stream'
import type { SecureContext } from 'node:tls'
import { pipeline } from 'node:stream/promises'

export interface StreamResponse {
  status: number
  headers: IncomingHttpHeaders
  /** The answer's body (error JSON), at most `bodyLimit` bytes of it. */
  body: string
  /** The body held more than `bodyLimit`: the rest was not read (the connection was closed). */
  bodyOver?: boolean
}

/** A failure before an answer came: code is the socket's (ECONNRESET, EPIPE, ETIMEDOUT…). */
export class StreamRequestError extends Error {
  constructor(
    message: string,
    readonly code: string
  ) {
    super(message)
    this.name = 'StreamRequestError'
  }
}

/** How an https registry is trusted (registry/tls.ts decides; fetch uses the same). */
export interface TlsOptions {
  secureContext: SecureContext
  rejectUnauthorized: boolean
}

export function sendStream(
  url: string,
  init: {
    method: string
    headers: Record<string, string>
    body: () => Readable
    length: number
    idleMs: number
    signal?: AbortSignal
    /** For https: the trust the registry client chose (none: Node's defaults). */
    tls?: TlsOptions
    /** The most of the answer's body kept in memory (default 64 KiB); past it, it is not read. */
    bodyLimit?: number
  }
): Promise<StreamResponse> {
  const target = new URL(url)
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise<StreamResponse>((resolve, reject) => {
    let settled = false
    const fail = (error: unknown): void => {
      if (settled) return
      settled = true
      const e = error as NodeJS.ErrnoException
      reject(new StreamRequestError(e.message || String(error), e.code ?? 'ECONNRESET'))
    }
    const req = send(
      target,
      {
        method: init.method,
        headers: { ...init.headers, 'Content-Length': String(init.length) },
        ...(target.protocol === 'https:' && init.tls ? init.tls : {})
      },
      res => {
        const limit = init.bodyLimit ?? 65536
        const chunks: Buffer[] = []
        let kept = 0
        const answer = (over: boolean): void => {
          if (settled) return
          settled = true
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            ...(over ? { bodyOver: true } : {})
          })
        }
        res.on('data', (chunk: Buffer) => {
          kept += chunk.length
          if (kept <= limit) return void chunks.push(chunk)
          // An endless or oversized answer: what was kept is the answer; the rest is not read.
          answer(true)
          req.destroy()
        })
        res.on('error', fail)
        res.on('end', () => answer(false))
      }
    )
    req.setTimeout(init.idleMs, () => {
      const e = Object.assign(new Error(`no byte moved for ${Math.round(init.idleMs / 1000)} s`), {
        code: 'ETIMEDOUT'
      })
      req.destroy(e)
    })
    req.on('error', fail)
    if (init.signal) {
      const abort = (): void => {
        req.destroy(Object.assign(new Error('the step is ending'), { code: 'ABORT_ERR' }))
      }
      if (init.signal.aborted) abort()
      else init.signal.addEventListener('abort', abort, { once: true })
      req.on('close', () => init.signal?.removeEventListener('abort', abort))
    }
    pipeline(init.body(), req).catch(fail)
  })
}
