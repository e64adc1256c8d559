/**
 * Test code: an HTTP proxy on loopback in front of a real registry that fails a share of the
 * requests on purpose: 503, 429 (with Retry-After: 1), or a dropped connection, picked by a seeded
 * random generator, so a run's faults can be told and repeated. Loopback only.
 */
import {
  createServer,
  request,
  type IncomingMessage,
  type Server,
  type ServerResponse
} from 'node:http'
import type { AddressInfo } from 'node:net'

export type Fault = '503' | '429' | 'drop'

export interface FaultProxy {
  address: string
  stats: { requests: number; faults: Record<Fault, number> }
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

export async function startFaultProxy(
  target: string,
  options: { rate: number; seed: number; kinds?: Fault[] }
): Promise<FaultProxy> {
  const kinds = options.kinds ?? ['503', '429', 'drop']
  const random = seeded(options.seed)
  const [host, port] = [
    target.slice(0, target.lastIndexOf(':')),
    Number(target.slice(target.lastIndexOf(':') + 1))
  ]
  const stats = { requests: 0, faults: { '503': 0, '429': 0, drop: 0 } as Record<Fault, number> }

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const upstream = request(
      { host, port, method: req.method, path: req.url, headers: req.headers },
      up => {
        res.writeHead(up.statusCode ?? 502, up.headers)
        up.pipe(res)
      }
    )
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  }

  const server: Server = createServer((req, res) => {
    stats.requests++
    if (random() < options.rate) {
      const fault = kinds[Math.floor(random() * kinds.length)]
      stats.faults[fault]++
      if (fault === 'drop') {
        req.socket.destroy()
        return
      }
      req.resume() // read and drop the body
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
      return
    }
    forward(req, res)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stats,
    stop: () =>
      new Promise(resolve => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
