import { describe, expect, it } from '@jest/globals'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { gunzipSync, gzipSync } from 'node:zlib'
import { pack } from 'tar-stream'
import type { LayerBlob } from '../../../src/oci/layer-blob.js'
import { streamSavedImage } from '../../../src/publish/save-layers.js'
import { LAYER_MEDIA_TYPES } from '../../../src/oci/media-types.js'
import { tempDir } from '../../support/temp-dirs.js'

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex')

/** A layer tar holding one file of `size` bytes. */
async function layerTar(name: string, size: number): Promise<Buffer> {
  return tarOf([{ name, data: randomBytes(size) }])
}

async function tarOf(entries: { name: string; data?: Buffer; link?: string }[]): Promise<Buffer> {
  const p = pack()
  for (const e of entries) {
    if (e.link) p.entry({ name: e.name, type: 'symlink', linkname: e.link })
    else p.entry({ name: e.name, size: e.data!.length }, e.data!)
  }
  p.finalize()
  const chunks: Buffer[] = []
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c)
  return Buffer.concat(chunks)
}

function configOf(diffIds: string[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      os: 'linux',
      architecture: 'amd64',
      rootfs: { type: 'layers', diff_ids: diffIds }
    })
  )
}

function knownOnly(known: Map<string, LayerBlob>, blobs: Set<string> = new Set()) {
  return {
    byDiffId: async (d: string) => known.get(d),
    hasBlob: async (d: string) => blobs.has(d)
  }
}

async function run(tar: Buffer, diffIds: string[], known: ReturnType<typeof knownOnly>) {
  const workDir = tempDir('save-layers-')
  const ready: LayerBlob[] = []
  const streamed = await streamSavedImage({
    save: () => ({ stdout: Readable.from([tar]), done: Promise.resolve() }),
    diffIds,
    workDir,
    known,
    onLayer: l => ready.push(l),
    concurrency: 2
  })
  // The first (for a single-platform save, the only) image, with the save's counts.
  const image = {
    ...streamed.images[0],
    skippedLayers: streamed.skippedLayers,
    compressedLayers: streamed.compressedLayers
  }
  return { image, streamed, ready, workDir }
}

const SIZE = 9 * 1024 * 1024 // above the in-memory limit: streamed

/** A save of engine 25+ (OCI layout, blobs named by diff_id): a base and an app layer, streamed. */
async function ociSave() {
  const base = await layerTar('base.bin', SIZE)
  const app = await layerTar('app.bin', SIZE)
  const diffIds = [sha(base), sha(app)]
  const config = configOf(diffIds)
  const blob = (b: Buffer): string => `blobs/sha256/${sha(b).slice(7)}`
  const tar = await tarOf([
    { name: blob(app), data: app },
    { name: blob(base), data: base },
    { name: blob(config), data: config },
    { name: 'aaa/layer.tar', link: `../${blob(app)}` },
    {
      name: 'manifest.json',
      data: Buffer.from(
        JSON.stringify([{ Config: blob(config), Layers: [blob(base), 'aaa/layer.tar'] }])
      )
    }
  ])
  return { base, app, diffIds, tar }
}

describe('docker save, read as it streams', () => {
  it('engines before 25 (<id>/layer.tar): a known layer is dropped after hashing, a new one compressed and handed over', async () => {
    const base = await layerTar('base.bin', SIZE)
    const app = await layerTar('app.bin', SIZE)
    const diffIds = [sha(base), sha(app)]
    const config = configOf(diffIds)
    const tar = await tarOf([
      { name: 'aaa/layer.tar', data: app },
      { name: 'bbb/layer.tar', data: base },
      { name: 'cfg.json', data: config },
      {
        name: 'manifest.json',
        data: Buffer.from(
          JSON.stringify([{ Config: 'cfg.json', Layers: ['bbb/layer.tar', 'aaa/layer.tar'] }])
        )
      }
    ])
    const baseBlob = {
      digest: 'sha256:' + 'b'.repeat(64),
      size: 5,
      mediaType: LAYER_MEDIA_TYPES.gzip
    }
    const { image, ready, workDir } = await run(
      tar,
      diffIds,
      knownOnly(new Map([[sha(base), baseBlob]]))
    )
    expect(image.config.equals(config)).toBe(true)
    expect(image.layers[0]).toEqual(baseBlob)
    expect(image.skippedLayers).toBe(1)
    expect(image.compressedLayers).toBe(1)
    expect(ready).toHaveLength(1)
    const file = readFileSync(image.layers[1].file!)
    expect(gunzipSync(file).equals(app)).toBe(true)
    expect(image.layers[1]).toMatchObject({
      digest: sha(file),
      size: file.length,
      diffId: sha(app)
    })
    // The raw copies are gone: only the compressed new layer is left.
    expect(readdirSync(workDir)).toEqual([path.basename(image.layers[1].file!)])
  })

  /**
   * A save as engines before 25 write it: `<v1 id>/json` before `<v1 id>/layer.tar`, the ID the
   * sha256 of the json without id and os, with layer_id (the chain ID) and parent, keys sorted.
   */
  function legacyEntries(layers: Buffer[]): { name: string; data: Buffer }[] {
    const entries: { name: string; data: Buffer }[] = []
    let chain = ''
    let parent = ''
    for (const [i, layer] of layers.entries()) {
      chain = i === 0 ? sha(layer) : sha(Buffer.from(`${chain} ${sha(layer)}`))
      const body: Record<string, unknown> = {
        container_config: { Hostname: '', Env: null },
        created: '1970-01-01T00:00:00Z',
        layer_id: chain,
        ...(parent ? { parent } : {})
      }
      const id = sha(Buffer.from(JSON.stringify(body))).slice(7)
      const saved = {
        id,
        ...(parent ? { parent: parent.slice(7) } : {}),
        created: body.created,
        container_config: body.container_config,
        os: 'linux'
      }
      entries.push({ name: `${id}/json`, data: Buffer.from(JSON.stringify(saved)) })
      entries.push({ name: `${id}/layer.tar`, data: layer })
      parent = `sha256:${id}`
    }
    return entries.sort((a, b) => (a.name < b.name ? -1 : 1)) // the save's lexical order
  }

  it('engines before 25: the directory json tells the layer, so a known one is drained unread', async () => {
    const base = await layerTar('base.bin', SIZE)
    const app = await layerTar('app.bin', SIZE)
    const diffIds = [sha(base), sha(app)]
    const config = configOf(diffIds)
    const entries = legacyEntries([base, app])
    const layerPaths = entries.filter(e => e.name.endsWith('/layer.tar'))
    const ordered = diffIds.map(d => layerPaths.find(e => sha(e.data) === d)!.name)
    const tar = await tarOf([
      ...entries,
      { name: 'cfg.json', data: config },
      {
        name: 'manifest.json',
        data: Buffer.from(JSON.stringify([{ Config: 'cfg.json', Layers: ordered }]))
      }
    ])
    // Where the base layer's bytes end in the tar, and how far the save was read when the
    // repository's copy was looked up.
    const baseEnd = tar.indexOf(base) + base.length
    let read = 0
    const chunks = Array.from({ length: Math.ceil(tar.length / 65536) }, (_, i) =>
      tar.subarray(i * 65536, (i + 1) * 65536)
    )
    const lookedUpAt: number[] = []
    const baseBlob = {
      digest: 'sha256:' + 'b'.repeat(64),
      size: 5,
      mediaType: LAYER_MEDIA_TYPES.gzip
    }
    const workDir = tempDir('save-layers-')
    const streamed = await streamSavedImage({
      save: () => ({
        stdout: Readable.from(
          (function* () {
            for (const c of chunks) {
              read += c.length
              yield c
            }
          })()
        ),
        done: Promise.resolve()
      }),
      diffIds,
      workDir,
      known: {
        byDiffId: async d => {
          if (d === sha(base)) lookedUpAt.push(read)
          return d === sha(base) ? baseBlob : undefined
        },
        hasBlob: async () => false
      },
      concurrency: 2
    })
    expect(lookedUpAt.length).toBeGreaterThan(0)
    expect(lookedUpAt[0]).toBeLessThan(baseEnd) // before the layer was read through
    expect(streamed.images[0].layers[0]).toEqual(baseBlob)
    expect(streamed.images[0].layers[1]).toMatchObject({ diffId: sha(app) })
    expect(gunzipSync(readFileSync(streamed.images[0].layers[1].file!)).equals(app)).toBe(true)
    expect(streamed.skippedLayers).toBe(1)
  })

  it('engines before 25: a layer whose content is not the one its json tells fails', async () => {
    const base = await layerTar('base.bin', 2000)
    const other = await layerTar('other.bin', 2000)
    const entries = legacyEntries([base]).map(e =>
      e.name.endsWith('/layer.tar') ? { ...e, data: other } : e
    )
    const tar = await tarOf([
      ...entries,
      { name: 'cfg.json', data: configOf([sha(base)]) },
      {
        name: 'manifest.json',
        data: Buffer.from(JSON.stringify([{ Config: 'cfg.json', Layers: [entries[1].name] }]))
      }
    ])
    await expect(run(tar, [sha(base)], knownOnly(new Map()))).rejects.toThrow(
      /docker save gave a layer that hashes to sha256:\w+, not sha256:/
    )
  })

  it('engine 25+ (OCI layout, blobs named by diff_id): a known layer is drained unread, a new one compressed straight from the stream', async () => {
    const { base, app, diffIds, tar } = await ociSave()
    const baseBlob = {
      digest: 'sha256:' + 'c'.repeat(64),
      size: 5,
      mediaType: LAYER_MEDIA_TYPES.gzip
    }
    const { image, workDir } = await run(tar, diffIds, knownOnly(new Map([[sha(base), baseBlob]])))
    expect(image.layers[0]).toEqual(baseBlob)
    expect(gunzipSync(readFileSync(image.layers[1].file!)).equals(app)).toBe(true)
    expect(readdirSync(workDir)).toHaveLength(1)
  })

  it('engine 25+: a claimed layer is drained while its proof runs; when the proof fails, the save is read again and the layer compressed', async () => {
    const { base, diffIds, tar } = await ociSave()
    const claimedBlob = {
      digest: 'sha256:' + 'd'.repeat(64),
      size: 5,
      mediaType: LAYER_MEDIA_TYPES.gzip
    }
    for (const proofHolds of [true, false]) {
      let proofFailed = false
      let saves = 0
      const streamed = await streamSavedImage({
        save: () => {
          saves++
          return { stdout: Readable.from([tar]), done: Promise.resolve() }
        },
        diffIds,
        workDir: tempDir('save-layers-'),
        known: {
          claimed: d => (d === sha(base) && !proofFailed ? claimedBlob : undefined),
          byDiffId: async d => {
            if (d !== sha(base)) return undefined
            await new Promise(resolve => setTimeout(resolve, 50))
            proofFailed = !proofHolds
            return proofHolds ? claimedBlob : undefined
          },
          hasBlob: async () => false
        },
        concurrency: 2
      })
      const [first] = streamed.images[0].layers
      if (proofHolds) {
        expect(saves).toBe(1)
        expect(first).toEqual(claimedBlob)
      } else {
        expect(saves).toBe(2)
        expect(first).toMatchObject({ diffId: sha(base) })
        expect(gunzipSync(readFileSync(first.file!)).equals(base)).toBe(true)
      }
    }
  }, 30_000) // two readings of two 9 MB layers: slow on a loaded machine

  it('the containerd store: compressed blobs used as they are, drained when the repository has them', async () => {
    const have = gzipSync(await layerTar('base.bin', SIZE), { level: 1 })
    const fresh = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), randomBytes(SIZE)]) // zstd magic
    const config = configOf([sha(Buffer.from('a')), sha(Buffer.from('b'))])
    const blob = (b: Buffer): string => `blobs/sha256/${sha(b).slice(7)}`
    const tar = await tarOf([
      { name: blob(fresh), data: fresh },
      { name: blob(have), data: have },
      { name: blob(config), data: config },
      {
        name: 'manifest.json',
        data: Buffer.from(
          JSON.stringify([{ Config: blob(config), Layers: [blob(have), blob(fresh)] }])
        )
      }
    ])
    const { image } = await run(tar, [], knownOnly(new Map(), new Set([sha(have)])))
    expect(image.layers[0]).toEqual({
      digest: sha(have),
      size: have.length,
      mediaType: LAYER_MEDIA_TYPES.gzip
    })
    expect(image.layers[1]).toMatchObject({ digest: sha(fresh), mediaType: LAYER_MEDIA_TYPES.zstd })
    expect(readFileSync(image.layers[1].file!).equals(fresh)).toBe(true)
  })

  /** A containerd-store save of an index of linux/amd64 and linux/arm64 (with an attestation). */
  async function multiPlatformSave(options: { withArm: boolean }) {
    const shared = gzipSync(await layerTar('shared.bin', SIZE), { level: 1 })
    const arm = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), randomBytes(SIZE)]) // zstd
    const json = (o: unknown): Buffer => Buffer.from(JSON.stringify(o))
    const blob = (b: Buffer): string => `blobs/sha256/${sha(b).slice(7)}`
    const desc = (mediaType: string, b: Buffer, extra: object = {}) => ({
      mediaType,
      digest: sha(b),
      size: b.length,
      ...extra
    })
    const config = (architecture: string, layers: number): Buffer =>
      json({
        os: 'linux',
        architecture,
        rootfs: { type: 'layers', diff_ids: Array(layers).fill(sha(Buffer.from(architecture))) }
      })
    const amdConfig = config('amd64', 1)
    const armConfig = config('arm64', 2)
    const manifest = (c: Buffer, layers: [string, Buffer][]): Buffer =>
      json({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: desc('application/vnd.oci.image.config.v1+json', c),
        layers: layers.map(([t, b]) => desc(t, b))
      })
    const amd = manifest(amdConfig, [[LAYER_MEDIA_TYPES.gzip, shared]])
    const armManifest = manifest(armConfig, [
      [LAYER_MEDIA_TYPES.gzip, shared],
      [LAYER_MEDIA_TYPES.zstd, arm]
    ])
    const statement = json({ _type: 'https://in-toto.io/Statement/v0.1' })
    const attestConfig = json({ architecture: 'unknown', os: 'unknown' })
    const attestation = manifest(attestConfig, [['application/vnd.in-toto+json', statement]])
    const nested = json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        desc('application/vnd.oci.image.manifest.v1+json', amd, {
          platform: { os: 'linux', architecture: 'amd64' }
        }),
        desc('application/vnd.oci.image.manifest.v1+json', armManifest, {
          platform: { os: 'linux', architecture: 'arm64' }
        }),
        desc('application/vnd.oci.image.manifest.v1+json', attestation, {
          platform: { os: 'unknown', architecture: 'unknown' },
          annotations: {
            'vnd.docker.reference.type': 'attestation-manifest',
            'vnd.docker.reference.digest': sha(amd)
          }
        })
      ]
    })
    const files = [
      { name: blob(shared), data: shared },
      ...(options.withArm
        ? [
            { name: blob(arm), data: arm },
            { name: blob(armManifest), data: armManifest },
            { name: blob(armConfig), data: armConfig }
          ]
        : []),
      { name: blob(amd), data: amd },
      { name: blob(amdConfig), data: amdConfig },
      { name: blob(attestation), data: attestation },
      { name: blob(attestConfig), data: attestConfig },
      { name: blob(statement), data: statement },
      { name: blob(nested), data: nested },
      {
        name: 'index.json',
        data: json({
          schemaVersion: 2,
          manifests: [desc('application/vnd.oci.image.index.v1+json', nested)]
        })
      },
      // Docker 26 lists only the engine's own platform here.
      { name: 'manifest.json', data: json([{ Config: blob(amdConfig), Layers: [blob(shared)] }]) }
    ]
    return { tar: await tarOf(files), shared, arm, amdConfig, armConfig }
  }

  it('an image of several platforms (containerd store): one image per platform from index.json, attestations skipped', async () => {
    const { tar, shared, arm, amdConfig, armConfig } = await multiPlatformSave({ withArm: true })
    const { streamed, ready } = await run(tar, [], knownOnly(new Map(), new Set([sha(shared)])))
    expect(streamed.images.map(i => i.platform)).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' }
    ])
    expect(streamed.images[0].config.equals(amdConfig)).toBe(true)
    expect(streamed.images[1].config.equals(armConfig)).toBe(true)
    const sharedLayer = {
      digest: sha(shared),
      size: shared.length,
      mediaType: LAYER_MEDIA_TYPES.gzip
    }
    expect(streamed.images[0].layers).toEqual([sharedLayer])
    expect(streamed.images[1].layers[0]).toEqual(sharedLayer)
    expect(streamed.images[1].layers[1]).toMatchObject({
      digest: sha(arm),
      mediaType: LAYER_MEDIA_TYPES.zstd
    })
    // The shared layer is in the repository: only the arm64 layer was copied and handed over.
    expect(ready.map(l => l.digest)).toEqual([sha(arm)])
    expect(streamed.missingPlatforms).toEqual([])
  })

  it('a platform the index lists without its content is reported, and the image of manifest.json published', async () => {
    const { tar, amdConfig } = await multiPlatformSave({ withArm: false })
    const { streamed } = await run(tar, [], knownOnly(new Map()))
    expect(streamed.images).toHaveLength(1)
    expect(streamed.images[0].config.equals(amdConfig)).toBe(true)
    expect(streamed.missingPlatforms).toEqual(['linux/arm64'])
  })

  it('refuses a layer that does not match the config (diff_id)', async () => {
    const layer = await layerTar('x.bin', 1000)
    const config = configOf([sha(Buffer.from('something else'))])
    const tar = await tarOf([
      { name: 'a/layer.tar', data: layer },
      { name: 'c.json', data: config },
      {
        name: 'manifest.json',
        data: Buffer.from(JSON.stringify([{ Config: 'c.json', Layers: ['a/layer.tar'] }]))
      }
    ])
    await expect(run(tar, [], knownOnly(new Map()))).rejects.toThrow(
      /hashes to sha256:\w+, but the image config names/
    )
  })

  it('fails when docker save fails, and leaves no file being written', async () => {
    const workDir = tempDir('save-layers-')
    const error = new Error('docker save failed (1): no such image')
    await expect(
      streamSavedImage({
        save: () => ({ stdout: Readable.from([]), done: Promise.reject(error) }),
        diffIds: [],
        workDir,
        known: knownOnly(new Map())
      })
    ).rejects.toThrow(/no such image/)
    expect(existsSync(workDir)).toBe(true)
  })
})
