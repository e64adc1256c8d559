import { describe, expect, it } from '@jest/globals'
import { imageStoreOf, pushedDigest } from '../../../src/docker/cli.js'
import { DockerCommandError } from '../../../src/docker/errors.js'
import {
  CannotWriteOci,
  classifyPushError,
  ociManifestOver,
  ownUploadTakesOverEnginePush,
  servedUnderEveryTag,
  unchangedOverEnginePush
} from '../../../src/publish/engine-push.js'
import { recallEnginePush, rememberEnginePush } from '../../../src/publish/known-layers.js'
import { chmodSync } from 'node:fs'
import { tempDir } from '../../support/temp-dirs.js'
import * as path from 'node:path'
import { createHash } from 'node:crypto'
import {
  chooseRoute,
  familyOf,
  needsRegistryKnowledge,
  type RouteFacts
} from '../../../src/publish/route.js'
import { RetriesExhausted } from '../../../src/util/retry.js'

const MB = 1024 * 1024
const containerd: RouteFacts = {
  store: 'containerd',
  runner: 'github-hosted',
  family: 'oci',
  familyGiven: false,
  registryType: 'container',
  pushByDigest: false,
  annotations: false,
  storedBytes: 40 * MB,
  unpackedBytes: 130 * MB
}
const classic: RouteFacts = {
  ...containerd,
  store: 'classic',
  storedBytes: undefined,
  unpackedBytes: undefined
}

describe('the route of a local image', () => {
  it('containerd store: the engine pushes its stored compressed blobs, as stored', () => {
    expect(chooseRoute(containerd)).toEqual({
      way: 'engine',
      why: 'containerd image store: the engine uploads its stored compressed blobs, as stored'
    })
    const oci = chooseRoute({
      ...containerd,
      storedMediaType: 'application/vnd.oci.image.index.v1+json'
    })
    expect(oci.way).toBe('engine')
    expect(oci.why).toContain('(OCI, as stored)')
    // media-types given and the same as stored: still the engine's push.
    const same = {
      ...containerd,
      family: 'docker' as const,
      familyGiven: true,
      storedMediaType: 'application/vnd.docker.distribution.manifest.v2+json'
    }
    expect(chooseRoute(same).way).toBe('engine')
  })

  it('containerd store, layers stored uncompressed: the upload, which compresses them, and the line says so', () => {
    const loaded = { ...containerd, storedBytes: 2.2 * MB, unpackedBytes: 2.15 * MB }
    const route = chooseRoute(loaded)
    expect(route.way).toBe('upload')
    expect(route.why).toMatch(
      /layers look stored uncompressed \(2\.2 MB stored for 2\.1 MB unpacked/
    )
    expect(route.why).toContain('docker push would send them as stored, the upload compresses them')
    // Just under the ratio: compressed. Unknown unpacked size, or a tiny image: the engine.
    expect(chooseRoute({ ...loaded, storedBytes: 0.79 * 2.15 * MB }).way).toBe('engine')
    expect(chooseRoute({ ...loaded, unpackedBytes: 0 }).way).toBe('engine')
    expect(chooseRoute({ ...loaded, storedBytes: 0.9 * MB, unpackedBytes: 0.9 * MB }).way).toBe(
      'engine'
    )
  })

  it("containerd store, the action's own buildx build (an attestation not asked for): the upload leaves it out", () => {
    const route = chooseRoute({ ...containerd, unaskedAttestations: true })
    expect(route.way).toBe('upload')
    expect(route.why).toContain('provenance attestation the workflow did not ask for')
    // Not on the classic store, where the upload is taken for media-types oci anyway.
    expect(
      chooseRoute({
        ...classic,
        family: 'docker',
        runner: 'self-hosted',
        unaskedAttestations: true
      }).way
    ).toBe('engine')
  })

  it('containerd store, media-types other than stored, or not known: the upload writes exactly those', () => {
    const given = { ...containerd, family: 'docker' as const, familyGiven: true }
    expect(chooseRoute(given)).toEqual({
      way: 'upload',
      why: 'media-types docker given, and this engine does not say which media types it stores (Engine API before 1.48): the upload writes exactly those'
    })
    expect(
      chooseRoute({ ...given, storedMediaType: 'application/vnd.oci.image.index.v1+json' }).why
    ).toBe(
      'media-types docker, and the engine stores OCI manifests, which docker push sends as they are'
    )
    expect(
      chooseRoute({
        ...containerd,
        familyGiven: true,
        storedMediaType: 'application/vnd.docker.distribution.manifest.v2+json'
      }).way
    ).toBe('upload')
  })

  it('inputs the engine cannot honour take the upload on either store', () => {
    // (With media-types oci on the classic store the action writes annotations itself: below.)
    for (const store of [containerd, { ...classic, family: 'docker' as const }]) {
      expect(chooseRoute({ ...store, annotations: true })).toEqual({
        way: 'upload',
        why: 'annotations: docker push cannot add manifest annotations'
      })
      expect(chooseRoute({ ...store, pushByDigest: true }).why).toMatch(
        /^push-by-digest: docker push can only push a tag/
      )
    }
    expect(chooseRoute({ ...containerd, registryType: 'docker' }).way).toBe('upload')
  })

  it('classic store, media-types oci: as for docker, with the OCI manifest written over the engine push', () => {
    const over = ', then the action writes the OCI image manifest over the same layers'
    expect(chooseRoute({ ...classic, runner: 'self-hosted' })).toEqual({
      way: 'engine',
      ociOver: true,
      why:
        'classic image store, self-hosted runner: the engine skips the layers its earlier ' +
        `pushes uploaded${over}`
    })
    expect(chooseRoute({ ...classic, registryHolds: { known: 0, total: 4 } })).toEqual({
      way: 'engine',
      ociOver: true,
      why:
        'classic image store, github-hosted runner: the registry holds none of the layers (a ' +
        `first publish), so the engine compresses and uploads them as it goes${over}`
    })
    expect(chooseRoute({ ...classic, registryHolds: { known: 3, total: 4 } })).toEqual({
      way: 'upload',
      why: 'classic image store, github-hosted runner: the registry already holds 3 of 4 layers, which the engine would compress again to find that out'
    })
    // Annotations go into the OCI manifest; the registry is asked whatever they are.
    expect(chooseRoute({ ...classic, runner: 'self-hosted', annotations: true }).why).toMatch(
      /, with the annotations$/
    )
    expect(needsRegistryKnowledge({ ...classic, annotations: true })).toBe(true)
  })

  it('classic store, media-types docker: the engine when it remembers or nothing is there, else the upload', () => {
    const docker = { ...classic, family: 'docker' as const, familyGiven: true }
    expect(chooseRoute({ ...docker, runner: 'self-hosted' })).toEqual({
      way: 'engine',
      why: 'classic image store, self-hosted runner: the engine skips the layers its earlier pushes uploaded'
    })
    expect(chooseRoute({ ...docker, registryHolds: { known: 5, total: 6 } })).toEqual({
      way: 'upload',
      why: 'classic image store, github-hosted runner: the registry already holds 5 of 6 layers, which the engine would compress again to find that out'
    })
    expect(chooseRoute({ ...docker, registryHolds: { known: 0, total: 6 } }).way).toBe('engine')
    expect(
      chooseRoute({ ...docker, runner: undefined, registryHolds: { known: 0, total: 1 } }).why
    ).toContain('a runner whose engine has no push history')
  })

  it('classic store, a buildx build for OCI: the engine pushes, then the OCI manifest over it, on any runner', () => {
    const built = { ...classic, enginePushThenOci: true }
    const expected = {
      way: 'engine',
      ociOver: true,
      why:
        'classic image store, built into the engine by buildx: the engine pushes it (it skips the ' +
        'layers it knows the registry holds: its earlier pushes, and the cache source BuildKit ' +
        'read), then the action writes the OCI image manifest over the same layers'
    }
    expect(chooseRoute(built)).toEqual(expected)
    // Whatever the registry holds (the engine learnt the cache source's layers), and on a
    // self-hosted runner too; annotations go into the OCI manifest.
    expect(chooseRoute({ ...built, registryHolds: { known: 4, total: 5 } })).toEqual(expected)
    expect(chooseRoute({ ...built, runner: 'self-hosted' })).toEqual(expected)
    expect(chooseRoute({ ...built, annotations: true }).why).toMatch(/, with the annotations$/)
    expect(needsRegistryKnowledge({ ...built, family: 'docker' })).toBe(false)
    // Not for Docker v2 types, push-by-digest, or the containerd store.
    expect(chooseRoute({ ...built, family: 'docker' }).ociOver).toBeUndefined()
    expect(chooseRoute({ ...built, pushByDigest: true }).way).toBe('upload')
    expect(chooseRoute({ ...built, store: 'containerd' }).ociOver).toBeUndefined()
  })

  it('asks the registry first only where its answer decides', () => {
    const docker = { ...classic, family: 'docker' as const }
    expect(needsRegistryKnowledge(docker)).toBe(true)
    expect(needsRegistryKnowledge({ ...docker, runner: 'self-hosted' })).toBe(false)
    expect(needsRegistryKnowledge(classic)).toBe(true)
    expect(needsRegistryKnowledge({ ...classic, runner: 'self-hosted' })).toBe(false)
    expect(needsRegistryKnowledge({ ...docker, store: 'containerd' })).toBe(false)
    expect(needsRegistryKnowledge({ ...docker, annotations: true })).toBe(false)
  })

  it('names the family of stored media types', () => {
    expect(familyOf('application/vnd.oci.image.manifest.v1+json')).toBe('oci')
    expect(familyOf('application/vnd.docker.distribution.manifest.list.v2+json')).toBe('docker')
    expect(familyOf('application/octet-stream')).toBeUndefined()
    expect(familyOf(undefined)).toBeUndefined()
  })
})

describe('what the engine says', () => {
  it('the image store, from docker info DriverStatus', () => {
    expect(imageStoreOf('[["driver-type","io.containerd.snapshotter.v1"]]\n')).toBe('containerd')
    expect(imageStoreOf('[["Backing Filesystem","extfs"],["Supports d_type","true"]]')).toBe(
      'classic'
    )
    expect(imageStoreOf('null')).toBe('classic')
    expect(imageStoreOf('')).toBe('classic')
  })

  it("the digest of docker push's last line", () => {
    const d1 = `sha256:${'a'.repeat(64)}`
    const out = `The push refers to repository [127.0.0.1:5000/o/x]\n3cf98c3cfa5c: Pushed\nv1: digest: ${d1} size: 855\n`
    expect(pushedDigest(out)).toBe(d1)
    expect(pushedDigest('no digest here')).toBeUndefined()
  })

  it('a transient docker push failure is retried, a refused one is not', () => {
    const fail = (detail: string) => new DockerCommandError('push', 1, detail)
    expect(
      classifyPushError(fail('Put "http://127.0.0.1:1/v2/…": read: connection reset by peer'))
        .transient
    ).toBe(true)
    expect(
      classifyPushError(fail('received unexpected HTTP status: 503 Service Unavailable')).transient
    ).toBe(true)
    expect(
      classifyPushError(fail('denied: requested access to the resource is denied')).transient
    ).toBe(false)
    expect(classifyPushError(new Error('spawn docker ENOENT')).transient).toBe(false)
    // Seen on a reset mid-upload (e2e push-route): the URL's upload state may hold any word.
    const reset =
      'failed to copy: failed to do request: Put "http://127.0.0.1:1/v2/o/x/blobs/uploads/u?_state=ZGVuaWVk&digest=sha256%3Aab": ' +
      'readfrom tcp 127.0.0.1:2->127.0.0.1:1: write tcp 127.0.0.1:2->127.0.0.1:1: use of closed network connection'
    expect(classifyPushError(fail(reset))).toEqual({ transient: true, reason: 'connection broken' })
  })
})

describe('the OCI manifest over what the classic store pushed', () => {
  const digest = (c: string): string => `sha256:${c.repeat(64)}`
  const imageId = digest('c')
  const v2 = (over: Record<string, unknown> = {}): Buffer =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: {
          mediaType: 'application/vnd.docker.container.image.v1+json',
          size: 1234,
          digest: imageId
        },
        layers: [
          {
            mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
            size: 100,
            digest: digest('a')
          },
          {
            mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
            size: 200,
            digest: digest('b')
          }
        ],
        ...over
      })
    )

  it('names the same config and layers, in order, with OCI media types and the annotations', () => {
    const bytes = ociManifestOver(v2(), imageId, { 'org.example.note': 'x' })
    expect(JSON.parse(bytes.toString())).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: imageId,
        size: 1234
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: digest('a'),
          size: 100
        },
        { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest('b'), size: 200 }
      ],
      annotations: { 'org.example.note': 'x' }
    })
    // No annotations: no annotations field.
    expect(JSON.parse(ociManifestOver(v2(), imageId).toString())).not.toHaveProperty('annotations')
    // Its own bytes, so its own digest: never the engine's manifest's.
    const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex')
    expect(sha(ociManifestOver(v2(), imageId))).not.toBe(sha(v2()))
  })

  it('refuses, saying why, what is not the built image or has no OCI twin', () => {
    const refused = (bytes: Buffer): string => {
      try {
        ociManifestOver(bytes, imageId)
      } catch (error) {
        expect(error).toBeInstanceOf(CannotWriteOci)
        return (error as Error).message
      }
      throw new Error('not refused')
    }
    expect(
      refused(v2({ config: { ...JSON.parse(v2().toString()).config, digest: digest('d') } }))
    ).toBe(
      `the manifest docker push published names the config ${digest('d')}, not the built image ${imageId}`
    )
    expect(refused(v2({ mediaType: 'application/vnd.oci.image.manifest.v1+json' }))).toMatch(
      /^docker push published application\/vnd\.oci\.image\.manifest\.v1\+json, not a Docker v2 image manifest$/
    )
    const foreign = v2({
      layers: [
        {
          mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
          size: 1,
          digest: digest('e')
        }
      ]
    })
    expect(refused(foreign)).toBe(
      'docker push published blobs of type application/vnd.docker.image.rootfs.foreign.diff.tar.gzip, which has no OCI twin'
    )
    expect(refused(Buffer.from('<html>'))).toBe('the manifest docker push reported is not JSON')
  })
})

describe('when the own upload takes over the classic store’s engine push', () => {
  const push = (detail: string) => new DockerCommandError('push', 1, detail)
  it('after transient failures that outlasted the retries, or a 401 in dockerd’s auth exchange', () => {
    expect(
      ownUploadTakesOverEnginePush(
        new RetriesExhausted('docker push x failed after 2 attempts', 'docker push x:1', 2)
      )
    ).toBe(true)
    // Seen under 30% faults (e2e retries, classic store): a 429 on the token request.
    expect(ownUploadTakesOverEnginePush(push('unauthorized: authentication required'))).toBe(true)
  })

  it('never for a refusal, another command, or an error that is not docker’s', () => {
    expect(ownUploadTakesOverEnginePush(push('denied: permission_denied: write_package'))).toBe(
      false
    )
    expect(
      ownUploadTakesOverEnginePush(push('received unexpected HTTP status: 403 Forbidden'))
    ).toBe(false)
    expect(ownUploadTakesOverEnginePush(new DockerCommandError('save', 1, 'unauthorized'))).toBe(
      false
    )
    expect(
      ownUploadTakesOverEnginePush(new RetriesExhausted('login failed', 'docker login', 4))
    ).toBe(false)
    expect(ownUploadTakesOverEnginePush(new Error('unauthorized'))).toBe(false)
  })
})

describe('an unchanged republish from the containerd store (servedUnderEveryTag)', () => {
  const bytes = Buffer.from(
    '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}'
  )
  const id = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
  const other = `sha256:${'e'.repeat(64)}`
  const names = { path: 'octo-org/app', tags: ['v1', 'latest', 'main'] }

  /** A registry whose tags serve `byTag` (a digest, or undefined: 404); what was asked, in order. */
  function registry(byTag: Record<string, string | undefined>) {
    const asked: string[] = []
    return {
      asked,
      getManifest: async (_repository: string, reference: string) => {
        asked.push(`GET ${reference}`)
        const digest = byTag[reference]
        if (!digest) throw new Error(`GET ${reference}: 404 MANIFEST_UNKNOWN`)
        return { digest, mediaType: 'application/vnd.oci.image.index.v1+json', bytes }
      },
      headManifest: async (_repository: string, reference: string) => {
        asked.push(`HEAD ${reference}`)
        const digest = byTag[reference]
        return digest ? { digest, mediaType: 'x', size: 1 } : undefined
      }
    }
  }

  it('every tag serves the image ID: the first tag read (GET) is the answer, the others HEAD', async () => {
    const r = registry({ v1: id, latest: id, main: id })
    const served = await servedUnderEveryTag(r, names, id)
    expect(served).toEqual({
      digest: id,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      bytes
    })
    expect(r.asked.sort()).toEqual(['GET v1', 'HEAD latest', 'HEAD main'])
  })

  it('one tag serving another digest or nothing, or the first tag missing: the engine pushes', async () => {
    expect(
      await servedUnderEveryTag(registry({ v1: id, latest: other, main: id }), names, id)
    ).toBeUndefined()
    expect(await servedUnderEveryTag(registry({ v1: id, latest: id }), names, id)).toBeUndefined()
    expect(await servedUnderEveryTag(registry({ latest: id, main: id }), names, id)).toBeUndefined()
    expect(
      await servedUnderEveryTag(registry({ v1: other, latest: other, main: other }), names, id)
    ).toBeUndefined()
  })

  it('asks nothing without a tag or a sha256 image ID, and nothing before the warm-up', async () => {
    const r = registry({ v1: id })
    expect(await servedUnderEveryTag(r, { path: 'p', tags: [] }, id)).toBeUndefined()
    expect(await servedUnderEveryTag(r, names, 'abc123')).toBeUndefined()
    expect(r.asked).toEqual([])
    let release: () => void = () => undefined
    const warmUp = new Promise<void>(resolve => (release = resolve))
    const pending = servedUnderEveryTag(
      registry({ v1: id }),
      { ...names, tags: ['v1'] },
      id,
      warmUp
    )
    const r2 = registry({ v1: id })
    const pending2 = servedUnderEveryTag(r2, { ...names, tags: ['v1'] }, id, warmUp)
    await new Promise(resolve => setImmediate(resolve))
    expect(r2.asked).toEqual([])
    release()
    expect((await pending)?.digest).toBe(id)
    expect((await pending2)?.digest).toBe(id)
    expect(r2.asked).toEqual(['GET v1'])
  })
})

describe("an unchanged republish over the classic store's engine push (unchangedOverEnginePush)", () => {
  const hex = (c: string): string => `sha256:${c.repeat(64)}`
  const imageId = hex('c')
  const v2 = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        size: 10,
        digest: imageId
      },
      layers: [
        {
          mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
          size: 5,
          digest: hex('a')
        }
      ]
    })
  )
  const names = { registry: 'ghcr.io', path: 'octo-org/app', tags: ['latest', 'sha-a9993e3'] }
  const cacheFile = (): string =>
    path.join(tempDir('engine-push-record-'), 'publish-container', 'layers.json')
  const registry = (answer: (tag: string) => string | undefined) => {
    const asked: string[] = []
    return {
      asked,
      headManifest: async (_repository: string, tag: string) => {
        asked.push(tag)
        const digest = answer(tag)
        return digest ? { digest, mediaType: 'x', size: 1 } : undefined
      }
    }
  }
  const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`

  it('remembers what the engine pushed, per registry, repository and image, in a file only this user writes', () => {
    const file = cacheFile()
    rememberEnginePush(file, 'ghcr.io', 'octo-org/app', imageId, v2)
    expect(recallEnginePush(file, 'ghcr.io', 'octo-org/app', imageId)).toEqual(v2)
    expect(recallEnginePush(file, 'ghcr.io', 'octo-org/other', imageId)).toBeUndefined()
    expect(recallEnginePush(file, 'example.com', 'octo-org/app', imageId)).toBeUndefined()
    expect(recallEnginePush(file, 'ghcr.io', 'octo-org/app', hex('d'))).toBeUndefined()
    chmodSync(path.join(path.dirname(file), 'engine-pushes.json'), 0o666)
    expect(recallEnginePush(file, 'ghcr.io', 'octo-org/app', imageId)).toBeUndefined()
    expect(recallEnginePush(undefined, 'ghcr.io', 'octo-org/app', imageId)).toBeUndefined()
  })

  it('every tag serves the OCI manifest over what this runner pushed: unchanged, with those bytes', async () => {
    const file = cacheFile()
    rememberEnginePush(file, 'ghcr.io', 'octo-org/app', imageId, v2)
    const oci = ociManifestOver(v2, imageId, { 'org.opencontainers.image.title': 'app' })
    const r = registry(() => digestOf(oci))
    const found = await unchangedOverEnginePush(
      r,
      names,
      imageId,
      { 'org.opencontainers.image.title': 'app' },
      file
    )
    expect(found).toEqual({
      digest: digestOf(oci),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      bytes: oci
    })
    expect(r.asked.sort()).toEqual(['latest', 'sha-a9993e3'])
  })

  it('a tag serving something else, other annotations, or no record of this image: the engine pushes', async () => {
    const file = cacheFile()
    rememberEnginePush(file, 'ghcr.io', 'octo-org/app', imageId, v2)
    const oci = digestOf(ociManifestOver(v2, imageId))
    expect(
      await unchangedOverEnginePush(
        registry(t => (t === 'latest' ? oci : hex('e'))),
        names,
        imageId,
        {},
        file
      )
    ).toBeUndefined()
    expect(
      await unchangedOverEnginePush(
        registry(() => oci),
        names,
        imageId,
        { a: 'b' },
        file
      )
    ).toBeUndefined()
    const none = registry(() => oci)
    expect(await unchangedOverEnginePush(none, names, hex('d'), {}, file)).toBeUndefined()
    expect(await unchangedOverEnginePush(none, names, imageId, {}, undefined)).toBeUndefined()
    // Without a record, the registry is not even asked.
    expect(none.asked).toEqual([])
    expect(
      await unchangedOverEnginePush(
        registry(() => oci),
        names,
        imageId,
        {},
        file
      )
    ).toBeDefined()
  })
})
