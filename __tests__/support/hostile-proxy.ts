/**
 * Test code: a hostile registry on loopback — a proxy in front of a real one that lies on chosen
 * requests (issue 21): it names other hosts in upload Locations, redirects the PUT that finishes an
 * upload, injects text into tag lists, and answers with endless or oversized bodies.
 *
 *   - `rules`: a request that matches (method, path with query) is answered by `respond` instead of
 *     the registry (or, with `rewrite`, forwarded and its answer changed first);
 *   - `startUploadHost(address)`: another listener (127.0.0.2, or another port of 127.0.0.1) that
 *     records the headers of every request it gets and forwards them to the registry with
 *     credentials of its own — as a storage backend would take a pre-signed URL;
 *   - `endless(res, …)` / `oversized(…)`: bodies that never end, or are bigger than a limit, sent
 *     without Content-Length (chunked): a client must count on the stream.
 *
 * Loopback only; everything it did is in `events`.
 */
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse
} from 'node:http'
import type { AddressInfo } from 'node:net'

export interface HostileRule {
  method?: string
  path: RegExp
  /** Fire on this many matches (default: every one). */
  times?: number
  /** Answer instead of the registry. */
  respond?: (req: IncomingMessage, res: ServerResponse) => void
  /** Forward, then change the registry's answer (status, headers, whole body) before passing it on. */
  rewrite?: (answer: { status: number; headers: IncomingHttpHeaders; body: Buffer }) => {
    status: number
    headers: IncomingHttpHeaders
    body: Buffer
  }
  /** Forward to another path of the registry (e.g. an injected tag name to a real one). */
  to?: (path: string) => string
}

export interface HostileServer {
  address: string
  events: string[]
  stop: () => Promise<void>
}

export interface UploadHost extends HostileServer {
  /** Each request's method, path and Authorization header ('-' when none came). */
  seen: { method: string; path: string; authorization: string }[]
}

function loopback(target: string): { host: string; port: number } {
  const i = target.lastIndexOf(':')
  const host = target.slice(0, i)
  const port = Number(target.slice(i + 1))
  if (!/^127\.\d+\.\d+\.\d+$/.test(host) || !port) {
    throw new Error(`the hostile proxy only forwards to loopback HOST:PORT, not '${target}'`)
  }
  return { host, port }
}

/** Sends `req` on to the registry (headers as given) and hands back its answer, or pipes it. */
function forward(
  registry: string,
  req: IncomingMessage,
  res: ServerResponse,
  options: {
    path?: string
    headers?: IncomingHttpHeaders
    rewrite?: HostileRule['rewrite']
  } = {}
): void {
  const { host, port } = loopback(registry)
  // The Host the client used: the registry builds its upload Locations from it (so they name the
  // proxy, or the upload host, as a registry behind a reverse proxy would).
  const headers = { ...(options.headers ?? req.headers) }
  const out = request(
    { host, port, method: req.method, path: options.path ?? req.url, headers },
    answer => {
      if (!options.rewrite) {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
        return
      }
      const chunks: Buffer[] = []
      answer.on('data', (c: Buffer) => chunks.push(c))
      answer.on('end', () => {
        const changed = options.rewrite!({
          status: answer.statusCode ?? 502,
          headers: answer.headers,
          body: Buffer.concat(chunks)
        })
        const h = { ...changed.headers }
        delete h['content-length']
        delete h['transfer-encoding']
        res.writeHead(changed.status, { ...h, 'content-length': String(changed.body.length) })
        res.end(changed.body)
      })
    }
  )
  out.on('error', () => res.destroy())
  req.pipe(out)
}

async function listen(server: Server, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, resolve)
  })
  return `${host}:${(server.address() as AddressInfo).port}`
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise<void>(resolve => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
}

/** The proxy in front of `registry` (HOST:PORT on loopback), on 127.0.0.1. */
export async function startHostileProxy(
  registry: string,
  rules: HostileRule[]
): Promise<HostileServer> {
  const events: string[] = []
  const fired = new Map<HostileRule, number>()
  const server = createServer((req, res) => {
    const rule = rules.find(
      r =>
        (!r.method || r.method === req.method) &&
        r.path.test(req.url ?? '') &&
        (r.times === undefined || (fired.get(r) ?? 0) < r.times)
    )
    if (!rule) return forward(registry, req, res)
    fired.set(rule, (fired.get(rule) ?? 0) + 1)
    events.push(`${req.method} ${req.url}`)
    if (rule.respond) return rule.respond(req, res)
    forward(registry, req, res, { path: rule.to?.(req.url ?? '/'), rewrite: rule.rewrite })
  })
  const address = await listen(server, '127.0.0.1')
  return { address, events, stop: closer(server) }
}

/**
 * Another origin for uploads (`host` 127.0.0.2 or 127.0.0.1): records what arrives, forwards it
 * to the registry with `authorization` of its own (never the client's).
 */
export async function startUploadHost(
  registry: string,
  authorization: string,
  host = '127.0.0.2'
): Promise<UploadHost> {
  const seen: UploadHost['seen'] = []
  const events: string[] = []
  const server = createServer((req, res) => {
    seen.push({
      method: req.method ?? '',
      path: req.url ?? '',
      authorization: req.headers.authorization ?? '-'
    })
    events.push(`${req.method} ${req.url}`)
    const headers = { ...req.headers, authorization }
    forward(registry, req, res, { headers })
  })
  const address = await listen(server, host)
  return { address, events, seen, stop: closer(server) }
}

/**
 * A body that does not end: `chunk` again and again, without Content-Length, until the client
 * goes away or `most` bytes were sent (so that a client without a limit is stopped by the test's
 * bound, not by the machine's memory). Calls `sent` with the bytes sent when it stops.
 */
export function endless(
  res: ServerResponse,
  options: {
    status?: number
    contentType?: string
    head?: string
    chunk?: string
    most?: number
    sent?: (bytes: number) => void
  } = {}
): void {
  const chunk = Buffer.from(options.chunk ?? '"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",'.repeat(2000))
  const most = options.most ?? 512 * 1024 * 1024
  res.writeHead(options.status ?? 200, {
    'content-type': options.contentType ?? 'application/json'
  })
  let sent = 0
  const done = (): void => {
    options.sent?.(sent)
    options.sent = undefined
  }
  res.on('close', done)
  if (options.head) {
    res.write(options.head)
    sent += options.head.length
  }
  const pump = (): void => {
    while (sent < most) {
      sent += chunk.length
      if (!res.write(chunk)) return void res.once('drain', pump)
    }
    res.end()
    done()
  }
  pump()
}
