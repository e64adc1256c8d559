/**
 * A hostile registry (issue 21, items 3, 4, 5 and the TLS part of 7): a proxy of our own in front of
 * the real htpasswd registry (__tests__/support/hostile-proxy.ts) that names other hosts in upload
 * Locations, redirects the PUT that finishes an upload, answers with endless and oversized bodies,
 * injects workflow commands into tag names, and a port that never answers a TLS hello; and an image
 * whose config carries workflow commands in its platform, read by merge-digests.
 *
 * Each test was run against the client before the fix first; the comment above it says how that
 * one failed.
 */
import { afterAll, describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { Socket, createServer } from 'node:net'
import * as path from 'node:path'
import { MEDIA_TYPES } from '../../src/oci/media-types.js'
import { RegistryClient } from '../../src/registry/client.js'
import {
  endless,
  startHostileProxy,
  startUploadHost,
  type HostileRule,
  type HostileServer
} from '../support/hostile-proxy.js'
import {
  buildKitPushes,
  enginePushesBuilds,
  e2eEnv,
  inputsFor,
  nonce,
  parseFileCommand,
  pushImageByDigest,
  Runner,
  skopeoInspect
} from './harness.js'

const env = e2eEnv()
/** A test of the action's own upload: where BuildKit pushes the build instead, skipped. */
const ownUpload = buildKitPushes ? it.skip : it
const OWNER = 'octo-org' // from the runner's GITHUB_REPOSITORY Octo-Org/Hello-World
const BASIC = 'Basic ' + Buffer.from(`${env.user}:${env.password}`).toString('base64')
const MB = 1024 * 1024

const servers: HostileServer[] = []
afterAll(async () => {
  for (const s of servers.splice(0)) await s.stop()
})
async function keep<T extends HostileServer>(server: Promise<T>): Promise<T> {
  const s = await server
  servers.push(s)
  return s
}

/** A workspace whose image has one fresh layer (so its upload happens). */
function project(): Runner {
  const runner = new Runner()
  runner.write('Dockerfile', 'FROM scratch\nCOPY blob.bin /blob.bin\n')
  writeFileSync(path.join(runner.workspace, 'blob.bin'), randomBytes(256 * 1024))
  return runner
}

function inputs(registry: string, name: string, tags = 'latest'): Record<string, string> {
  // On the classic store a buildx build is pushed by the engine (produce/way.ts): these tests are
  // about the action's own upload, which a build without buildx takes there.
  const own: Record<string, string> = enginePushesBuilds ? { buildx: 'false' } : {}
  return { ...inputsFor({ ...env, registry }, name), tags, push: 'true', ...own }
}

/** The step's digest output is what the registry itself (not the proxy) serves under `tag`. */
function expectPublished(main: { code: number; out: string }, runner: Runner, name: string): void {
  if (main.code !== 0) {
    const errors = main.out.split('\n').filter(l => l.startsWith('::error::'))
    throw new Error(`the main step failed (exit ${main.code}):\n${errors.join('\n')}`)
  }
  const { digest } = parseFileCommand(readFileSync(runner.files.output, 'utf8'))
  const served = JSON.parse(skopeoInspect(env, `${env.registry}/${OWNER}/${name}:latest`)) as {
    Digest: string
  }
  expect(digest).toBe(served.Digest)
}

/** The path and query of an upload Location (absolute or relative), on another origin. */
function elsewhere(location: string, origin: string): string {
  const url = new URL(location, 'http://registry.invalid')
  return `http://${origin}${url.pathname}${url.search}`
}

/** POST …/blobs/uploads/ answered with a Location on `origin` (the upload host). */
function locationOn(origin: string): HostileRule {
  return {
    method: 'POST',
    path: /\/blobs\/uploads\/(\?|$)/,
    rewrite: answer =>
      answer.status === 202 && answer.headers.location
        ? {
            ...answer,
            headers: { ...answer.headers, location: elsewhere(answer.headers.location, origin) }
          }
        : answer
  }
}

describe('credentials go only to the origin that asked for them (#21 item 3)', () => {
  // Before the fix: the upload host got `Authorization: Basic …` (user:token) on the PUT, on
  // 127.0.0.2 and on another port of 127.0.0.1 alike.
  it.each([
    ['127.0.0.2', 'another host'],
    ['127.0.0.1', 'another port']
  ])(
    'an upload Location on %s (%s) gets the upload without Authorization',
    async host => {
      const upload = await keep(startUploadHost(env.registry, BASIC, host))
      const proxy = await keep(startHostileProxy(env.registry, [locationOn(upload.address)]))
      const runner = project()
      const name = `hostile/location-${nonce()}`
      const main = await runner.mainAsync(inputs(proxy.address, name))
      expect(upload.seen.filter(s => s.method === 'PUT').length).toBeGreaterThan(0)
      expect(upload.seen.filter(s => s.authorization !== '-')).toEqual([])
      expectPublished(main, runner, name)
    },
    240_000
  )

  // Before the fix: the step failed with "PUT blob upload on …: 307 http_307".
  // The action's own upload (a build BuildKit pushes follows BuildKit's rules: on the containerd
  // store this runs where the action uploads, the classic-store lane; docs/buildkit-push.md).
  ownUpload(
    'a 307 on the PUT that finishes an upload is followed, the body sent again, no Authorization to the other port',
    async () => {
      const upload = await keep(startUploadHost(env.registry, BASIC, '127.0.0.1'))
      const proxy = await keep(
        startHostileProxy(env.registry, [
          {
            method: 'PUT',
            path: /\/blobs\/uploads\/.*digest=/,
            times: 1,
            respond: (req, res) => {
              req.resume()
              req.on('end', () => {
                res.writeHead(307, { location: elsewhere(req.url ?? '/', upload.address) })
                res.end()
              })
            }
          }
        ])
      )
      const runner = project()
      const name = `hostile/redirect-${nonce()}`
      const main = await runner.mainAsync(inputs(proxy.address, name))
      expect(proxy.events.filter(e => e.startsWith('PUT '))).toHaveLength(1)
      expect(upload.seen.map(s => `${s.method} ${s.authorization}`)).toEqual(['PUT -'])
      expectPublished(main, runner, name)
    },
    240_000
  )
})

/** The highest RSS of this process while `run` runs, above what it was before, in MiB. */
async function peakGrowth<T>(
  run: () => Promise<T>
): Promise<{ result: T; mib: number; ms: number }> {
  global.gc?.()
  const base = process.memoryUsage().rss
  let peak = base
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10)
  const t0 = Date.now()
  try {
    const result = await run()
    return { result, mib: (peak - base) / MB, ms: Date.now() - t0 }
  } finally {
    clearInterval(timer)
    peak = Math.max(peak, process.memoryUsage().rss)
  }
}

describe('bodies read into memory are bounded on the stream (#21 item 4)', () => {
  const repository = `${OWNER}/hostile-bodies`
  const client = (registry: string): RegistryClient =>
    new RegistryClient({ registry, username: env.user, password: env.password })
  const most = 256 * MB

  // Before the fix, each of these read the whole 256 MiB into memory (RSS up by more than 500
  // MiB for the tag list) before failing on the JSON, or for the config, not at all.
  it.each<[string, HostileRule, (c: RegistryClient) => Promise<unknown>, RegExp]>([
    [
      'an endless tag list',
      {
        method: 'GET',
        path: /\/tags\/list/,
        respond: (_q, r) => endless(r, { most, head: '{"tags":[' })
      },
      c => c.listTags(repository),
      /tag list .*more than 4 MiB/
    ],
    [
      'an oversized manifest',
      {
        method: 'GET',
        path: /\/manifests\/big$/,
        respond: (_q, r) =>
          endless(r, {
            most,
            head: '{"schemaVersion":2,"x":[',
            contentType: MEDIA_TYPES.ociManifest
          })
      },
      c => c.getManifest(repository, 'big'),
      /manifest .*more than 4 MiB/
    ],
    [
      'an endless config blob (chunked: no Content-Length to check)',
      {
        method: 'GET',
        path: /\/blobs\/sha256:/,
        respond: (_q, r) => endless(r, { most, head: '{"x":[' })
      },
      c => c.getBlob(repository, `sha256:${'0'.repeat(64)}`),
      /blob sha256:0+ .*more than 4 MiB/
    ],
    [
      'an endless error body',
      {
        method: 'GET',
        path: /\/manifests\/missing$/,
        respond: (_q, r) =>
          endless(r, {
            most,
            status: 404,
            head: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"'
          })
      },
      c => c.getManifest(repository, 'missing'),
      /404 http_404.*error body .*more than 64 KiB/
    ]
  ])(
    '%s: the read fails fast with a message naming the limit, in bounded memory',
    async (_what, rule, read, message) => {
      const proxy = await keep(startHostileProxy(env.registry, [rule]))
      const { result, mib, ms } = await peakGrowth(() =>
        read(client(proxy.address)).then(
          () => undefined,
          e => e as Error
        )
      )
      expect(proxy.events.length).toBeGreaterThan(0)
      expect(result?.message).toMatch(message)
      expect(mib).toBeLessThan(64)
      console.log(`${_what}: ${result?.message} (RSS +${mib.toFixed(0)} MiB, ${ms} ms)`)
    },
    120_000
  )

  it('an endless token response: the same', async () => {
    const rules: HostileRule[] = []
    const proxy = await keep(startHostileProxy(env.registry, rules))
    rules.push(
      {
        method: 'GET',
        path: /^\/token/,
        respond: (_q, r) => endless(r, { most, head: '{"token":"' })
      },
      {
        path: /^\/v2\//,
        respond: (req, res) => {
          req.resume()
          res.writeHead(401, {
            'www-authenticate': `Bearer realm="http://${proxy.address}/token",service="hostile"`
          })
          res.end()
        }
      }
    )
    const { result, mib } = await peakGrowth(() =>
      client(proxy.address)
        .getManifest(repository, 'latest')
        .then(
          () => undefined,
          e => e as Error
        )
    )
    expect(result?.message).toMatch(/token .*more than 64 KiB/)
    expect(mib).toBeLessThan(64)
  }, 120_000)
})

/** Lines of the step's output that start a workflow command carrying an injected marker. */
function forged(out: string): string[] {
  return out.split('\n').filter(l => /::[a-z-]+::FORGED|##\[/.test(l))
}

describe('nothing a registry says becomes a workflow command (#21 item 5)', () => {
  const INJECTED = [
    'x\n::error::FORGED-1 annotation\n::add-mask::FORGED-2',
    'y\u001b[31mFORGED-3\r::stop-commands::FORGED-4'
  ]

  // Before the fix: "… (learnt from octo-org/…:x" then a line "::error::FORGED-1 annotation", a
  // line "::add-mask::FORGED-2", and ESC[31m in the log.
  // What the action's own upload learns from the tag list (a BuildKit push reads no tag list).
  ownUpload(
    'tag names from tags/list ("learnt from …")',
    async () => {
      const name = `hostile/tags-${nonce()}`
      const first = project()
      const v1 = await first.mainAsync(inputs(env.registry, name, 'v1'))
      expect(v1.code).toBe(0)
      const proxy = await keep(
        startHostileProxy(env.registry, [
          {
            method: 'GET',
            path: /\/tags\/list/,
            rewrite: a => ({
              ...a,
              body: Buffer.from(JSON.stringify({ name: `${OWNER}/${name}`, tags: INJECTED }))
            })
          },
          {
            path: /\/manifests\/[^/]*FORGED/,
            to: p => p.replace(/\/manifests\/[^/?]*/, '/manifests/v1')
          }
        ])
      )
      const second = project()
      const main = await second.mainAsync(inputs(proxy.address, name, 'v2'))
      expect(proxy.events.some(e => e.includes('FORGED'))).toBe(true)
      expect(forged(main.out)).toEqual([])
      expect(main.out).toMatch(/learnt from [^\n]*FORGED-1/)
      expect(main.out).not.toContain('\u001b')
      expect(main.code).toBe(0)
    },
    300_000
  )

  // Before the fix: "Platforms: linux" then a line "::error::FORGED-5/amd64…", and the index
  // carrying that platform was pushed.
  it('platform strings of an image config (merge-digests): refused, naming the digest and field', async () => {
    const name = `hostile/platforms-${nonce()}`
    const repository = `${OWNER}/${name}`
    const client = new RegistryClient({
      registry: env.registry,
      username: env.user,
      password: env.password
    })
    const { digest } = await pushImageByDigest(env, repository, {
      architecture: 'amd64',
      os: 'linux\n::error::FORGED-5',
      variant: 'v1\u001b[31mFORGED-6'
    })
    const main = await new Runner().mainAsync({
      ...inputsFor(env, name),
      'merge-digests': digest,
      tags: 'never'
    })
    expect(forged(main.out)).toEqual([])
    expect(main.out).not.toContain('\u001b')
    expect(main.code).toBe(1)
    const errors = main.out.split('\n').filter(l => l.startsWith('::error::'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(digest)
    expect(errors[0]).toMatch(/\bos\b/)
    expect(await client.headManifest(repository, 'never')).toBeUndefined()
  }, 240_000)
})

describe('a port that never answers a TLS hello (#21 item 7)', () => {
  // Before the fix: every request waited 5 s for a TLS answer first (one handshake per request).
  it('is tried for TLS once per run and host, then spoken to over HTTP', async () => {
    const [host, port] = [env.registry.split(':')[0], Number(env.registry.split(':')[1])]
    let hellos = 0
    const silent = createServer((socket: Socket) => {
      socket.on('error', () => undefined)
      socket.once('data', (first: Buffer) => {
        if (first[0] === 0x16) {
          hellos++ // a TLS ClientHello: never answered (the socket stays open until the client goes)
          return
        }
        const out = new Socket()
        out.on('error', () => socket.destroy())
        out.connect(port, host, () => {
          out.write(first)
          socket.pipe(out).pipe(socket)
        })
      })
    })
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
    servers.push({
      address: '',
      events: [],
      stop: () =>
        new Promise<void>(resolve => {
          silent.close(() => resolve())
        })
    })
    const address = `127.0.0.1:${(silent.address() as { port: number }).port}`
    const repository = `${OWNER}/hostile-silent-tls`
    // Two clients, as one run has (the login check and the push), several requests each.
    for (let i = 0; i < 2; i++) {
      const client = new RegistryClient({
        registry: address,
        username: env.user,
        password: env.password
      })
      expect(await client.verifyCredentials()).toBe(true)
      expect(await client.headManifest(repository, 'absent')).toBeUndefined()
      expect(await client.listTags(repository)).toEqual([])
    }
    expect(hellos).toBe(1)
  }, 120_000)
})
