/**
 * The BuildKit push of a build (one platform or several), the choice of the way, and the retries of
 * the push, with docker stubbed: this machine has no buildx plugin, so the argv docker would get and
 * the read-back through the registry are checked here (end to end: __tests__/e2e/buildkit-push.test.ts).
 */
import { tempDir } from '../../support/temp-dirs.js'
import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { Docker, type ExecFn } from '../../../src/docker/cli.js'
import {
  buildAndPush,
  ownUploadTakesOver,
  prefetchSkipped,
  pushFailure
} from '../../../src/produce/build.js'
import { chooseWay, engineHonoursUnpack } from '../../../src/produce/way.js'
import { DockerCommandError } from '../../../src/docker/errors.js'
import { checkedInputs } from '../../support/inputs.js'
import type { ActionInputs } from '../../../src/plan/action-inputs.js'
import { resolveMediaTypes } from '../../../src/plan/media-types.js'
import { resolveNames, type ImageNames } from '../../../src/plan/names.js'
import { buildDecisions } from '../../../src/plan/rules.js'
import { checkBuildxPush } from '../../../src/publish/buildx-push.js'
import { MEDIA_TYPES } from '../../../src/oci/media-types.js'
import { type RegistryClient } from '../../../src/registry/client.js'

/** The action's Docker config folder (build and push make their work folders in it). */
const CONFIG = tempDir('docker-config-')

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex')

interface Engine {
  hasBuildx?: boolean
  driver?: string
  store?: 'containerd' | 'classic'
  builders?: string[]
  /** buildx build answers, in turn (the last one repeats). */
  builds?: { exitCode: number; stderr?: string }[]
}

function stubDocker(metadata: Record<string, string>, engine: Engine = {}) {
  const { hasBuildx = true, driver = 'docker', store = 'containerd' } = engine
  const builders = engine.builders ?? ['default']
  const builds = [...(engine.builds ?? [{ exitCode: 0 }])]
  const calls: string[][] = []
  const fn: ExecFn = async (_command, argv) => {
    calls.push(argv)
    // `docker --context NAME …` asks another context's engine: the same stub answers.
    const args = argv[0] === '--context' ? argv.slice(2) : argv
    if (args[0] === 'buildx' && !hasBuildx) {
      // What the docker CLI says of a plugin it does not have.
      return { exitCode: 1, stdout: '', stderr: 'docker: unknown command: docker buildx\n' }
    }
    if (args[0] === 'buildx' && args[1] === 'version') {
      return { exitCode: 0, stdout: 'github.com/docker/buildx v0.29.1', stderr: '' }
    }
    if (args[0] === 'buildx' && args[1] === 'inspect') {
      const name = args[2] ?? 'default'
      return builders.includes(name)
        ? { exitCode: 0, stdout: `Name: ${name}\nDriver: ${driver}\n`, stderr: '' }
        : { exitCode: 1, stdout: '', stderr: `ERROR: no builder "${name}" found` }
    }
    if (args[0] === 'buildx' && args[1] === 'ls') {
      const table = builders.map(b => `${b}  ${driver}\n \\_ ${b}  running`).join('\n')
      return { exitCode: 0, stdout: `NAME/NODE DRIVER/ENDPOINT\n${table}\n`, stderr: '' }
    }
    if (args[0] === 'info') {
      const types =
        store === 'containerd' ? '[["driver-type","io.containerd.snapshotter.v1"]]' : '[]'
      return { exitCode: 0, stdout: types, stderr: '' }
    }
    if (args[0] === 'buildx' && args[1] === 'build') {
      const answer = builds.length > 1 ? builds.shift()! : builds[0]
      if (answer.exitCode === 0)
        writeFileSync(args[args.indexOf('--metadata-file') + 1], JSON.stringify(metadata))
      return { exitCode: answer.exitCode, stdout: '', stderr: answer.stderr ?? '' }
    }
    return { exitCode: 1, stdout: '', stderr: `unexpected docker ${args.join(' ')}` }
  }
  return { calls, docker: new Docker(CONFIG, fn) }
}

const FAST = { retries: 3, baseDelayMs: 1, maxDelayMs: 2, totalMs: 60_000 }

const names = (tags: string[]) =>
  resolveNames({
    registry: 'ghcr.io',
    registryType: 'auto',
    owner: 'o',
    repository: '',
    imageName: 'app',
    tags,
    allowNoTags: true,
    contextRepository: 'o/app',
    serverUrl: 'https://github.com'
  })
const inputs = (values: Record<string, string>) =>
  checkedInputs(values, { actor: '', repository: 'o/app', serverUrl: '' })
/** The plan's parts a build reads, decided as makePlan decides them. */
const planOf = (i: ActionInputs, n: ImageNames, push = true) => ({
  inputs: i,
  names: n,
  push,
  mediaTypes: resolveMediaTypes(i, n.registryType, n.registry),
  ...buildDecisions(i)
})
const LABELS = ['org.opencontainers.image.description=Hello']

/** buildAndPush with docker `docker`, the inputs `given`, tags `tags` and the LABELS. */
function buildWith(
  docker: Parameters<typeof buildAndPush>[0]['docker'],
  given: Record<string, string>,
  tags: string[],
  push: boolean,
  extra: Partial<Parameters<typeof buildAndPush>[0]> = {}
): ReturnType<typeof buildAndPush> {
  return buildAndPush(
    { docker, configDir: '/c', temp: '/t', ...extra },
    planOf(inputs(given), names(tags)),
    LABELS,
    push
  )
}

describe('buildAndPush', () => {
  it('several platforms: buildx pushes the index under the first tag, labels also as index annotations, no image ID', async () => {
    const d = stubDocker({ 'containerimage.digest': 'sha256:index' })
    const built = await buildWith(
      d.docker,
      { token: 't', platforms: 'linux/amd64,linux/arm64' },
      ['1.0', 'latest'],
      true
    )
    expect(built).toEqual({
      digest: 'sha256:index',
      imageId: '',
      builder: 'docker buildx build for linux/amd64,linux/arm64'
    })
    const build = d.calls.find(a => a[1] === 'build')!
    expect(build).toEqual(
      expect.arrayContaining([
        '--platform',
        'linux/amd64,linux/arm64',
        '--provenance=false',
        '--sbom=false',
        'type=image,name=ghcr.io/o/app:1.0,oci-mediatypes=true,push=true',
        '--label',
        LABELS[0],
        '--annotation',
        `index:${LABELS[0]}`
      ])
    )
    expect(build).not.toContain('--load')
    expect(build).not.toContain('--tag')
  })

  it('one platform, default inputs: no --platform, no attestations, OCI types, no index annotations; the image ID is the config', async () => {
    const d = stubDocker({
      'containerimage.digest': 'sha256:manifest',
      'containerimage.config.digest': 'sha256:config'
    })
    const built = await buildWith(d.docker, { token: 't' }, ['1.0'], true)
    expect(built).toEqual({
      digest: 'sha256:manifest',
      imageId: 'sha256:config',
      builder: 'docker buildx build'
    })
    const build = d.calls.find(a => a[1] === 'build')!
    expect(build).not.toContain('--platform')
    expect(build).not.toContain('--annotation')
    expect(build).not.toContain('--load')
    expect(build).toEqual(
      expect.arrayContaining([
        '--provenance=false',
        '--sbom=false',
        'type=image,name=ghcr.io/o/app:1.0,oci-mediatypes=true,push=true'
      ])
    )
  })

  it('media-types docker: oci-mediatypes=false; with provenance one platform gives an index (annotated)', async () => {
    const docker = stubDocker({ 'containerimage.digest': 'sha256:m' })
    await buildWith(docker.docker, { token: 't', 'media-types': 'docker' }, ['1.0'], true)
    expect(docker.calls.find(a => a[1] === 'build')).toContain(
      'type=image,name=ghcr.io/o/app:1.0,oci-mediatypes=false,push=true'
    )
    const d = stubDocker({ 'containerimage.digest': 'sha256:index' })
    await buildWith(
      d.docker,
      { token: 't', provenance: 'mode=max', 'push-by-digest': 'true' },
      [],
      true
    )
    const build = d.calls.find(a => a[1] === 'build')!
    expect(build).toEqual(
      expect.arrayContaining([
        '--provenance=mode=max',
        'type=image,name=ghcr.io/o/app,push-by-digest=true,name-canonical=true,oci-mediatypes=true,push=true',
        `index:${LABELS[0]}`
      ])
    )
  })

  it('push: false only builds (cacheonly output) and reports no digest', async () => {
    const d = stubDocker({})
    const built = await buildWith(
      d.docker,
      { platforms: 'linux/amd64,linux/arm64', push: 'false' },
      ['1.0'],
      false
    )
    expect(built.digest).toBeUndefined()
    expect(d.calls.find(a => a[1] === 'build')).toContain('type=cacheonly')
  })

  it('a transient failure of the push runs the same build again; a failed build step or a 403 does not', async () => {
    const reset = {
      exitCode: 1,
      stderr:
        'ERROR: failed to solve: failed to push ghcr.io/o/app:1.0: failed to copy: read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer\n'
    }
    const d = stubDocker(
      { 'containerimage.digest': 'sha256:m' },
      { builds: [reset, reset, { exitCode: 0 }] }
    )
    const built = await buildWith(d.docker, { token: 't' }, ['1.0'], true, { policy: FAST })
    expect(built.digest).toBe('sha256:m')
    const builds = d.calls.filter(a => a[1] === 'build')
    expect(builds).toHaveLength(3)
    const withoutMetadata = (a: string[]) => a.filter((_, i) => a[i - 1] !== '--metadata-file')
    expect(withoutMetadata(builds[2])).toEqual(withoutMetadata(builds[0]))

    const step = {
      exitCode: 1,
      stderr:
        'ERROR: failed to solve: process "/bin/sh -c make push" did not complete successfully: exit code: 2\n'
    }
    for (const failure of [
      step,
      {
        exitCode: 1,
        stderr:
          'ERROR: failed to solve: failed to push ghcr.io/o/app:1.0: unexpected status from PUT request: 403 Forbidden\n'
      }
    ]) {
      const once = stubDocker({}, { builds: [failure] })
      await expect(
        buildWith(once.docker, { token: 't' }, ['1.0'], true, { policy: FAST })
      ).rejects.toThrow(/docker buildx build failed/)
      expect(once.calls.filter(a => a[1] === 'build')).toHaveLength(1)
    }
  })

  it('gives up after the retries input, saying how often it tried', async () => {
    const d = stubDocker(
      {},
      { builds: [{ exitCode: 1, stderr: 'ERROR: failed to push x: 503 Service Unavailable\n' }] }
    )
    await expect(
      buildWith(d.docker, { token: 't' }, ['1.0'], true, { policy: { ...FAST, retries: 1 } })
    ).rejects.toThrow(/the push of docker buildx build failed after 2 attempts/)
  })
})

describe('pushFailure', () => {
  const failure = (detail: string) => new DockerCommandError('buildx build', 1, detail)
  it.each([
    ['ERROR: failed to solve: failed to push r/i:1: 429 Too Many Requests', true],
    [
      'ERROR: failed to copy: httpReadSeeker: failed open: unexpected status code https://r/v2/i/blobs/sha256:x: 502 Bad Gateway',
      true
    ],
    ['ERROR: pushing r/i:1 with docker: EOF', true],
    ['ERROR: Error response from daemon: Get "http://127.0.0.1:1/v2/": EOF', true],
    ['ERROR: failed to solve: failed to push r/i:1: denied: permission_denied', false],
    [
      'ERROR: failed to solve: process "/bin/sh -c curl push" did not complete successfully: exit code: 56',
      false
    ],
    ['ERROR: failed to solve: failed to read dockerfile: connection reset by peer', false]
  ])('%s: transient %s', (text, transient) => {
    expect(pushFailure(failure(text)).transient).toBe(transient)
  })
})

describe('ownUploadTakesOver', () => {
  it.each([
    [
      'the push of docker buildx build failed after 2 attempts …: ERROR: failed to do request: Head "https://r/v2/i/blobs/sha256:x": EOF',
      true
    ],
    [
      'docker buildx build failed (exit code 1): ERROR: failed to solve: failed to push r/i:1: unexpected status from HEAD request to http://r/v2/i/blobs/sha256:x: 401 Unauthorized',
      true
    ],
    [
      'docker buildx build failed (exit code 1): ERROR: failed to solve: failed to push r/i:1: 403 Forbidden',
      false
    ],
    [
      'docker buildx build failed (exit code 1): ERROR: failed to solve: failed to push r/i:1: denied: permission_denied: write_package',
      false
    ],
    [
      'docker buildx build failed (exit code 1): ERROR: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2',
      false
    ],
    [
      'docker buildx build failed (exit code 1): ERROR: failed to solve: failed to read dockerfile: EOF',
      false
    ]
  ])('%s: %s', (text, takesOver) => {
    expect(ownUploadTakesOver(new Error(text))).toBe(takesOver)
  })
})

describe('chooseWay', () => {
  const env = (d: ReturnType<typeof stubDocker>) => ({
    docker: d.docker,
    configDir: '/c',
    temp: '/t'
  })

  it('buildx present: BuildKit pushes, on the containerd store and with another driver', async () => {
    const way = await chooseWay(
      env(stubDocker({})),
      planOf(inputs({ token: 't' }), names(['1']), true)
    )
    expect(way).toMatchObject({ kind: 'buildkit', load: false })
    expect(way.why).toMatch(/^BuildKit pushes the build \(buildx present/)
    const container = stubDocker({}, { driver: 'docker-container', builders: ['ci'] })
    const loaded = await chooseWay(
      env(container),
      planOf(inputs({ token: 't', builder: 'ci', load: 'true' }), names(['1']), true)
    )
    expect(loaded).toMatchObject({ kind: 'buildkit', load: true })
    expect(container.calls).toContainEqual(['buildx', 'inspect', 'ci'])
  })

  it('the docker driver on the containerd store: the image stays packed unless load: true; the log says whether this engine honours it', async () => {
    const plan = (given: Record<string, string>) =>
      planOf(inputs({ token: 't', ...given }), names(['1']), true)
    const docker29 = await chooseWay({ ...env(stubDocker({})), engineVersion: '29.1.2' }, plan({}))
    expect(docker29).toMatchObject({ kind: 'buildkit', load: false, unpack: false })
    expect(docker29.why).toContain(
      'the docker driver also stores it in the engine, not unpacked (load: false)'
    )
    const docker28 = await chooseWay(
      { ...env(stubDocker({})), engineVersion: '28.5.2+dfsg4' },
      plan({})
    )
    expect(docker28).toMatchObject({ unpack: false })
    expect(docker28.why).toContain(
      'the docker driver also stores it in the engine, asked to leave it packed (load: false; Docker releases before 29.1 unpack it anyway)'
    )
    // load: true wants it ready to run; the classic store and other drivers have nothing to unpack.
    for (const way of [
      await chooseWay({ ...env(stubDocker({})), engineVersion: '29.1.2' }, plan({ load: 'true' })),
      await chooseWay(
        { ...env(stubDocker({}, { store: 'classic' })), engineVersion: '29.1.2' },
        plan({ 'media-types': 'docker' })
      ),
      await chooseWay(
        { ...env(stubDocker({}, { driver: 'docker-container' })), engineVersion: '29.1.2' },
        plan({})
      )
    ]) {
      expect(way).not.toHaveProperty('unpack')
      expect(way.why).not.toMatch(/unpack/)
    }
  })

  it.each([
    ['29.1.0', true],
    ['29.10.3', true],
    ['30.0.0', true],
    ['29.0.4', false],
    ['28.5.2+dfsg4', false],
    ['26.1.5+dfsg1', false],
    ['', false],
    ['dev', false]
  ])('engineHonoursUnpack(%p) is %p', (version, honours) => {
    expect(engineHonoursUnpack(version)).toBe(honours)
  })

  it('the docker driver on the classic store: the engine pushes, then the OCI manifest for OCI types; the engine push for Docker v2', async () => {
    const classic = { store: 'classic' as const }
    const oci = await chooseWay(
      env(stubDocker({}, classic)),
      planOf(inputs({ token: 't' }), names(['1']), true)
    )
    expect(oci).toMatchObject({ kind: 'own', builder: 'buildx', enginePushThenOci: true })
    expect(oci.why).toBe(
      'the selected builder (docker driver) on the classic image store builds into the engine, ' +
        'which pushes it (docker push: no docker save; it skips the layers it knows the registry ' +
        'holds); the action then writes the OCI image manifest over the same layers under every tag'
    )
    const annotated = await chooseWay(
      env(stubDocker({}, classic)),
      planOf(inputs({ token: 't', annotations: 'org.example.a=1' }), names(['1']), true)
    )
    expect(annotated).toMatchObject({ kind: 'own', enginePushThenOci: true })
    expect(annotated.why).toContain('OCI image manifest, with the annotations, over')
    // On the containerd store BuildKit pushes; nothing for the engine to do.
    const containerd = await chooseWay(
      env(stubDocker({})),
      planOf(inputs({ token: 't' }), names(['1']), true)
    )
    expect(containerd).not.toHaveProperty('enginePushThenOci')
    const docker = await chooseWay(
      env(stubDocker({}, classic)),
      planOf(inputs({ token: 't', 'media-types': 'docker' }), names(['1']), true)
    )
    expect(docker).toMatchObject({ kind: 'buildkit' })
  })

  it('the docker driver prefetches the cache source on either store, not for another context, several platforms or another driver', async () => {
    const plan = (given: Record<string, string>) =>
      planOf(inputs({ token: 't', ...given }), names(['1']), true)
    const classic = await chooseWay(env(stubDocker({}, { store: 'classic' })), plan({}))
    expect(classic.unpacksCacheHits).toBe('classic')
    const containerd = await chooseWay(env(stubDocker({})), plan({}))
    expect(containerd.unpacksCacheHits).toBe('containerd')
    const one = await chooseWay(env(stubDocker({})), plan({ platforms: 'linux/arm64' }))
    expect(one.unpacksCacheHits).toBe('containerd')
    // The pull would reach this engine, not the other context's; one pull unpacks one platform;
    // a docker-container builder has a BuildKit of its own.
    const context = stubDocker({}, { builders: ['default', 'ctx2'] })
    for (const way of [
      await chooseWay(env(context), plan({ builder: 'ctx2' })),
      await chooseWay(env(stubDocker({})), plan({ platforms: 'linux/amd64,linux/arm64' })),
      await chooseWay(env(stubDocker({}, { driver: 'docker-container' })), plan({}))
    ]) {
      expect(way).not.toHaveProperty('unpacksCacheHits')
    }
  })

  it('push-by-digest with the docker driver (which cannot): the own way; with another driver BuildKit pushes', async () => {
    const docker = await chooseWay(
      env(stubDocker({})),
      planOf(inputs({ token: 't', 'push-by-digest': 'true' }), names([]), true)
    )
    expect(docker).toMatchObject({ kind: 'own', builder: 'buildx' })
    expect(docker.why).toMatch(/cannot push by digest/)
    const container = await chooseWay(
      env(stubDocker({}, { driver: 'docker-container' })),
      planOf(inputs({ token: 't', 'push-by-digest': 'true' }), names([]), true)
    )
    expect(container.kind).toBe('buildkit')
  })

  it('no buildx, or push false: the own way, saying why', async () => {
    const none = stubDocker({}, { hasBuildx: false })
    const way = await chooseWay(env(none), planOf(inputs({ token: 't' }), names(['1']), true))
    expect(way.kind).toBe('own')
    expect(way.why).toMatch(/^buildx is not available: built with/)
    const notPushed = await chooseWay(
      env(stubDocker({})),
      planOf(inputs({ push: 'false' }), names(['1']), false)
    )
    expect(notPushed).toMatchObject({ kind: 'own', builder: 'buildx' })
  })

  it('an unknown builder fails before the build, listing the builders', async () => {
    const d = stubDocker({}, { builders: ['default', 'ctx2'] })
    await expect(
      chooseWay(env(d), planOf(inputs({ token: 't', builder: 'nosuch' }), names(['1']), true))
    ).rejects.toThrow(
      /^builder 'nosuch' is not a buildx builder here: the builders are default, ctx2\./
    )
    expect(d.calls.some(a => a[1] === 'build')).toBe(false)
  })

  it('platforms without buildx (buildx: auto) fails before building, naming buildx: true and the matrix way', async () => {
    const d = stubDocker({}, { hasBuildx: false })
    await expect(
      chooseWay(
        env(d),
        planOf(inputs({ token: 't', platforms: 'linux/amd64,linux/arm64' }), names(['1.0']), true)
      )
    ).rejects.toThrow(
      /^platforms \(linux\/amd64,linux\/arm64\) needs the docker buildx plugin, which this runner does not have: set buildx: true to install it/
    )
    expect(d.calls).toEqual([['buildx', 'inspect']])
  })
})

describe('reading back what buildx pushed', () => {
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] })
  )
  const digest = sha(index)
  function fakeRegistry() {
    const calls: string[] = []
    const client = {
      requests: 0,
      getManifest: async (_repo: string, ref: string) => {
        calls.push(`GET ${ref}`)
        return { digest, mediaType: MEDIA_TYPES.ociIndex, bytes: index }
      },
      putManifest: async (_repo: string, ref: string) => {
        calls.push(`PUT ${ref}`)
        return digest
      },
      headManifest: async () => undefined,
      getBlob: async () => Buffer.from('{}')
    }
    return { calls, client: client as unknown as RegistryClient }
  }
  it('reads the first tag back, checks it against the digest buildx reported, tags the rest', async () => {
    const r = fakeRegistry()
    const published = await checkBuildxPush(r.client, names(['1.0', 'latest']), {
      digest,
      imageId: '',
      builder: 'buildx'
    })
    expect(published.digest).toBe(digest)
    expect(r.calls).toEqual(['GET 1.0', 'PUT latest'])
    await expect(
      checkBuildxPush(fakeRegistry().client, names(['1.0']), {
        digest: 'sha256:other',
        imageId: '',
        builder: 'buildx'
      })
    ).rejects.toThrow(/^docker buildx build reported sha256:other but ghcr.io serves/)
  })

  it('reads the config (the platform) while the other tags are PUT, not after', async () => {
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociManifest,
        config: { mediaType: 'c', digest: 'sha256:cfg', size: 2 },
        layers: [{ mediaType: 'l', digest: 'sha256:l', size: 7 }]
      })
    )
    const calls: string[] = []
    let configAsked: () => void = () => undefined
    const configSeen = new Promise<void>(resolve => (configAsked = resolve))
    const client = {
      requests: 0,
      getManifest: async (_repo: string, ref: string) => {
        calls.push(`GET ${ref}`)
        return { digest: sha(manifest), mediaType: MEDIA_TYPES.ociManifest, bytes: manifest }
      },
      putManifest: async (_repo: string, ref: string) => {
        // The PUT answers only once the config was asked for: one after the other never ends.
        const timeout = new Promise((_, reject) =>
          setTimeout(() => reject(new Error('the config was not read during the PUT')), 2000)
        )
        await Promise.race([configSeen, timeout])
        calls.push(`PUT ${ref}`)
        return sha(manifest)
      },
      headManifest: async () => ({ digest: sha(manifest) }),
      getBlob: async (_repo: string, d: string) => {
        calls.push(`GET blob ${d}`)
        configAsked()
        return Buffer.from('{"os":"linux","architecture":"arm64"}')
      }
    }
    const published = await checkBuildxPush(
      client as unknown as RegistryClient,
      names(['1.0', 'latest']),
      { digest: sha(manifest), imageId: '', builder: 'buildx' }
    )
    expect(calls).toEqual(['GET 1.0', 'GET blob sha256:cfg', 'PUT latest'])
    expect(published).toMatchObject({ platform: 'linux/arm64', size: 7, manifest })
  })

  it('by digest: reads the reported digest back; fails when buildx reported none', async () => {
    const r = fakeRegistry()
    const published = await checkBuildxPush(r.client, names([]), {
      digest,
      imageId: '',
      builder: 'buildx'
    })
    expect(published.digest).toBe(digest)
    expect(r.calls).toEqual([`GET ${digest}`])
    await expect(
      checkBuildxPush(r.client, names([]), { imageId: '', builder: 'buildx' })
    ).rejects.toThrow(/did not report the digest it pushed/)
  })
})

describe('prefetchSkipped', () => {
  const source = { reference: 'r.test/o/app@sha256:' + 'a'.repeat(64), revisions: ['abc', 'def'] }
  const REV = 'org.opencontainers.image.revision'

  it('leaves the pull out on the containerd store for the same commit when the result stays packed', () => {
    expect(prefetchSkipped('containerd', true, [`${REV}=def`], source)).toBe(
      `Prefetch: none, ${source.reference} was built from this commit (def): when nothing ` +
        'changed, the containerd image store extracts no cached layer, and the engine keeps the ' +
        'result packed.'
    )
  })

  it('pulls for another commit, without a revision, on the classic store, or when the engine unpacks the result', () => {
    expect(prefetchSkipped('containerd', true, [`${REV}=xyz`], source)).toBeUndefined()
    expect(prefetchSkipped('containerd', true, ['other=abc'], source)).toBeUndefined()
    expect(prefetchSkipped('containerd', true, [`${REV}=`], source)).toBeUndefined()
    expect(prefetchSkipped('classic', true, [`${REV}=abc`], source)).toBeUndefined()
    // load: true, or Docker before 29.1: containerd's unpacker takes the pulled layers.
    expect(prefetchSkipped('containerd', false, [`${REV}=abc`], source)).toBeUndefined()
  })

  it('reads the revision the build writes: the user’s label, given last, wins over ours', () => {
    expect(
      prefetchSkipped('containerd', true, [`${REV}=abc`, `${REV}=xyz`], source)
    ).toBeUndefined()
    expect(prefetchSkipped('containerd', true, [`${REV}=xyz`, `${REV}=abc`], source)).toContain(
      'this commit (abc)'
    )
  })
})
