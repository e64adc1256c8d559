import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { commonFlags } from '../../../src/docker/build-args.js'
import { Docker, type ExecFn } from '../../../src/docker/cli.js'
import { CACHE_TAG, checkCacheInput, parseCacheMode } from '../../../src/plan/cache.js'
import {
  BuildCache,
  INLINE_CACHE_KEY,
  builderExportsCache,
  decideCache,
  findPreviousVersion,
  type CacheFacts,
  type PreviousVersion
} from '../../../src/produce/cache-source.js'
import type { RegistryClient } from '../../../src/registry/client.js'
import { RegistryError } from '../../../src/registry/errors.js'
import { UserError } from '../../../src/util/errors.js'
import { plainBuildRequest } from '../../support/build-request.js'
import { itMaps } from '../../support/table.js'

const sha = (s: string): string => 'sha256:' + createHash('sha256').update(s).digest('hex')
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'

describe('the cache input', () => {
  itMaps('reads %j as %s', parseCacheMode, [
    ['', 'auto'],
    ['auto', 'auto'],
    [' Registry ', 'registry'],
    ['gha', 'gha'],
    ['OFF', 'off']
  ])

  it('refuses another value, naming the four', () => {
    expect(() => parseCacheMode('inline')).toThrow(UserError)
    expect(() => parseCacheMode('inline')).toThrow(/not one of auto, registry, gha, off/)
  })

  const base = {
    cache: 'auto' as const,
    build: { cacheFrom: [], cacheTo: [] },
    sourceImage: '',
    mergeDigests: [],
    tags: []
  }
  const entry = { type: 'inline' as const, attrs: [] }

  it('lets auto give way to cache-from / cache-to, and to a source-image', () => {
    expect(() =>
      checkCacheInput({ ...base, build: { cacheFrom: [], cacheTo: [entry] } })
    ).not.toThrow()
    expect(() => checkCacheInput({ ...base, sourceImage: 'app:1' })).not.toThrow()
  })

  it('refuses registry or gha next to the user’s own cache entries', () => {
    expect(() =>
      checkCacheInput({ ...base, cache: 'registry', build: { cacheFrom: [], cacheTo: [entry] } })
    ).toThrow(/cache registry and cache-to both say where the build cache goes/)
    expect(() =>
      checkCacheInput({
        ...base,
        cache: 'gha',
        build: { cacheFrom: [{ type: 'gha', attrs: [] }], cacheTo: [] }
      })
    ).toThrow(/cache gha and cache-from/)
  })

  it('refuses registry or gha where nothing is built, and the cache tag as an image tag', () => {
    expect(() => checkCacheInput({ ...base, cache: 'gha', sourceImage: 'app:1' })).toThrow(
      /source-image publishes an existing image/
    )
    expect(() => checkCacheInput({ ...base, cache: 'registry', mergeDigests: [{}] })).toThrow(
      /merge-digests/
    )
    expect(() => checkCacheInput({ ...base, cache: 'registry', tags: [CACHE_TAG] })).toThrow(
      /also one of the tags/
    )
  })
})

/** A repository: tags and digests → manifests, blobs; what was asked, in order. */
function fakeRegistry(content: {
  manifests: Record<string, object>
  blobs?: Record<string, object>
}) {
  const manifests = new Map<string, Buffer>()
  const tags = new Map<string, string>()
  for (const [ref, body] of Object.entries(content.manifests)) {
    const bytes = Buffer.from(JSON.stringify(body))
    manifests.set(sha(bytes.toString()), bytes)
    if (!ref.startsWith('sha256:')) tags.set(ref, sha(bytes.toString()))
  }
  const blobs = new Map(
    Object.entries(content.blobs ?? {}).map(([k, v]) => [k, Buffer.from(JSON.stringify(v))])
  )
  const asked: string[] = []
  const bytesOf = (ref: string): Buffer | undefined => manifests.get(tags.get(ref) ?? ref)
  const client = {
    registry: 'registry.test',
    authorize: async () => {
      asked.push('authorize')
    },
    listTags: async () => {
      asked.push('tags/list')
      return [...tags.keys()]
    },
    headManifest: async (_repo: string, ref: string) => {
      asked.push(`HEAD ${ref}`)
      const m = bytesOf(ref)
      return m ? { digest: sha(m.toString()), mediaType: 'x', size: m.length } : undefined
    },
    getManifest: async (_repo: string, ref: string) => {
      asked.push(`GET ${ref}`)
      const bytes = bytesOf(ref)
      if (!bytes) throw new RegistryError(`GET ${ref}: 404`, 404, 'MANIFEST_UNKNOWN')
      return { digest: sha(bytes.toString()), mediaType: 'x', bytes }
    },
    getBlob: async (_repo: string, digest: string) => blobs.get(digest)!
  }
  return { client: client as unknown as RegistryClient, asked }
}

function image(layers: [string, number][], config: string) {
  return {
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'c', digest: config, size: 1 },
    layers: layers.map(([digest, size]) => ({ mediaType: 'l', digest, size }))
  }
}
const WITH_CACHE = { rootfs: { diff_ids: [] }, [INLINE_CACHE_KEY]: 'e30=' }
const WITHOUT = { rootfs: { diff_ids: [] } }

describe('findPreviousVersion', () => {
  it('takes the first tag being pushed that the repository holds, and reads its inline cache', async () => {
    const { client, asked } = fakeRegistry({
      manifests: {
        latest: image([['sha256:a', 10]], 'sha256:c1'),
        '1.0.0': image([], 'sha256:c2')
      },
      blobs: { 'sha256:c1': WITH_CACHE, 'sha256:c2': WITHOUT }
    })
    const r = await findPreviousVersion(client, 'o/app', ['1.1.0', 'latest'])
    expect('found' in r && r.found).toMatchObject({ tag: 'latest', inlineCache: true })
    expect('found' in r && [...r.found.layers]).toEqual([['sha256:a', 10]])
    expect(asked[0]).toBe('authorize') // before the requests that would meet the first 401
    expect(asked).not.toContain('tags/list')
    // The tags being pushed are read with GET: the one found is not asked for again.
    expect(asked.filter(a => a === 'GET latest')).toHaveLength(1)
    expect(asked.some(a => a.startsWith('HEAD'))).toBe(false)
  })

  it('else the highest version (never the cache tag), from the tag list', async () => {
    const { client } = fakeRegistry({
      manifests: {
        [CACHE_TAG]: image([], 'sha256:c0'),
        '1.2.0': image([['sha256:b', 5]], 'sha256:c1'),
        '1.10.0': image([['sha256:c', 7]], 'sha256:c2')
      },
      blobs: { 'sha256:c0': WITH_CACHE, 'sha256:c1': WITH_CACHE, 'sha256:c2': WITHOUT }
    })
    const r = await findPreviousVersion(client, 'o/app', ['2.0.0'])
    expect('found' in r && r.found).toMatchObject({ tag: '1.10.0', inlineCache: false })
  })

  it('looks through an index: every platform’s layers, attestations left out', async () => {
    const amd = image([['sha256:x', 3]], 'sha256:c1')
    const arm = image([['sha256:y', 4]], 'sha256:c2')
    const att = image([['sha256:z', 9]], 'sha256:c3')
    const d = (m: object) => sha(JSON.stringify(m))
    const { client } = fakeRegistry({
      manifests: {
        [d(amd)]: amd,
        [d(arm)]: arm,
        [d(att)]: att,
        latest: {
          mediaType: OCI_INDEX,
          manifests: [
            {
              mediaType: OCI_MANIFEST,
              digest: d(amd),
              size: 1,
              platform: { os: 'linux', architecture: 'amd64' }
            },
            {
              mediaType: OCI_MANIFEST,
              digest: d(arm),
              size: 1,
              platform: { os: 'linux', architecture: 'arm64' }
            },
            {
              mediaType: OCI_MANIFEST,
              digest: d(att),
              size: 1,
              platform: { os: 'unknown', architecture: 'unknown' }
            }
          ]
        }
      },
      blobs: { 'sha256:c1': WITHOUT, 'sha256:c2': WITH_CACHE, 'sha256:c3': WITHOUT }
    })
    const r = await findPreviousVersion(client, 'o/app', ['latest'])
    expect('found' in r && r.found.inlineCache).toBe(true)
    expect('found' in r && [...r.found.layers.keys()].sort()).toEqual(['sha256:x', 'sha256:y'])
  })

  it('says none for an empty repository, and unreadable (with why) when a request fails', async () => {
    expect(
      await findPreviousVersion(fakeRegistry({ manifests: {} }).client, 'o/app', ['latest'])
    ).toEqual({
      none: true
    })
    const { client } = fakeRegistry({ manifests: {} })
    ;(client as unknown as { getManifest: () => Promise<never> }).getManifest = async () => {
      throw new RegistryError('GET: 503 unavailable', 503, 'HTTP_503')
    }
    expect(await findPreviousVersion(client, 'o/app', ['latest'])).toEqual({
      unreadable: 'GET: 503 unavailable'
    })
  })

  it('ignores tag names outside the tag grammar (they would reach the log)', async () => {
    const { client } = fakeRegistry({ manifests: {} })
    ;(client as unknown as { listTags: () => Promise<string[]> }).listTags = async () => [
      '::warning::x',
      '<b>'
    ]
    expect(await findPreviousVersion(client, 'o/app', ['1.0.0'])).toEqual({ none: true })
  })
})

const previous: PreviousVersion = {
  tag: 'latest',
  digest: 'sha256:prev',
  inlineCache: true,
  layers: new Map([['sha256:a', 100]])
}
const facts: CacheFacts = {
  mode: 'auto',
  builder: 'buildx',
  image: 'ghcr.io/o/app',
  push: true,
  noCache: false,
  userGave: false,
  previous: { found: previous },
  cacheService: false
}

describe('decideCache', () => {
  it('auto: the previous version by digest, and an inline cache into the image', () => {
    const d = decideCache(facts)
    expect(d.cacheFrom).toEqual([
      { type: 'registry', attrs: [['ref', 'ghcr.io/o/app@sha256:prev']] }
    ])
    expect(d.cacheTo).toEqual([{ type: 'inline', attrs: [] }])
    expect(d.notice).toBeUndefined()
    expect(d.line).toMatch(/from the previous version ghcr.io\/o\/app:latest \(sha256:prev\)/)
  })

  it('auto on a self-hosted runner whose engine built the previous version: its own build cache', () => {
    const d = decideCache({ ...facts, engineHasPrevious: true })
    expect(d.cacheFrom).toEqual([])
    expect(d.cacheTo).toEqual([{ type: 'inline', attrs: [] }])
    expect(d.previous).toBe(previous)
    expect(d.notice).toBeUndefined()
    expect(d.line).toMatch(/^Build cache: this self-hosted runner's own \(its engine holds/)
    // no-cache still reads nothing and says so.
    expect(decideCache({ ...facts, engineHasPrevious: true, noCache: true }).line).toMatch(
      /none read \(no-cache\)/
    )
  })

  it('auto: one notice and no cache source for a first publish, a foreign version, an unreadable one', () => {
    const first = decideCache({ ...facts, previous: { none: true } })
    expect(first.cacheFrom).toEqual([])
    expect(first.cacheTo).toEqual([{ type: 'inline', attrs: [] }])
    expect(first.notice).toMatch(/^First publish of ghcr.io\/o\/app/)
    const foreign = decideCache({
      ...facts,
      previous: { found: { ...previous, inlineCache: false } }
    })
    expect(foreign.cacheFrom).toEqual([])
    expect(foreign.notice).toMatch(/ghcr.io\/o\/app:latest carries no build cache/)
    const down = decideCache({ ...facts, previous: { unreadable: '503' } })
    expect(down.cacheFrom).toEqual([])
    expect(down.notice).toMatch(/could not be read \(503\)/)
  })

  it('the user’s cache-from / cache-to win, off adds nothing, no-cache reads nothing', () => {
    for (const d of [
      decideCache({ ...facts, userGave: true }),
      decideCache({ ...facts, mode: 'off' })
    ]) {
      expect(d.cacheFrom).toEqual([])
      expect(d.cacheTo).toEqual([])
      expect(d.notice).toBeUndefined()
    }
    const fresh = decideCache({ ...facts, noCache: true })
    expect(fresh.cacheFrom).toEqual([])
    expect(fresh.cacheTo).toEqual([{ type: 'inline', attrs: [] }])
  })

  it('the classic builder: nothing, and no notice of its own (the builder’s notice is the one)', () => {
    for (const mode of ['auto', 'registry', 'gha'] as const) {
      const d = decideCache({ ...facts, mode, builder: 'classic' })
      expect(d.cacheFrom).toEqual([])
      expect(d.cacheTo).toEqual([])
      expect(d.notice).toBeUndefined()
      expect(d.line).toMatch(/none \(the classic builder/)
    }
  })

  it('registry: mode=max under the cache tag, where the builder exports caches', () => {
    const d = decideCache({ ...facts, mode: 'registry', exports: { can: true, why: 'x' } })
    const ref = `ghcr.io/o/app:${CACHE_TAG}`
    expect(d.cacheFrom).toEqual([{ type: 'registry', attrs: [['ref', ref]] }])
    expect(d.cacheTo).toEqual([
      {
        type: 'registry',
        attrs: [
          ['ref', ref],
          ['mode', 'max'],
          ['ignore-error', 'true']
        ]
      }
    ])
    expect(d.line).toContain(ref)
    expect(d.summary).toContain(ref)
    // push false: read, never write
    expect(
      decideCache({ ...facts, mode: 'registry', push: false, exports: { can: true, why: 'x' } })
        .cacheTo
    ).toEqual([])
  })

  it('registry / gha where the builder cannot: inline from the previous version, one notice', () => {
    const why = 'the docker driver on the classic image store'
    const d = decideCache({ ...facts, mode: 'registry', exports: { can: false, why } })
    expect(d.cacheFrom).toEqual(decideCache(facts).cacheFrom)
    expect(d.cacheTo).toEqual([{ type: 'inline', attrs: [] }])
    expect(d.notice).toContain(`cache: registry needs a builder that exports a cache, but ${why}`)
    // with a first publish too: still one notice
    const first = decideCache({
      ...facts,
      mode: 'gha',
      exports: { can: false, why },
      previous: { none: true }
    })
    expect(first.notice).toMatch(/cache: gha needs .* First publish/)
    // the built-in BuildKit (no buildx)
    expect(decideCache({ ...facts, mode: 'registry', builder: 'buildkit' }).notice).toMatch(
      /built-in BuildKit/
    )
  })

  it('gha: the runner’s cache service, or inline without it', () => {
    const yes = decideCache({
      ...facts,
      mode: 'gha',
      cacheService: true,
      exports: { can: true, why: 'x' }
    })
    expect(yes.cacheFrom).toEqual([{ type: 'gha', attrs: [['scope', 'ghcr.io/o/app']] }])
    expect(yes.cacheTo[0]).toEqual({
      type: 'gha',
      attrs: [
        ['scope', 'ghcr.io/o/app'],
        ['mode', 'max'],
        ['ignore-error', 'true']
      ]
    })
    const no = decideCache({
      ...facts,
      mode: 'gha',
      cacheService: false,
      exports: { can: true, why: 'x' }
    })
    expect(no.cacheTo).toEqual([{ type: 'inline', attrs: [] }])
    expect(no.notice).toMatch(/cache service is not there/)
  })
})

function fakeDocker(answers: Record<string, string | Error>): { docker: Docker; ran: string[][] } {
  const ran: string[][] = []
  const docker = {
    run: async (args: string[]) => {
      ran.push(args)
      const a = answers[args.slice(0, 2).join(' ')]
      if (a instanceof Error) throw a
      return { stdout: a ?? '', stderr: '', exitCode: 0 }
    }
  }
  return { docker: docker as unknown as Docker, ran }
}

describe('builderExportsCache', () => {
  /** A Docker whose buildx inspect prints `inspect` (or fails), and docker info `info`. */
  const withBuildx = (inspect: string | Error, info = '') => {
    const ran: string[] = []
    const fn: ExecFn = async (_c, args) => {
      ran.push(args.join(' '))
      if (args[0] === 'info') return { exitCode: 0, stdout: info, stderr: '' }
      if (inspect instanceof Error) return { exitCode: 1, stdout: '', stderr: inspect.message }
      return { exitCode: 0, stdout: inspect, stderr: '' }
    }
    return { docker: new Docker('/c', fn), ran }
  }

  it('any driver but docker exports; docker only on the containerd image store', async () => {
    const container = withBuildx('Name: b\nDriver: docker-container\n')
    expect(await builderExportsCache(container.docker, 'b')).toEqual({
      can: true,
      why: 'the buildx docker-container driver'
    })
    expect(container.ran).toEqual(['buildx inspect b'])
    const snapshotter = withBuildx(
      'Name: default\nDriver: docker\n',
      '[["driver-type","io.containerd.snapshotter.v1"]]'
    )
    expect((await builderExportsCache(snapshotter.docker, '')).can).toBe(true)
    const labelled = withBuildx(
      'Name: default\nDriver: docker\nLabels:\n org.mobyproject.buildkit.worker.snapshotter: overlayfs\n'
    )
    expect((await builderExportsCache(labelled.docker, '')).can).toBe(true)
    expect(labelled.ran).toEqual(['buildx inspect'])
    const classic = withBuildx(
      'Name: default\nDriver: docker\n',
      '[["Backing Filesystem","extfs"]]'
    )
    expect(await builderExportsCache(classic.docker, '')).toEqual({
      can: false,
      why: 'the docker driver on the classic image store'
    })
    const broken = withBuildx(new Error('ERROR: Cannot connect to the Docker daemon'))
    expect((await builderExportsCache(broken.docker, '')).can).toBe(false)
  })
})

const REVISION = 'org.opencontainers.image.revision'

describe('BuildCache', () => {
  /** The previous version under latest: two layers, with an inline cache. */
  const PREVIOUS = image(
    [
      ['sha256:a', 10],
      ['sha256:b', 20]
    ],
    'sha256:c1'
  )
  const request = plainBuildRequest
  const options = (client: RegistryClient) => ({
    mode: 'auto' as const,
    client,
    docker: fakeDocker({}).docker,
    builder: '',
    image: 'registry.test/o/app',
    repository: 'o/app',
    tags: ['latest'],
    push: true,
    noCache: false,
    userGave: false,
    env: {}
  })

  it('gives the build the previous version by digest and an inline export, with no credential in argv', async () => {
    const { client } = fakeRegistry({
      manifests: {
        latest: PREVIOUS
      },
      blobs: { 'sha256:c1': WITH_CACHE }
    })
    const cache = new BuildCache(options(client))
    const req = request()
    await cache.apply('buildx', req)
    const digest = sha(JSON.stringify(PREVIOUS))
    expect(commonFlags(req, 'buildx')).toEqual([
      '--cache-from',
      `type=registry,ref=registry.test/o/app@${digest}`,
      '--cache-to',
      'type=inline'
    ])
    // The engine's built-in BuildKit: the reference alone, and the inline switch as a build-arg.
    const builtIn = request()
    await cache.apply('buildkit', builtIn)
    expect(commonFlags(builtIn, 'buildkit')).toEqual([
      '--cache-from',
      `registry.test/o/app@${digest}`,
      '--build-arg',
      'BUILDKIT_INLINE_CACHE'
    ])
  })

  it('names the cache source for the prefetch, with the commits its configs were built from', async () => {
    const labelled = {
      ...WITH_CACHE,
      config: { Labels: { 'org.opencontainers.image.revision': 'abc123', other: 'x' } }
    }
    const { client } = fakeRegistry({
      manifests: { latest: PREVIOUS },
      blobs: { 'sha256:c1': labelled }
    })
    const cache = new BuildCache(options(client))
    await cache.apply('buildx', request())
    expect(cache.cacheSource()).toEqual({
      reference: `registry.test/o/app@${sha(JSON.stringify(PREVIOUS))}`,
      configs: ['sha256:c1'],
      revisions: ['abc123']
    })
    // A config without the label (or with one that is not a string) names no commit.
    const odd = fakeRegistry({
      manifests: { latest: PREVIOUS },
      blobs: { 'sha256:c1': { ...WITH_CACHE, config: { Labels: { [REVISION]: 7 } } } }
    })
    const unlabelled = new BuildCache(options(odd.client))
    await unlabelled.apply('buildx', request())
    expect(unlabelled.cacheSource()?.revisions).toEqual([])
  })

  it('reports the layers reused from the previous version and the size of the new ones', async () => {
    const published = image(
      [
        ['sha256:a', 10],
        ['sha256:n', 2048]
      ],
      'sha256:c2'
    )
    const { client, asked } = fakeRegistry({
      manifests: {
        latest: PREVIOUS,
        [sha(JSON.stringify(published))]: published
      },
      blobs: { 'sha256:c1': WITH_CACHE }
    })
    const cache = new BuildCache(options(client))
    await cache.apply('buildx', request())
    const digest = sha(JSON.stringify(published))
    const text = await cache.report(digest)
    const said =
      '1 of 2 layers reused from <code>latest</code>; new layers: 1, 2.0 KiB (2,048 bytes'
    expect(text).toContain(said)
    expect(asked.at(-1)).toBe(`GET ${digest}`)
    // The manifest the push read back spares the GET, and says the same.
    const before = asked.length
    expect(await cache.report(digest, Buffer.from(JSON.stringify(published)))).toContain(said)
    expect(asked).toHaveLength(before)
    // Nothing pushed: what the cache was, without a comparison.
    expect(await cache.report('')).toBe('inline, from <code>registry.test/o/app:latest</code>')
  })

  it('a self-hosted runner whose engine has the previous version reads no cache from the registry', async () => {
    const manifests = { latest: PREVIOUS }
    const digest = sha(JSON.stringify(PREVIOUS))
    const asked: string[] = []
    let tagged = false
    const engine = new Docker('/c', async (_c, args) => {
      asked.push(args.join(' '))
      return args.at(-1) === digest || (tagged && args.at(-1) === 'registry.test/o/app:latest')
        ? { exitCode: 0, stdout: `${digest}\n`, stderr: '' }
        : { exitCode: 1, stdout: '', stderr: 'Error: No such image' }
    })
    const run = async (env: Record<string, string>) => {
      const { client } = fakeRegistry({ manifests, blobs: { 'sha256:c1': WITH_CACHE } })
      const cache = new BuildCache({ ...options(client), docker: engine, env })
      const req = request()
      await cache.apply('buildx', req)
      return req
    }
    const own = await run({ RUNNER_ENVIRONMENT: 'self-hosted' })
    expect(own.cacheFrom).toEqual([])
    expect(own.cacheTo).toEqual([{ type: 'inline', attrs: [] }])
    expect(asked).toContain(`image inspect --format {{.Id}} ${digest}`)
    // Asked beside the lookup: what the tag being pushed names in the engine.
    expect(asked).toContain('image inspect --format {{.Id}} registry.test/o/app:latest')
    asked.length = 0
    const hosted = await run({ RUNNER_ENVIRONMENT: 'github-hosted' })
    expect(hosted.cacheFrom).toHaveLength(1)
    expect(asked).toEqual([])
    // The tag still names the previous version in the engine: no further question.
    tagged = true
    expect((await run({ RUNNER_ENVIRONMENT: 'self-hosted' })).cacheFrom).toEqual([])
    expect(asked).toEqual(['image inspect --format {{.Id}} registry.test/o/app:latest'])
    // Nor does the build wait for the previous version's config (read for its inline cache).
    const { client } = fakeRegistry({ manifests, blobs: { 'sha256:c1': WITH_CACHE } })
    client.getBlob = () => new Promise<Buffer>(() => undefined)
    const env = { RUNNER_ENVIRONMENT: 'self-hosted' }
    const waiting = new BuildCache({ ...options(client), docker: engine, env })
    const req = request()
    await waiting.apply('buildx', req)
    expect(req.cacheFrom).toEqual([])
  })

  it('does not look anything up when the user gave cache entries or the cache is off', async () => {
    const { client, asked } = fakeRegistry({ manifests: {} })
    const cache = new BuildCache({ ...options(client), userGave: true })
    const req = request()
    await cache.apply('buildx', req)
    expect(asked).toEqual([])
    expect(req.cacheFrom).toBeUndefined()
  })
})
