/**
 * Reading what `docker save -o FILE IMAGE_ID` wrote (any engine: the classic store writes
 * uncompressed layer tars, the containerd store its blobs, compressed or not; both list them in
 * manifest.json): every layer is gzip-compressed into a temporary file while it is hashed
 * (uncompressed: checked against the config's diff_ids; compressed: the blob digest), one pass
 * each. The config is kept byte for byte, so the image pushed has the image ID of the one built.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { extract } from 'tar-stream'
import { LAYER_MEDIA_TYPES } from '../oci/media-types.js'
import type { FileBlob } from '../registry/client.js'

export interface SavedLayer extends FileBlob {
  mediaType: string
  /** sha256 of the uncompressed tar (the config's diff_id); undefined when it came compressed. */
  diffId?: string
}

export interface SavedImage {
  config: Buffer
  layers: SavedLayer[]
}

/** Entries up to this size that are not layers (JSON, VERSION files) are kept in memory. */
const SMALL = 16 * 1024 * 1024

function compression(head: Buffer): 'gzip' | 'zstd' | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip'
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd'
  return undefined
}

function isTar(head: Buffer): boolean {
  return head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar'
}

function sha256Hex(hash: ReturnType<typeof createHash>): string {
  return 'sha256:' + hash.digest('hex')
}

/**
 * Writes one layer to `dest`: gzip-compressed when it comes uncompressed, as it is otherwise.
 * `head` is the start of the stream, already read to tell which.
 */
async function storeLayer(
  head: Buffer,
  rest: AsyncIterable<Buffer>,
  dest: string
): Promise<SavedLayer> {
  const kind = compression(head)
  const raw = createHash('sha256')
  const stored = createHash('sha256')
  let size = 0
  async function* source(): AsyncGenerator<Buffer> {
    raw.update(head)
    yield head
    for await (const chunk of rest) {
      raw.update(chunk)
      yield chunk
    }
  }
  async function* counted(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of chunks) {
      stored.update(chunk)
      size += chunk.length
      yield chunk
    }
  }
  if (kind) await pipeline(source, counted, createWriteStream(dest))
  else await pipeline(source, createGzip(), counted, createWriteStream(dest))
  return {
    file: dest,
    digest: sha256Hex(stored),
    size,
    mediaType: LAYER_MEDIA_TYPES[kind ?? 'gzip'],
    diffId: kind ? undefined : sha256Hex(raw)
  }
}

/** The first chunk of an entry (at least 512 bytes where there are), and the rest of it. */
async function peek(
  stream: AsyncIterable<Buffer>
): Promise<{ head: Buffer; rest: AsyncIterable<Buffer> }> {
  const iterator = stream[Symbol.asyncIterator]()
  const chunks: Buffer[] = []
  let length = 0
  let done = false
  while (length < 512) {
    const next = await iterator.next()
    if (next.done) {
      done = true
      break
    }
    chunks.push(next.value)
    length += next.value.length
  }
  const rest: AsyncIterable<Buffer> = {
    [Symbol.asyncIterator]: () =>
      done ? { next: async () => ({ done: true, value: undefined }) } : iterator
  }
  return { head: Buffer.concat(chunks), rest }
}

async function collect(head: Buffer, rest: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks = [head]
  for await (const chunk of rest) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/**
 * Reads the tar `docker save` wrote: layers go to files in `workDir` (compressed), everything else
 * small stays in memory; then manifest.json says which file is the config and which the layers.
 */
export async function readSavedImage(tarFile: string, workDir: string): Promise<SavedImage> {
  const layers = new Map<string, SavedLayer>()
  const small = new Map<string, Buffer>()
  const links = new Map<string, string>()
  let n = 0
  const ex = extract()
  const source = createReadStream(tarFile)
  source.on('error', error => ex.destroy(error))
  source.pipe(ex)
  for await (const entry of ex) {
    const name = path.posix.normalize(entry.header.name)
    if (entry.header.type === 'symlink' || entry.header.type === 'link') {
      const target = entry.header.linkname ?? ''
      links.set(
        name,
        entry.header.type === 'symlink'
          ? path.posix.normalize(path.posix.join(path.posix.dirname(name), target))
          : path.posix.normalize(target)
      )
      entry.resume()
      continue
    }
    if (entry.header.type !== 'file') {
      entry.resume()
      continue
    }
    const { head, rest } = await peek(entry as AsyncIterable<Buffer>)
    const size = entry.header.size ?? 0
    if (isTar(head) || compression(head) || size > SMALL) {
      layers.set(name, await storeLayer(head, rest, path.join(workDir, `layer-${n++}`)))
    } else {
      small.set(name, await collect(head, rest))
    }
  }

  const resolve = (p: string): string => {
    let name = path.posix.normalize(p)
    for (let i = 0; i < 10 && links.has(name); i++) name = links.get(name)!
    return name
  }
  const manifestJson = small.get('manifest.json')
  if (!manifestJson) throw new Error('docker save wrote no manifest.json')
  const entries = JSON.parse(manifestJson.toString('utf8')) as {
    Config: string
    Layers: string[]
  }[]
  if (entries.length !== 1) {
    throw new Error(`docker save wrote ${entries.length} images in manifest.json, expected 1`)
  }
  const config = small.get(resolve(entries[0].Config))
  if (!config) throw new Error(`docker save wrote no config ${entries[0].Config}`)
  const diffIds =
    (JSON.parse(config.toString('utf8')) as { rootfs?: { diff_ids?: string[] } }).rootfs
      ?.diff_ids ?? []
  const result: SavedLayer[] = []
  for (const [i, layerPath] of entries[0].Layers.entries()) {
    const name = resolve(layerPath)
    let layer = layers.get(name)
    if (!layer) {
      // A small layer (an empty one is 1024 zero bytes, with no tar magic) was kept in memory.
      const bytes = small.get(name)
      if (!bytes) throw new Error(`docker save wrote no layer ${layerPath}`)
      layer = await storeLayer(
        bytes,
        Readable.from([] as Buffer[]),
        path.join(workDir, `layer-${n++}`)
      )
      layers.set(name, layer)
    }
    if (layer.diffId && diffIds[i] && layer.diffId !== diffIds[i]) {
      throw new Error(
        `layer ${i + 1} from docker save (${layerPath}) hashes to ${layer.diffId}, but the image config names ${diffIds[i]}`
      )
    }
    result.push(layer)
  }
  return { config, layers: result }
}
