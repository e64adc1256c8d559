/**
 * push-by-digest's reading of `docker save` output: the classic store's layout (uncompressed
 * layer.tar per layer, config as ID.json) and the OCI layout of newer engines (blobs/sha256/…,
 * legacy paths as symlinks, blobs possibly compressed), and the manifest made from it.
 */
import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { pack } from 'tar-stream'
import { CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPES } from '../../../src/oci/media-types.js'
import { imageManifest, pushSavedImage } from '../../../src/publish/upload.js'
import { readSavedImage } from '../../../src/docker/save.js'
import { MEDIA_TYPES } from '../../../src/oci/media-types.js'
import { type RegistryClient } from '../../../src/registry/client.js'

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex')
const tmp = (): string => mkdtempSync(path.join(os.tmpdir(), 'pbd-test-'))

/** A layer: a real tar holding one file. */
async function layerTar(name: string, content: string): Promise<Buffer> {
  const p = pack()
  p.entry({ name }, content)
  p.finalize()
  const chunks: Buffer[] = []
  for await (const c of p) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

type Entry = { name: string; content?: Buffer; linkname?: string }
async function writeTar(entries: Entry[]): Promise<string> {
  const p = pack()
  for (const e of entries) {
    if (e.linkname) p.entry({ name: e.name, type: 'symlink', linkname: e.linkname })
    else p.entry({ name: e.name }, e.content!)
  }
  p.finalize()
  const chunks: Buffer[] = []
  for await (const c of p) chunks.push(c as Buffer)
  const file = path.join(tmp(), 'image.tar')
  writeFileSync(file, Buffer.concat(chunks))
  return file
}

function configFor(layers: Buffer[], arch = 'amd64'): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: arch,
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map(sha) },
      config: {}
    })
  )
}

describe('reading docker save output', () => {
  it('the classic store: uncompressed layer.tar files, gzip-compressed and checked against diff_ids', async () => {
    const l1 = await layerTar('a.txt', 'one')
    const empty = Buffer.alloc(1024) // an empty layer: no tar magic at all
    const config = configFor([l1, empty])
    const id = sha(config).slice(7)
    const file = await writeTar([
      { name: 'aaa/VERSION', content: Buffer.from('1.0') },
      { name: 'aaa/json', content: Buffer.from('{}') },
      { name: 'aaa/layer.tar', content: l1 },
      { name: 'bbb/layer.tar', content: empty },
      { name: `${id}.json`, content: config },
      {
        name: 'manifest.json',
        content: Buffer.from(
          JSON.stringify([
            { Config: `${id}.json`, RepoTags: null, Layers: ['aaa/layer.tar', 'bbb/layer.tar'] }
          ])
        )
      }
    ])
    const image = await readSavedImage(file, tmp())
    expect(image.config.equals(config)).toBe(true)
    expect(image.layers).toHaveLength(2)
    for (const [i, original] of [l1, empty].entries()) {
      const layer = image.layers[i]
      const stored = readFileSync(layer.file)
      expect(layer).toMatchObject({
        mediaType: LAYER_MEDIA_TYPES.gzip,
        digest: sha(stored),
        size: stored.length,
        diffId: sha(original)
      })
      expect(gunzipSync(stored).equals(original)).toBe(true)
    }
  })

  it('the OCI layout: blobs by digest, legacy paths as symlinks, a compressed blob kept as it is', async () => {
    const l1 = await layerTar('a.txt', 'one')
    const l2 = gzipSync(await layerTar('b.txt', 'two'))
    const config = configFor([l1, gunzipSync(l2)], 'arm64')
    const blob = (b: Buffer): string => `blobs/sha256/${sha(b).slice(7)}`
    const file = await writeTar([
      { name: 'oci-layout', content: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
      { name: blob(l1), content: l1 },
      { name: blob(l2), content: l2 },
      { name: blob(config), content: config },
      { name: 'ccc/layer.tar', linkname: `../${blob(l1)}` },
      {
        name: 'manifest.json',
        content: Buffer.from(
          JSON.stringify([{ Config: blob(config), Layers: ['ccc/layer.tar', blob(l2)] }])
        )
      }
    ])
    const image = await readSavedImage(file, tmp())
    expect(image.config.equals(config)).toBe(true)
    expect(image.layers[0]).toMatchObject({ mediaType: LAYER_MEDIA_TYPES.gzip, diffId: sha(l1) })
    expect(image.layers[1]).toMatchObject({
      mediaType: LAYER_MEDIA_TYPES.gzip,
      digest: sha(l2),
      size: l2.length,
      diffId: undefined
    })
    expect(readFileSync(image.layers[1].file).equals(l2)).toBe(true)
  })

  it('refuses a layer that does not match the config (diff_id)', async () => {
    const l1 = await layerTar('a.txt', 'one')
    const config = configFor([await layerTar('a.txt', 'other')])
    const file = await writeTar([
      { name: 'aaa/layer.tar', content: l1 },
      { name: 'c.json', content: config },
      {
        name: 'manifest.json',
        content: Buffer.from(JSON.stringify([{ Config: 'c.json', Layers: ['aaa/layer.tar'] }]))
      }
    ])
    await expect(readSavedImage(file, tmp())).rejects.toThrow(
      /layer 1 from docker save \(aaa\/layer.tar\) hashes to sha256:\w+, but the image config names/
    )
  })

  it('makes an OCI image manifest naming the config and the stored layers', () => {
    const config = Buffer.from('{"os":"linux"}')
    const m = JSON.parse(
      imageManifest(
        {
          config,
          layers: [{ file: 'f', digest: 'sha256:ab', size: 3, mediaType: LAYER_MEDIA_TYPES.gzip }]
        },
        sha(config)
      ).toString()
    )
    expect(m).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: CONFIG_MEDIA_TYPE, digest: sha(config), size: config.length },
      layers: [{ mediaType: LAYER_MEDIA_TYPES.gzip, digest: 'sha256:ab', size: 3 }]
    })
  })
})

describe('pushing a saved image', () => {
  it('uploads each distinct blob once, then PUTs the manifest by its digest (no tag)', async () => {
    const calls: string[] = []
    const client = {
      registry: 'r.example',
      uploadBlob: async (_repo: string, blob: Buffer | { digest: string }) => {
        calls.push(`blob ${Buffer.isBuffer(blob) ? sha(blob) : blob.digest}`)
        return Buffer.isBuffer(blob) ? 'exists' : 'uploaded'
      },
      putManifest: async (_repo: string, ref: string, bytes: Buffer) => {
        calls.push(`manifest ${ref}`)
        return sha(bytes)
      },
      headManifest: async () => undefined
    } as unknown as RegistryClient
    const config = Buffer.from('{}')
    const layer = { file: 'f', digest: 'sha256:1', size: 1, mediaType: LAYER_MEDIA_TYPES.gzip }
    const image = { config, layers: [layer, { ...layer }] }
    const pushed = await pushSavedImage(client, 'o/i', image)
    expect(pushed.digest).toBe(sha(imageManifest(image, sha(config))))
    expect(calls).toEqual(['blob sha256:1', `blob ${sha(config)}`, `manifest ${pushed.digest}`])
    expect(pushed).toMatchObject({ uploaded: 1, existing: 1 })
  })

  it('fails when the registry says it stored another digest', async () => {
    const client = {
      registry: 'r.example',
      uploadBlob: async () => 'exists',
      putManifest: async () => undefined,
      headManifest: async () => undefined
    } as unknown as RegistryClient
    await expect(
      pushSavedImage(client, 'o/i', { config: Buffer.from('{}'), layers: [] })
    ).rejects.toThrow(/did not store the manifest sha256:\w+ in o\/i \(it answers nothing\)/)
  })
})
