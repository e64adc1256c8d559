import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { pack } from 'tar-stream'
import { readSave, type LayerEntry } from '../../../src/docker/save-archive.js'

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex')
const blob = (b: Buffer): string => `blobs/sha256/${sha(b).slice(7)}`

async function tarOf(entries: { name: string; data: Buffer }[]): Promise<Buffer> {
  const p = pack()
  for (const e of entries) p.entry({ name: e.name, size: e.data.length }, e.data)
  p.finalize()
  const chunks: Buffer[] = []
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c)
  return Buffer.concat(chunks)
}

async function bytesOf(entry: LayerEntry): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of entry.content) chunks.push(c)
  return Buffer.concat(chunks)
}

describe('the format of docker save', () => {
  it('tells each layer entry by its name or bytes, and gives the images in manifest.json order', async () => {
    const tarLayer = Buffer.alloc(1024, 7) // a tar named by its diff_id (engine 25+, classic store)
    const gzLayer = gzipSync(Buffer.alloc(2048, 1)) // a compressed blob (containerd store)
    const config = Buffer.from(
      JSON.stringify({
        os: 'linux',
        architecture: 'arm',
        variant: 'v7',
        rootfs: { diff_ids: [sha(tarLayer), sha(Buffer.alloc(2048, 1))] }
      })
    )
    const manifest = [{ Config: blob(config), Layers: [blob(tarLayer), blob(gzLayer)] }]
    const tar = await tarOf([
      { name: blob(tarLayer), data: tarLayer },
      { name: blob(gzLayer), data: gzLayer },
      { name: blob(config), data: config },
      { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) }
    ])
    const streamed: { entry: LayerEntry; bytes: Buffer }[] = []
    const archive = await readSave(
      () => ({ stdout: Readable.from([tar]), done: Promise.resolve() }),
      [sha(tarLayer), sha(Buffer.alloc(2048, 1))],
      async entry => {
        streamed.push({ entry, bytes: await bytesOf(entry) })
        return { digest: 'sha256:made', size: 1, mediaType: 'm', diffId: entry.diffId }
      }
    )
    // The layer named by a diff_id streams to the handler; the small compressed one is kept.
    expect(streamed).toHaveLength(1)
    expect(streamed[0].entry).toMatchObject({ diffId: sha(tarLayer), size: 1024 })
    expect(streamed[0].bytes.equals(tarLayer)).toBe(true)

    const small: LayerEntry[] = []
    const { images, missingPlatforms } = await archive.images(async entry => {
      small.push(entry)
      expect((await bytesOf(entry)).equals(gzLayer)).toBe(true)
      return { digest: entry.digest!, size: entry.size, mediaType: 'gz' }
    })
    expect(small).toMatchObject([
      { compression: 'gzip', digest: sha(gzLayer), size: gzLayer.length }
    ])
    expect(missingPlatforms).toEqual([])
    expect(images).toHaveLength(1)
    expect(images[0].config.equals(config)).toBe(true)
    expect(images[0].platform).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' })
    expect(images[0].layers.map(l => l.digest)).toEqual(['sha256:made', sha(gzLayer)])
  })

  it('closes docker output and fails when the stream breaks', async () => {
    const stdout = new Readable({ read() {} })
    const failing = readSave(
      () => ({ stdout, done: new Promise<void>(() => undefined) }),
      [],
      async () => ({ digest: '', size: 0, mediaType: '' })
    )
    stdout.destroy(new Error('docker save died'))
    await expect(failing).rejects.toThrow('docker save died')
    expect(stdout.destroyed).toBe(true)
  })
})
