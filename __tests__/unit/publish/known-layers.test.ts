import { describe, expect, it, jest } from '@jest/globals'
import { createHash } from 'node:crypto'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import {
  cacheFile,
  learnKnownLayers,
  rememberImage,
  rememberLayers
} from '../../../src/publish/known-layers.js'
import { previousTags } from '../../../src/plan/previous-version.js'
import type { RegistryClient } from '../../../src/registry/client.js'
import { tempDir } from '../../support/temp-dirs.js'
import { ociManifestOf } from '../../support/oci.js'

const sha = (s: string | Buffer): string => 'sha256:' + createHash('sha256').update(s).digest('hex')
/** A layer: the diff_id of `content`, and its gzip blob (digest and bytes). */
function layerOf(content: string): { diffId: string; digest: string; bytes: Buffer } {
  const bytes = gzipSync(Buffer.from(content))
  return { diffId: sha(content), digest: sha(bytes), bytes }
}
const GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip'
const platform = { os: 'linux', architecture: 'amd64' }

/** A registry of one repository's manifests and blobs, recording what was asked. */
function fakeRegistry(content: {
  manifests?: Record<string, Buffer>
  blobs?: Record<string, Buffer>
  mountable?: Set<string>
}) {
  const blobs = new Map(Object.entries(content.blobs ?? {}))
  const manifests = new Map(Object.entries(content.manifests ?? {}))
  const asked: string[] = []
  const client = {
    registry: 'registry.test',
    listTags: async () => {
      asked.push('tags/list')
      return [...manifests.keys()].filter(k => !k.startsWith('sha256:'))
    },
    headManifest: async (_repo: string, ref: string) => {
      asked.push(`HEAD manifest ${ref}`)
      const m = manifests.get(ref)
      return m ? { digest: sha(m.toString()), mediaType: 'x', size: m.length } : undefined
    },
    getManifest: async (_repo: string, ref: string) => {
      const bytes = manifests.get(ref)!
      return {
        digest: sha(bytes.toString()),
        mediaType: JSON.parse(bytes.toString()).mediaType,
        bytes
      }
    },
    getBlob: async (_repo: string, digest: string) => blobs.get(digest)!,
    request: async (method: string, url: string) => {
      const digest = url.split('/').pop()!
      asked.push(`${method} ${digest.slice(7, 15)}`)
      const bytes = blobs.get(digest)
      return bytes ? new Response(bytes) : new Response('', { status: 404 })
    },
    headBlob: async (repo: string, digest: string) => {
      asked.push(`HEAD ${repo} ${digest.slice(7, 15)}`)
      return blobs.has(digest) ? blobs.get(digest)!.length : undefined
    },
    mountBlob: async (_repo: string, digest: string, from: string) => {
      asked.push(`mount ${digest.slice(7, 15)} from ${from}`)
      if (!content.mountable?.has(digest)) return false
      blobs.set(digest, Buffer.from('mounted'))
      return true
    }
  }
  return { client: client as unknown as RegistryClient, asked }
}

function image(diffIds: string[], layerDigests: string[]) {
  const config = Buffer.from(
    JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: diffIds } })
  )
  const manifest = ociManifestOf(
    config,
    layerDigests.map(d => ({ mediaType: GZIP, digest: d, size: 100 }))
  )
  return { config, manifest, configDigest: sha(config.toString()) }
}

/** The ::warning:: lines written while `fn` runs. */
async function warningsOf<T>(fn: () => Promise<T>): Promise<{ value: T; warnings: string[] }> {
  const warnings: string[] = []
  const write = jest.spyOn(process.stdout, 'write').mockImplementation(chunk => {
    if (String(chunk).startsWith('::warning::')) warnings.push(String(chunk))
    return true
  })
  try {
    return { value: await fn(), warnings }
  } finally {
    write.mockRestore()
  }
}

const options = (diffIds: string[], extra: object = {}) => ({
  repository: 'o/app',
  tags: ['v1'],
  imageId: 'sha256:local',
  diffIds,
  platform,
  origins: [],
  ...extra
})

describe('what the repository holds, learnt before compressing', () => {
  it('a layer under the tag is known only once the registry confirms its blob (HEAD)', async () => {
    const [l1, l2] = [layerOf('layer1'), layerOf('layer2')]
    const [d1, d2, b1, b2] = [l1.diffId, l2.diffId, l1.digest, l2.digest]
    const old = image([d1, d2], [b1, b2])
    // The registry lost blob2 (garbage-collected, or a restart dropped it): not skipped.
    const { client } = fakeRegistry({
      manifests: { v1: old.manifest },
      blobs: { [old.configDigest]: old.config, [b1]: l1.bytes }
    })
    const known = await learnKnownLayers(client, options([d1, d2]))
    expect(await known.byDiffId(d1)).toMatchObject({ digest: b1, diffId: d1 })
    expect(await known.byDiffId(d2)).toBeUndefined()
    expect(known.known).toBe(1)
    expect(known.sources).toEqual(['o/app:v1'])
  })

  it('a new version under a new tag only: the previous version, found in the tag list, tells the layers', async () => {
    const base = layerOf('base')
    const [d1, d2, b1] = [base.diffId, sha('app2'), base.digest]
    const v1 = image([d1, sha('app1')], [b1, sha('blob-app1')])
    const { client, asked } = fakeRegistry({
      manifests: { '1.0.0': v1.manifest, 'pr-7': Buffer.from('{}') },
      blobs: { [v1.configDigest]: v1.config, [b1]: base.bytes }
    })
    const known = await learnKnownLayers(client, options([d1, d2], { tags: ['1.0.1'] }))
    expect((await known.byDiffId(d1))?.digest).toBe(b1)
    expect(known.sources).toEqual(['o/app:1.0.0'])
    expect(asked).toContain('tags/list')
    // When a tag being pushed is there, the list is not asked for.
    const again = fakeRegistry({
      manifests: { '1.0.0': v1.manifest },
      blobs: { [v1.configDigest]: v1.config, [b1]: base.bytes }
    })
    await learnKnownLayers(again.client, options([d1, d2], { tags: ['1.0.0', '1.0.1'] }))
    expect(again.asked).not.toContain('tags/list')
  })

  it('previous tags: latest, then the highest versions, else the last listed', () => {
    expect(previousTags(['0.9.0', 'v1.10.0', '1.2.0', 'latest', 'pr-7'], ['1.11.0'])).toEqual([
      'latest',
      'v1.10.0'
    ])
    expect(previousTags(['1.0.0', '2.0.0-rc.1', '1.9.9'], ['2.0.0'], 3)).toEqual([
      '2.0.0-rc.1',
      '1.9.9',
      '1.0.0'
    ])
    expect(previousTags(['main', 'sha-1234567'], ['sha-89abcde'])).toEqual(['sha-1234567', 'main'])
    expect(previousTags(['latest'], ['latest'])).toEqual([])
  })

  it('the very image under the tag (same config, every blob there): sameImage, no save needed', async () => {
    const l1 = layerOf('layer1')
    const [d1, b1] = [l1.diffId, l1.digest]
    const img = image([d1], [b1])
    const { client } = fakeRegistry({
      manifests: { v1: img.manifest },
      blobs: { [img.configDigest]: img.config, [b1]: l1.bytes }
    })
    const same = await learnKnownLayers(client, options([d1], { imageId: img.configDigest }))
    expect(same.sameImage?.layers.map(l => l.digest)).toEqual([b1])
    const other = await learnKnownLayers(client, options([d1], { imageId: 'sha256:another' }))
    expect(other.sameImage).toBeUndefined()
  })

  it('under an index, the platform as containerd matches it: linux/arm is arm/v7, never arm/v6', async () => {
    const [v6, v7] = [layerOf('arm-v6'), layerOf('arm-v7')]
    const [img6, img7] = [image([v6.diffId], [v6.digest]), image([v7.diffId], [v7.digest])]
    const entry = (m: Buffer, variant: string) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: sha(m.toString()),
      size: m.length,
      platform: { os: 'linux', architecture: 'arm', variant }
    })
    const index = (entries: object[]) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: entries
        })
      )
    const registry = (entries: object[]) =>
      fakeRegistry({
        manifests: {
          v1: index(entries),
          [sha(img6.manifest.toString())]: img6.manifest,
          [sha(img7.manifest.toString())]: img7.manifest
        },
        blobs: {
          [img6.configDigest]: img6.config,
          [img7.configDigest]: img7.config,
          [v6.digest]: v6.bytes,
          [v7.digest]: v7.bytes
        }
      }).client
    const arm = { platform: { os: 'linux', architecture: 'arm' } }
    // Only arm/v6 under the tag: not this image's platform, so nothing is learnt from it.
    const onlyV6 = await learnKnownLayers(
      registry([entry(img6.manifest, 'v6')]),
      options([v6.diffId], arm)
    )
    expect(onlyV6.known).toBe(0)
    const both = await learnKnownLayers(
      registry([entry(img6.manifest, 'v6'), entry(img7.manifest, 'v7')]),
      options([v7.diffId], arm)
    )
    expect(await both.byDiffId(v7.diffId)).toMatchObject({ digest: v7.digest })
  })

  it('the containerd store (image ID = manifest digest): the config digest noted at the last push makes it the same image', async () => {
    const l1 = layerOf('layer1')
    const [d1, b1] = [l1.diffId, l1.digest]
    const img = image([d1], [b1])
    const content = {
      manifests: { v1: img.manifest },
      blobs: { [img.configDigest]: img.config, [b1]: l1.bytes }
    }
    const file = cacheFile(tempDir('known-images-'))
    const localId = sha('the local index')
    const before = await learnKnownLayers(
      fakeRegistry(content).client,
      options([d1], { imageId: localId, cacheFile: file })
    )
    expect(before.sameImage).toBeUndefined()
    rememberImage(file, localId, img.configDigest)
    const after = await learnKnownLayers(
      fakeRegistry(content).client,
      options([d1], { imageId: localId, cacheFile: file })
    )
    expect(after.sameImage?.config.equals(img.config)).toBe(true)
    // Another local image is not taken for it.
    const other = await learnKnownLayers(
      fakeRegistry(content).client,
      options([d1], { imageId: sha('another'), cacheFile: file })
    )
    expect(other.sameImage).toBeUndefined()
  })

  it('the local cache (self-hosted runner): remembered layers are confirmed by HEAD, or mounted from their repository', async () => {
    const dir = tempDir('known-layers-')
    const file = cacheFile(dir)!
    const [d1, d2, d3] = [sha('l1'), sha('l2'), sha('l3')]
    const [b1, b2, b3] = [sha('b1'), sha('b2'), sha('b3')]
    rememberLayers(file, 'registry.test', 'o/app', [
      { digest: b1, size: 1, mediaType: GZIP, diffId: d1 }
    ])
    rememberLayers(file, 'registry.test', 'o/base', [
      { digest: b2, size: 2, mediaType: GZIP, diffId: d2 },
      { digest: b3, size: 3, mediaType: GZIP, diffId: d3 }
    ])
    rememberLayers(file, 'elsewhere.test', 'o/app', [
      { digest: sha('z'), size: 1, mediaType: GZIP, diffId: sha('lz') }
    ])
    const { client, asked } = fakeRegistry({
      blobs: { [b1]: Buffer.from('x') },
      mountable: new Set([b2])
    })
    const known = await learnKnownLayers(
      client,
      options([d1, d2, d3, sha('lz')], { cacheFile: file })
    )
    expect((await known.byDiffId(d1))?.digest).toBe(b1) // HEAD in o/app
    expect((await known.byDiffId(d2))?.digest).toBe(b2) // mounted from o/base
    expect(await known.byDiffId(d3)).toBeUndefined() // neither: compressed and uploaded
    expect(await known.byDiffId(sha('lz'))).toBeUndefined() // remembered for another registry
    expect(asked).toContain(`mount ${b2.slice(7, 15)} from o/base`)
    // Proven by this runner when it wrote them: not read back.
    expect(asked.filter(a => a.startsWith('GET'))).toEqual([])
    expect(known.sources).toContain('local cache')
  })

  it('a mapping whose blob does not unpack to the diff_id is dropped with a warning naming its tag', async () => {
    const base = layerOf('the base layer')
    const decoy = layerOf('something else')
    // A crafted latest: its config claims the base layer's diff_id over the decoy blob.
    const crafted = image([base.diffId], [decoy.digest])
    const { client, asked } = fakeRegistry({
      manifests: { latest: crafted.manifest },
      blobs: { [crafted.configDigest]: crafted.config, [decoy.digest]: decoy.bytes }
    })
    const { warnings } = await warningsOf(async () => {
      const known = await learnKnownLayers(client, options([base.diffId], { tags: ['1.0.0'] }))
      expect(await known.byDiffId(base.diffId)).toBeUndefined()
    })
    expect(asked).toContain(`GET ${decoy.digest.slice(7, 15)}`)
    expect(warnings).toEqual([
      expect.stringMatching(
        new RegExp(
          `^::warning::o/app:latest gives the blob ${decoy.digest} .* unpacks to ${decoy.diffId}`
        )
      )
    ])
  })

  it('the very image, but a layer its manifest names is another blob: not sameImage', async () => {
    const l1 = layerOf('layer1')
    const decoy = layerOf('decoy')
    const img = image([l1.diffId], [decoy.digest])
    const { client } = fakeRegistry({
      manifests: { v1: img.manifest },
      blobs: { [img.configDigest]: img.config, [decoy.digest]: decoy.bytes }
    })
    const { value: same, warnings } = await warningsOf(() =>
      learnKnownLayers(client, options([l1.diffId], { imageId: img.configDigest }))
    )
    expect(same.sameImage).toBeUndefined()
    expect(warnings).toHaveLength(1)
  })

  it('a cache entry not proven by this runner (an earlier version wrote it), or a file others can write, is read back', async () => {
    const l1 = layerOf('cached layer')
    const dir = tempDir('known-layers-')
    const file = cacheFile(dir)!
    rememberLayers(file, 'registry.test', 'o/app', [
      { digest: l1.digest, size: 100, mediaType: GZIP, diffId: l1.diffId }
    ])
    const blobs = { [l1.digest]: l1.bytes }
    const proven = fakeRegistry({ blobs })
    expect(
      await (
        await learnKnownLayers(proven.client, options([l1.diffId], { cacheFile: file }))
      ).byDiffId(l1.diffId)
    ).toBeDefined()
    expect(proven.asked.filter(a => a.startsWith('GET'))).toEqual([])
    // Group-writable: not believed, so the blob is read back (and here proves right).
    chmodSync(file, 0o664)
    const writable = fakeRegistry({ blobs })
    const known = await learnKnownLayers(writable.client, options([l1.diffId], { cacheFile: file }))
    expect(await known.byDiffId(l1.diffId)).toBeUndefined() // the file was not read at all
    chmodSync(file, 0o600)
    // An entry without the proof mark (an earlier version's): read back before use.
    const data = JSON.parse(readFileSync(file, 'utf8'))
    delete data['registry.test'][l1.diffId].proven
    writeFileSync(file, JSON.stringify(data))
    const old = fakeRegistry({ blobs })
    const again = await learnKnownLayers(old.client, options([l1.diffId], { cacheFile: file }))
    expect((await again.byDiffId(l1.diffId))?.digest).toBe(l1.digest)
    expect(old.asked).toContain(`GET ${l1.digest.slice(7, 15)}`)
  })

  it('the cache file is under the tool cache, and there is none without one', () => {
    expect(cacheFile('/opt/hostedtoolcache')).toBe(
      '/opt/hostedtoolcache/publish-container/layers.json'
    )
    expect(cacheFile(undefined)).toBeUndefined()
  })
})
