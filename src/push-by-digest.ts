/**
 * push-by-digest without buildx: the image is pushed without any tag. `docker push` cannot do that
 * (it pushes a tag, and a tag once pushed stays visible: the distribution API deletes manifests by
 * digest only, which would delete the image too). So the action takes the image from the engine
 * with `docker save` and uploads it itself through the registry client:
 *
 *   1. `docker save -o FILE IMAGE_ID` (any engine: the classic store writes uncompressed layer
 *      tars, the containerd store its blobs, compressed or not; both list them in manifest.json);
 *   2. every layer is gzip-compressed into a temporary file while it is hashed (uncompressed:
 *      checked against the config's diff_ids; compressed: the blob digest), one pass each;
 *   3. layers (streamed from their files), then the config, are uploaded unless the repository has
 *      them; then an OCI image manifest is PUT by its digest — no tag is created.
 *
 * The config is uploaded as docker has it, byte for byte, so `docker pull IMAGE@DIGEST` gives an
 * image with the same image ID as the one built.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import { extract } from 'tar-stream'
import { MEDIA_TYPES, sha256, type FileBlob, type RegistryClient } from './registry.js'
import { mapLimit } from './tags.js'

export const LAYER_MEDIA_TYPES = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd'
} as const
export const CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json'

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

/** The OCI image manifest of a saved image. */
export function imageManifest(image: SavedImage, configDigest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: CONFIG_MEDIA_TYPE, digest: configDigest, size: image.config.length },
      layers: image.layers.map(l => ({ mediaType: l.mediaType, digest: l.digest, size: l.size }))
    })
  )
}

export interface PushedByDigest {
  digest: string
  manifest: Buffer
  /** Blobs uploaded, and blobs the repository had already. */
  uploaded: number
  existing: number
}

/**
 * Uploads the saved image's layers (a few at a time) and config unless the repository has them,
 * then PUTs its manifest by digest, or under `tag`. Returns the digest the registry stored it
 * under, which must be the sha256 of the manifest sent.
 */
export async function pushSavedImage(
  client: RegistryClient,
  repository: string,
  image: SavedImage,
  concurrency = 3,
  /** A tag to store the manifest under; by its digest (no tag) when not given. */
  tag?: string
): Promise<PushedByDigest> {
  // The config's own hash: with the containerd image store the image ID is not the config's.
  const configDigest = sha256(image.config)
  const unique = image.layers.filter(
    (l, i) => image.layers.findIndex(o => o.digest === l.digest) === i
  )
  const how = await mapLimit(unique, concurrency, layer => client.uploadBlob(repository, layer))
  how.push(await client.uploadBlob(repository, image.config))
  const manifest = imageManifest(image, configDigest)
  const digest = sha256(manifest)
  const stored =
    (await client.putManifest(repository, tag ?? digest, manifest, MEDIA_TYPES.ociManifest)) ??
    (await client.headManifest(repository, tag ?? digest))?.digest
  if (stored !== digest) {
    throw new Error(
      `${client.registry} did not store the manifest ${digest} in ${repository} (it answers ${stored ?? 'nothing'})`
    )
  }
  return {
    digest,
    manifest,
    uploaded: how.filter(h => h === 'uploaded' || h === 'mounted').length,
    existing: how.filter(h => h === 'exists').length
  }
}

/** A temporary folder for the saved image; `dispose` removes it. */
export function workFolder(root: string): { dir: string; dispose: () => void } {
  const dir = mkdtempSync(path.join(root, 'publish-container-save-'))
  return { dir, dispose: () => rmSync(dir, { recursive: true, force: true }) }
}
