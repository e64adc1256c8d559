/**
 * Test code: an HTTP proxy on loopback in front of a real registry that breaks requests on purpose.
 *
 *   - `rate`: a share of all requests fails (503, 429 with Retry-After: 1, a connection dropped
 *     before the request goes on, reset at a random point of its body, or after the registry acted
 *     on it: the answer lost), picked by a seeded random generator, so a run's faults can be told
 *     and repeated;
 *   - `rules`: targeted faults on the requests they match (method, path, body size), each for a
 *     bounded number of matches:
 *       reset        forward `afterBytes` of the request body, then reset both connections (a
 *                    connection lost in the middle of a layer upload);
 *       lose-answer  forward the whole request, let the registry act on it, then drop the
 *                    connection instead of passing its answer on (a lost `201 Created`);
 *       hold         stop forwarding after `afterBytes` of the body (0: before the request is sent
 *                    on) until `until()` settles — e.g. restart the registry there, or let another
 *                    job go first;
 *       notify       forward as usual and call `onResponse(status)` when the answer comes;
 *       rewrite      forward as usual, then pass on `rewrite(body)` instead of the registry's
 *                    answer body (a registry that serves other bytes than it was asked for);
 *       503 | 429 | drop  the same as the random faults, on chosen requests;
 *   - `bytesPerSecond`: every request body goes no faster than this (a slow uplink), with
 *     back-pressure: nothing is buffered beyond a socket's own buffers.
 *
 * Loopback only (it refuses any other target, and listens on 127.0.0.1), seeded, and bounded (a rule
 * fires `times` times; random faults stop after `maxFaults`). `events` tells what it did, in order.
 */
import { spawn } from 'node:child_process'
import {
  closeSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync
} from 'node:fs'
import {
  createServer,
  get,
  request,
  type IncomingMessage,
  type Server,
  type ServerResponse
} from 'node:http'
import type { AddressInfo } from 'node:net'
import * as path from 'node:path'

/**
 * Random faults: an error answer, a connection dropped before the request is passed on, reset in
 * the middle of its body (at a random point), or after the registry acted on it (answer lost).
 */
export type Fault = '503' | '429' | 'drop' | 'reset' | 'lose-answer'

export interface FaultRule {
  /** Which requests: the method, and a pattern of the path (with its query). */
  method?: string | RegExp
  path?: RegExp
  /** Only requests declaring at least this many body bytes (Content-Length). */
  minBytes?: number
  /** Only while this says so (e.g. after another request was seen). */
  when?: () => boolean
  /** Matching requests let through before the rule fires (default 0). */
  skip?: number
  /** How many matching requests it fires on (default 1). */
  times?: number
  action: 'hold' | 'notify' | 'rewrite' | Fault
  /** reset / hold: body bytes forwarded first (default 0). */
  afterBytes?: number
  /** hold: forwarding resumes when this settles. */
  until?: () => Promise<unknown>
  /** notify: told the status of the answer. */
  onResponse?: (status: number) => void
  /** rewrite: the body passed on instead of the registry's. */
  rewrite?: (body: Buffer) => Buffer
}

export interface FaultProxyOptions {
  /** Share of requests failed at random (0 = none). */
  rate?: number
  seed?: number
  kinds?: Fault[]
  /** Random faults stop after this many (default: no limit). */
  maxFaults?: number
  rules?: FaultRule[]
  /** Request bodies go no faster than this. */
  bytesPerSecond?: number
}

export interface FaultProxy {
  address: string
  stats: {
    requests: number
    faults: Record<Fault | 'hold', number>
    /** Request body bytes passed on to the registry. */
    forwardedBytes: number
  }
  /** What happened, in order: "reset PUT /v2/…/blobs/uploads/… after 1048576 bytes". */
  events: string[]
  stop: () => Promise<void>
}

/** mulberry32: small, seeded, good enough to pick faults. */
function seeded(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

function splitHostPort(target: string): { host: string; port: number } {
  const host = target.slice(0, target.lastIndexOf(':'))
  const port = Number(target.slice(target.lastIndexOf(':') + 1))
  if (!isLoopbackHost(host) || !port) {
    throw new Error(`the fault proxy only forwards to loopback HOST:PORT, not '${target}'`)
  }
  return { host, port }
}

const sleep = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms))

function sendError(res: ServerResponse, fault: '503' | '429'): void {
  res.writeHead(Number(fault), {
    'Content-Type': 'application/json',
    ...(fault === '429' ? { 'Retry-After': '1' } : {})
  })
  res.end(
    JSON.stringify({
      errors: [
        fault === '429'
          ? { code: 'TOOMANYREQUESTS', message: 'too many requests' }
          : { code: 'UNAVAILABLE', message: 'service unavailable' }
      ]
    })
  )
}

export async function startFaultProxy(
  target: string,
  options: FaultProxyOptions = {}
): Promise<FaultProxy> {
  const { host, port } = splitHostPort(target)
  const kinds = options.kinds ?? ['503', '429', 'drop']
  const random = seeded(options.seed ?? 1)
  const rate = options.rate ?? 0
  const rules = (options.rules ?? []).map(rule => ({ rule, seen: 0, fired: 0 }))
  const stats: FaultProxy['stats'] = {
    requests: 0,
    faults: { '503': 0, '429': 0, drop: 0, reset: 0, 'lose-answer': 0, hold: 0 },
    forwardedBytes: 0
  }
  const events: string[] = []
  let randomFaults = 0

  const matches = (rule: FaultRule, req: IncomingMessage): boolean => {
    const method = req.method ?? 'GET'
    if (typeof rule.method === 'string' && rule.method !== method) return false
    if (rule.method instanceof RegExp && !rule.method.test(method)) return false
    if (rule.path && !rule.path.test(req.url ?? '')) return false
    if (rule.minBytes && Number(req.headers['content-length'] ?? 0) < rule.minBytes) return false
    return rule.when?.() ?? true
  }

  /** The first rule that fires on this request, if any. */
  const ruleFor = (req: IncomingMessage): FaultRule | undefined => {
    for (const r of rules) {
      if (!matches(r.rule, req)) continue
      r.seen++
      if (r.seen <= (r.rule.skip ?? 0) || r.fired >= (r.rule.times ?? 1)) continue
      r.fired++
      return r.rule
    }
    return undefined
  }

  const what = (req: IncomingMessage): string => `${req.method} ${(req.url ?? '').split('?')[0]}`

  const forward = (req: IncomingMessage, res: ServerResponse, rule?: FaultRule): void => {
    const kill = (): void => {
      upstream.destroy()
      req.socket?.destroy()
    }
    const upstream = request(
      { host, port, method: req.method, path: req.url, headers: req.headers, agent: false },
      up => {
        rule?.onResponse?.(up.statusCode ?? 0)
        if (rule?.action === 'lose-answer') {
          stats.faults['lose-answer']++
          events.push(`lost the ${up.statusCode} answer to ${what(req)}`)
          up.resume()
          req.socket?.destroy()
          return
        }
        if (rule?.action === 'rewrite') {
          const chunks: Buffer[] = []
          up.on('data', (c: Buffer) => chunks.push(c))
          up.on('end', () => {
            const body = rule.rewrite!(Buffer.concat(chunks))
            events.push(`rewrote the answer to ${what(req)}`)
            res.writeHead(up.statusCode ?? 502, { ...up.headers, 'content-length': body.length })
            res.end(body)
          })
          return
        }
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
      }
    )
    upstream.on('error', () => req.socket?.destroy())
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy()
    })

    // The body, chunk by chunk: counted, paced, and cut or held where the rule says.
    const limit = rule?.action === 'reset' || rule?.action === 'hold' ? (rule.afterBytes ?? 0) : -1
    const started = Date.now()
    let sent = 0
    let ruleDone = limit < 0
    const pump = async (): Promise<void> => {
      const hold = async (): Promise<void> => {
        ruleDone = true
        if (rule!.action === 'reset') {
          stats.faults.reset++
          events.push(`reset ${what(req)} after ${sent} body bytes`)
          kill()
          throw new Error('reset')
        }
        stats.faults.hold++
        events.push(`held ${what(req)} after ${sent} body bytes`)
        await rule!.until?.().catch(() => undefined)
        events.push(`released ${what(req)}`)
      }
      if (!ruleDone && limit === 0) await hold()
      for await (const data of req as AsyncIterable<Buffer>) {
        let chunk = data
        while (chunk.length) {
          let part = chunk
          if (!ruleDone && sent + part.length >= limit) part = chunk.subarray(0, limit - sent)
          chunk = chunk.subarray(part.length)
          if (part.length) {
            sent += part.length
            stats.forwardedBytes += part.length
            if (!upstream.write(part)) {
              await new Promise<void>(resolve => {
                const done = (): void => {
                  upstream.off('drain', done)
                  upstream.off('close', done)
                  resolve()
                }
                upstream.on('drain', done)
                upstream.on('close', done)
              })
            }
            if (options.bytesPerSecond) {
              const due = started + (sent / options.bytesPerSecond) * 1000
              if (due > Date.now()) await sleep(due - Date.now())
            }
          }
          if (!ruleDone && sent >= limit) await hold()
          if (upstream.destroyed) throw new Error('upstream gone')
        }
      }
      upstream.end()
    }
    pump().catch(() => kill())
  }

  const server: Server = createServer((req, res) => {
    stats.requests++
    const rule = ruleFor(req)
    let fault: Fault | undefined
    if (rule && ['503', '429', 'drop'].includes(rule.action)) fault = rule.action as Fault
    else if (rule) {
      forward(req, res, rule)
      return
    } else if (
      !rule &&
      rate > 0 &&
      randomFaults < (options.maxFaults ?? Infinity) &&
      random() < rate
    ) {
      fault = kinds[Math.floor(random() * kinds.length)]
      randomFaults++
      const length = Number(req.headers['content-length'] ?? 0)
      if (fault === 'lose-answer' || (fault === 'reset' && length > 0)) {
        // Passed on, then broken: mid-body at a random point, or the answer lost.
        forward(req, res, { action: fault, afterBytes: Math.floor(random() * length) })
        return
      }
      if (fault === 'reset') fault = 'drop'
    }
    if (fault) {
      stats.faults[fault]++
      events.push(`${fault} ${what(req)}`)
      if (fault === 'drop') {
        req.socket?.destroy()
        return
      }
      req.resume() // read and drop the body
      sendError(res, fault as '503' | '429')
      return
    }
    forward(req, res)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    events,
    stop: () =>
      new Promise(resolve => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

/** Whether the test registry answers `GET /v2/` (with its 401: it is up). */
function registryAnswers(target: string): Promise<boolean> {
  const { host, port } = splitHostPort(target)
  return new Promise(resolve => {
    const req = get({ host, port, path: '/v2/', agent: false, timeout: 2000 }, res => {
      res.resume()
      resolve((res.statusCode ?? 0) > 0)
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => {
      req.destroy()
      resolve(false)
    })
  })
}

/**
 * Restarts the htpasswd registry of scripts/e2e-env.sh (the one at E2E_REGISTRY), keeping its port,
 * storage and secret: `scripts/e2e-env.sh restart-registry` when the script has it; else here, by
 * the pid in $E2E_DIR/registry.pid (checked to be that registry), TERM, then the same command line,
 * and the new pid written back so `e2e-env.sh stop` still finds it. Resolves once it answers again.
 */
export async function restartRegistry(
  options: {
    /**
     * Delete the upload sessions under way while it is down, as a registry whose sessions do not
     * survive a restart (or a new instance behind a load balancer) would have it.
     */
    forgetUploads?: boolean
  } = {},
  envScript = path.resolve(import.meta.dirname ?? '.', '../../scripts/e2e-env.sh')
): Promise<void> {
  const dir = process.env.E2E_DIR
  const target = process.env.E2E_REGISTRY
  if (!dir || !target) throw new Error('restartRegistry needs E2E_DIR and E2E_REGISTRY')
  if (!options.forgetUploads && /restart-registry\)/.test(readFileSync(envScript, 'utf8'))) {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(envScript, ['restart-registry'], { stdio: 'ignore' })
      child.on('error', reject)
      child.on('close', code =>
        code === 0 ? resolve() : reject(new Error(`restart-registry exited ${code}`))
      )
    })
  } else {
    const pidFile = path.join(dir, 'registry.pid')
    const pid = Number(readFileSync(pidFile, 'utf8').trim())
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
    const exe = readlinkSync(`/proc/${pid}/exe`)
    if (!/docker-registry|registry/.test(exe) || !argv.some(a => a.startsWith(dir + '/'))) {
      throw new Error(`pid ${pid} is not the registry of ${dir}`)
    }
    process.kill(pid, 'SIGTERM')
    const gone = (): boolean => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
        return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
      } catch {
        return true
      }
    }
    for (let i = 0; i < 200 && !gone(); i++) await sleep(50)
    if (!gone()) throw new Error(`the registry (pid ${pid}) did not stop within 10 s`)
    if (options.forgetUploads) forgetUploads(path.join(dir, 'registry-data'))
    const log = openSync(path.join(dir, 'registry.log'), 'a')
    const child = spawn(exe, argv.slice(1), { detached: true, stdio: ['ignore', log, log] })
    closeSync(log)
    child.unref()
    writeFileSync(pidFile, `${child.pid}\n`)
  }
  for (let i = 0; i < 300; i++) {
    if (await registryAnswers(target)) return
    await sleep(100)
  }
  throw new Error(`the registry at ${target} did not answer within 30 s of its restart`)
}

/** Deletes every `_uploads` folder (upload sessions) of a filesystem-backed registry's storage. */
function forgetUploads(root: string): void {
  const walk = (folder: string, depth: number): void => {
    if (depth > 12) return
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue
      const p = path.join(folder, entry.name)
      if (entry.name === '_uploads') rmSync(p, { recursive: true, force: true })
      else walk(p, depth + 1)
    }
  }
  walk(root, 0)
}
