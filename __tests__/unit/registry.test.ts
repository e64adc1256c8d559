import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { RegistryClient, RegistryError, isLoopback, parseChallenge } from '../../src/registry.js'
import { verifyPushedDigest } from '../../src/verify.js'
import { resolveNames } from '../../src/naming.js'

describe('WWW-Authenticate', () => {
  it('parses a ghcr.io-style Bearer challenge', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/i:pull"'
      )
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:o/i:pull' }
    })
  })
  it('parses Basic, unquoted values and escapes', () => {
    expect(parseChallenge('Basic realm="a \\"b\\"", charset=UTF-8')).toEqual({
      scheme: 'basic',
      params: { realm: 'a "b"', charset: 'UTF-8' }
    })
  })
  it('knows loopback registries', () => {
    expect(['localhost:5000', '127.0.0.1:1', '[::1]:5000'].every(isLoopback)).toBe(true)
    expect(['ghcr.io', '127.example.com', 'localhost.example.com'].some(isLoopback)).toBe(false)
  })
})

/** A tiny registry on loopback with Bearer token auth, serving one manifest per tag. */
const manifest = Buffer.from(
  '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
)
const digest = 'sha256:' + createHash('sha256').update(manifest).digest('hex')
const config = Buffer.from('{"os":"linux","architecture":"amd64"}')
const configDigest = 'sha256:' + createHash('sha256').update(config).digest('hex')
let server: Server
let registry = ''
const seen: string[] = []
let lieAboutDigest = false

function handle(req: IncomingMessage, res: ServerResponse): void {
  seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? '-'}`)
  const url = new URL(req.url ?? '/', 'http://x')
  if (url.pathname === '/token') {
    const ok = req.headers.authorization === 'Basic ' + Buffer.from('u:good').toString('base64')
    res.writeHead(ok ? 200 : 401, { 'Content-Type': 'application/json' })
    res.end(
      ok
        ? JSON.stringify({ token: `T-${url.searchParams.get('scope')}` })
        : JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] })
    )
    return
  }
  if (req.headers.authorization !== 'Bearer T-repository:o/i:pull') {
    res.writeHead(401, {
      'WWW-Authenticate': `Bearer realm="http://${registry}/token",service="test",scope="repository:o/i:pull"`,
      'Content-Type': 'application/json'
    })
    res.end(
      JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] })
    )
    return
  }
  if (url.pathname.startsWith('/v2/o/i/blobs/')) {
    // The config blob, or (for the "tampered" digest) other bytes than the digest promises.
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' })
    res.end(url.pathname.endsWith(configDigest) ? config : Buffer.from('tampered'))
    return
  }
  if (url.pathname === '/v2/o/i/manifests/missing') {
    res.writeHead(404, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }))
    return
  }
  res.writeHead(200, {
    'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
    'Docker-Content-Digest': lieAboutDigest ? 'sha256:' + '0'.repeat(64) : digest
  })
  res.end(manifest)
}

beforeAll(async () => {
  server = createServer(handle)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  registry = `127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  await new Promise(resolve => server.close(resolve))
})

describe('registry client (Bearer token flow)', () => {
  it('answers the challenge, caches the token per scope, and hashes the bytes', async () => {
    seen.length = 0
    const client = new RegistryClient({ registry, username: 'u', password: 'good' })
    const m = await client.getManifest('o/i', 'latest')
    expect(m).toMatchObject({ digest, mediaType: 'application/vnd.oci.image.manifest.v1+json' })
    await client.getManifest('o/i', '1.0')
    expect(seen).toEqual([
      'GET /v2/o/i/manifests/latest -',
      `GET /token?service=test&scope=repository%3Ao%2Fi%3Apull Basic ${Buffer.from('u:good').toString('base64')}`,
      'GET /v2/o/i/manifests/latest Bearer T-repository:o/i:pull',
      'GET /v2/o/i/manifests/1.0 Bearer T-repository:o/i:pull'
    ])
  })
  it('reports bad credentials with the registry’s code', async () => {
    const err = await new RegistryClient({ registry, username: 'u', password: 'bad' })
      .getManifest('o/i', 'latest')
      .catch(e => e)
    expect(err).toBeInstanceOf(RegistryError)
    expect(err).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
  })
  it('reports an unknown manifest', async () => {
    const err = await new RegistryClient({ registry, username: 'u', password: 'good' })
      .getManifest('o/i', 'missing')
      .catch(e => e)
    expect(err).toMatchObject({ status: 404, code: 'MANIFEST_UNKNOWN' })
    expect(err.message).toMatch(/404 manifest_unknown: manifest unknown/)
  })
  it('refuses a Docker-Content-Digest that does not match the bytes', async () => {
    lieAboutDigest = true
    try {
      const err = await new RegistryClient({ registry, username: 'u', password: 'good' })
        .getManifest('o/i', 'latest')
        .catch(e => e)
      expect(err).toMatchObject({ code: 'DIGEST_INVALID' })
    } finally {
      lieAboutDigest = false
    }
  })
  it('fetches a blob and checks its bytes against the digest', async () => {
    const client = new RegistryClient({ registry, username: 'u', password: 'good' })
    expect((await client.getBlob('o/i', configDigest)).equals(config)).toBe(true)
    const other = 'sha256:' + 'e'.repeat(64)
    await expect(client.getBlob('o/i', other)).rejects.toMatchObject({ code: 'DIGEST_INVALID' })
    await expect(client.getBlob('o/i', '../../etc')).rejects.toThrow(/unsupported digest/)
  })
  it('says when the registry cannot be reached', async () => {
    const closed = createServer()
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise(resolve => closed.close(resolve))
    const err = await new RegistryClient({ registry: `127.0.0.1:${port}` })
      .getManifest('o/i', 'x')
      .catch(e => e)
    expect(err).toMatchObject({ code: 'NETWORK' })
    expect(err.message).toBe(`cannot reach 127.0.0.1:${port} (ECONNREFUSED)`)
  })
})

describe('digest read-back', () => {
  const client = () => new RegistryClient({ registry, username: 'u', password: 'good' })
  const names = () =>
    resolveNames({
      registry,
      registryType: 'container',
      owner: 'o',
      repository: '',
      imageName: 'i',
      tags: ['1.0', 'latest'],
      contextRepository: '',
      serverUrl: ''
    })
  it('returns the digest every tag serves', async () => {
    expect(await verifyPushedDigest(names(), [digest, digest], client())).toBe(digest)
  })
  it('fails when docker push reported another digest', async () => {
    await expect(
      verifyPushedDigest(names(), ['sha256:' + '1'.repeat(64)], client())
    ).rejects.toThrow(/docker push reported sha256:1+ but .* serves/)
  })
  it('fails when the tags resolve to different manifests', async () => {
    const fake = {
      getManifest: async (_: string, tag: string) => ({
        digest: tag === 'latest' ? 'sha256:bbb' : 'sha256:aaa',
        mediaType: '',
        bytes: Buffer.alloc(0)
      })
    } as unknown as RegistryClient
    await expect(verifyPushedDigest(names(), [], fake)).rejects.toThrow(
      /do not all resolve to one image .*1.0 → sha256:aaa, latest → sha256:bbb/
    )
  })
})
