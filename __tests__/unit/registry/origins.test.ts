/**
 * Credentials only to the origin that asked for them, redirects as the distribution spec allows,
 * and bodies bounded on the stream: a Basic-auth registry and a "storage" server on other ports of
 * loopback, each recording the Authorization it gets.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { RegistryClient } from '../../../src/registry/client.js'

const BASIC = 'Basic ' + Buffer.from('u:pw-0123456789').toString('base64')
const seen: { server: string; line: string; auth: string }[] = []
let registry = ''
let storage = ''
const servers: Server[] = []

async function start(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handle)
  servers.push(server)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return `127.0.0.1:${(server.address() as AddressInfo).port}`
}

function record(server: string, req: IncomingMessage): void {
  seen.push({ server, line: `${req.method} ${req.url}`, auth: req.headers.authorization ?? '-' })
}

beforeAll(async () => {
  storage = await start((req, res) => {
    record('storage', req)
    req.resume()
    req.on('end', () => {
      res.writeHead(req.method === 'PUT' ? 201 : 200, { 'content-type': 'application/json' })
      res.end('{"schemaVersion":2}')
    })
  })
  registry = await start((req, res) => {
    record('registry', req)
    req.resume()
    if (req.headers.authorization !== BASIC) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="r"' })
      return void res.end()
    }
    const url = req.url ?? '/'
    if (url.endsWith('/manifests/moved')) {
      res.writeHead(307, { location: `http://${storage}/m/moved` })
      return void res.end()
    }
    if (url.endsWith('/manifests/here')) {
      res.writeHead(302, { location: '/v2/o/i/manifests/there' })
      return void res.end()
    }
    if (url.endsWith('/manifests/there')) {
      res.writeHead(200, { 'content-type': 'application/json' })
      return void res.end('{"schemaVersion":2}')
    }
    if (url.endsWith('/manifests/put302')) {
      res.writeHead(302, { location: `http://${storage}/put` })
      return void res.end()
    }
    if (url.endsWith('/manifests/loop')) {
      res.writeHead(307, { location: url })
      return void res.end()
    }
    if (url.startsWith('/v2/o/i/blobs/uploads/?mount=')) {
      res.writeHead(202, { location: `http://${storage}/upload/1` })
      return void res.end()
    }
    res.writeHead(200)
    res.end()
  })
})
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections()
    await new Promise(resolve => s.close(resolve))
  }
})

const client = (): RegistryClient =>
  new RegistryClient({ registry, username: 'u', password: 'pw-0123456789' })

describe('Authorization goes only to the registry’s origin', () => {
  it('a GET redirected to another port follows without Authorization; same origin keeps it', async () => {
    seen.length = 0
    const c = client()
    expect((await c.getManifest('o/i', 'moved')).bytes.toString()).toBe('{"schemaVersion":2}')
    expect((await c.getManifest('o/i', 'here')).bytes.toString()).toBe('{"schemaVersion":2}')
    expect(seen.filter(s => s.server === 'storage')).toEqual([
      { server: 'storage', line: 'GET /m/moved', auth: '-' }
    ])
    expect(seen.find(s => s.line.endsWith('/manifests/there'))?.auth).toBe(BASIC)
  })

  it('the DELETE of a cancelled mount on another origin goes without Authorization', async () => {
    seen.length = 0
    expect(await client().mountBlob('o/i', `sha256:${'a'.repeat(64)}`, 'o/other')).toBe(false)
    expect(seen.filter(s => s.server === 'storage')).toEqual([
      { server: 'storage', line: 'DELETE /upload/1', auth: '-' }
    ])
  })

  it('a 302 on a PUT is refused with a message, not followed without its body', async () => {
    seen.length = 0
    const error = await client()
      .putManifest('o/i', 'put302', Buffer.from('{}'), 'application/json')
      .then(
        () => new Error('no error'),
        (e: unknown) => e as Error
      )
    expect(error.message).toMatch(
      /302 redirect to http:\/\/127\.0\.0\.1:\d+\/put\. Only a 307 or 308/
    )
    expect(seen.some(s => s.server === 'storage')).toBe(false)
  })

  it('a redirect loop ends after 5 hops with a message', async () => {
    const error = await client()
      .getManifest('o/i', 'loop')
      .then(
        () => new Error('no error'),
        (e: unknown) => e as Error
      )
    expect(error.message).toMatch(/more than 5 redirects/)
  })
})
