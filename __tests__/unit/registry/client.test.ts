import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { RegistryClient, isLoopback } from '../../../src/registry/client.js'
import { RegistryError } from '../../../src/registry/errors.js'
import { parseChallenge } from '../../../src/registry/auth.js'
import { DEFAULT_POLICY } from '../../../src/util/retry.js'
import { mapLimit } from '../../../src/util/concurrency.js'
import { putUnderEveryTag, tagTheRest } from '../../../src/publish/tags.js'
import { resolveNames } from '../../../src/plan/names.js'
import { tempDir } from '../../support/temp-dirs.js'

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
  it('asks /v2/ once and a token once when the login check, the push token and a pull start together', async () => {
    seen.length = 0
    const client = new RegistryClient({ registry, username: 'u', password: 'good' })
    const pullPush = 'repository:o/i:pull,push'
    await Promise.all([
      client.authorize([pullPush]),
      client.authorize(['repository:o/i:pull']),
      client.authorize(['repository:o/i:pull']),
      client.ping()
    ])
    const asked = seen.map(s => s.split(' ').slice(0, 2).join(' '))
    expect(asked.filter(a => a === 'GET /v2/')).toHaveLength(1)
    // The pull,push token serves the pull requests: one token request in all.
    expect(asked.filter(a => a.startsWith('GET /token'))).toEqual([
      'GET /token?service=test&scope=repository%3Ao%2Fi%3Apull%2Cpush'
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
    const once = await new RegistryClient({
      registry: `127.0.0.1:${port}`,
      retry: { ...DEFAULT_POLICY, retries: 0 }
    })
      .getManifest('o/i', 'x')
      .catch(e => e)
    expect(once.message).toMatch(
      new RegExp(
        `failed after 1 attempt .*: cannot reach 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`
      )
    )
    // Connection refused is transient: retried, with the waits between attempts.
    const waits: number[] = []
    const retried = await new RegistryClient({
      registry: `127.0.0.1:${port}`,
      sleep: async ms => {
        waits.push(ms)
      }
    })
      .getManifest('o/i', 'x')
      .catch(e => e)
    expect(waits).toHaveLength(3)
    expect(retried.message).toMatch(/failed after 4 attempts .*\(retries: 3\).*ECONNREFUSED/)
  })
})

describe('tags without re-push', () => {
  const names = (tags: string[]) =>
    resolveNames({
      registry,
      registryType: 'container',
      owner: 'o',
      repository: '',
      imageName: 'i',
      tags,
      contextRepository: '',
      serverUrl: ''
    })
  /** A client that records calls; `putAnswer` says what digest the registry answers a PUT with. */
  function fakeClient(putAnswer: (tag: string) => string | undefined, headAnswer = digest) {
    const calls: string[] = []
    const client = {
      getManifest: async (repo: string, ref: string) => {
        calls.push(`GET ${repo}:${ref}`)
        return { digest, mediaType: 'application/vnd.oci.image.manifest.v1+json', bytes: manifest }
      },
      putManifest: async (repo: string, ref: string, bytes: Buffer, type: string) => {
        calls.push(`PUT ${repo}:${ref} ${type} ${bytes.equals(manifest)}`)
        return putAnswer(ref)
      },
      headManifest: async (repo: string, ref: string) => {
        calls.push(`HEAD ${repo}:${ref}`)
        return { digest: headAnswer, mediaType: '', size: 0 }
      }
    }
    return { calls, client: client as unknown as RegistryClient }
  }

  const pushed = {
    digest,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    bytes: manifest
  }

  it('PUTs the same bytes under every tag after the first, one request each, then reads every tag back', async () => {
    const { calls, client } = fakeClient(() => digest)
    const m = await tagTheRest(client, names(['1', '2', '3']), pushed)
    expect(m.digest).toBe(digest)
    expect(calls.sort()).toEqual([
      'HEAD o/i:1',
      'HEAD o/i:2',
      'HEAD o/i:3',
      'PUT o/i:2 application/vnd.oci.image.manifest.v1+json true',
      'PUT o/i:3 application/vnd.oci.image.manifest.v1+json true'
    ])
  })
  it('putUnderEveryTag: the first tag alone first (a new repository), or every tag at once', async () => {
    /** The PUTs under way when each PUT starts. */
    const overlap = async (firstAlone: boolean) => {
      let running = 0
      const seenRunning: number[] = []
      const { client } = fakeClient(() => digest)
      const put = client.putManifest.bind(client)
      client.putManifest = async (...args: Parameters<typeof put>) => {
        seenRunning.push(running++)
        await new Promise(resolve => setTimeout(resolve, 5))
        running--
        return put(...args)
      }
      const type = 'application/vnd.oci.image.manifest.v1+json'
      const m = await putUnderEveryTag(client, names(['1', '2', '3']), manifest, type, {
        firstAlone
      })
      expect(m.digest).toBe(digest)
      return seenRunning
    }
    expect(await overlap(true)).toEqual([0, 0, 1])
    expect(await overlap(false)).toEqual([0, 1, 2])
  })
  it('one tag: read back (a concurrent job may have pushed it since)', async () => {
    const { calls, client } = fakeClient(() => digest)
    expect((await tagTheRest(client, names(['latest']), pushed)).digest).toBe(digest)
    expect(calls).toEqual(['HEAD o/i:latest'])
  })
  it('fails naming both digests when the first tag serves another image (a concurrent job)', async () => {
    const { client } = fakeClient(() => digest, 'sha256:theirs')
    await expect(tagTheRest(client, names(['latest']), pushed)).rejects.toThrow(
      new RegExp(
        `this job PUT the manifest ${digest}, but a HEAD .* \\(latest → sha256:theirs\\)\\. Either another job .* or the registry`
      )
    )
  })
  it('reads a tag back with HEAD when the registry does not answer the PUT with a digest', async () => {
    const { calls, client } = fakeClient(() => undefined)
    await tagTheRest(client, names(['1', '2']), pushed)
    expect(calls).toContain('HEAD o/i:2')
  })
  it('fails when a tag resolves to another manifest', async () => {
    const { client } = fakeClient(tag => (tag === '3' ? 'sha256:other' : digest))
    await expect(tagTheRest(client, names(['1', '2', '3']), pushed)).rejects.toThrow(
      /do not all resolve to sha256:[0-9a-f]+ .*\(3 → sha256:other\)/
    )
  })
  it('runs at most `limit` at a time, keeping the order of results', async () => {
    let running = 0
    let peak = 0
    const out = await mapLimit([5, 1, 3, 2, 4], 2, async n => {
      peak = Math.max(peak, ++running)
      await new Promise(r => setTimeout(r, n))
      running--
      return n * 10
    })
    expect(out).toEqual([50, 10, 30, 20, 40])
    expect(peak).toBe(2)
  })
})

describe('uploading a blob from a file (push-by-digest layers)', () => {
  it('streams the file in the PUT, and opens it again when the registry asks for a fresh token', async () => {
    const { writeFileSync } = await import('node:fs')
    const path = await import('node:path')
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 7, 'x')
    const blobDigest = 'sha256:' + createHash('sha256').update(bytes).digest('hex')
    const file = path.join(tempDir('blob-'), 'layer')
    writeFileSync(file, bytes)

    const log: string[] = []
    let puts = 0
    const upload = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', c => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks)
        log.push(`${req.method} ${req.url?.split('?')[0]} ${body.length}`)
        const url = new URL(req.url ?? '/', 'http://x')
        if (req.method === 'HEAD') res.writeHead(404).end()
        else if (req.method === 'POST') res.writeHead(202, { Location: '/upload/1' }).end()
        // The token expired while the upload was under way: answer with a challenge.
        else if (puts++ === 0) res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="r"' }).end()
        else {
          const ok =
            url.searchParams.get('digest') === blobDigest &&
            'sha256:' + createHash('sha256').update(body).digest('hex') === blobDigest &&
            req.headers['content-length'] === String(bytes.length)
          res.writeHead(ok ? 201 : 400).end()
        }
      })
    })
    await new Promise<void>(resolve => upload.listen(0, '127.0.0.1', resolve))
    try {
      const client = new RegistryClient({
        registry: `127.0.0.1:${(upload.address() as AddressInfo).port}`,
        username: 'u',
        password: 'p'
      })
      const how = await client.uploadBlob('o/i', { file, digest: blobDigest, size: bytes.length })
      expect(how).toBe('uploaded')
      expect(log).toEqual([
        `HEAD /v2/o/i/blobs/${blobDigest} 0`,
        'POST /v2/o/i/blobs/uploads/ 0',
        `PUT /upload/1 ${bytes.length}`,
        `PUT /upload/1 ${bytes.length}`
      ])
    } finally {
      await new Promise(resolve => upload.close(resolve))
    }
  })
})
