/**
 * The format of `docker save`'s stream, read as it comes out of docker (no image tar on disk):
 *
 *   - Engine 25+ (OCI layout: `blobs/sha256/<hex>`): an uncompressed layer is named by its diff_id;
 *     a compressed blob (containerd image store: gzip or zstd) by its own digest.
 *   - Older engines (`<id>/layer.tar`, named by no digest): the directory's `json`, read first,
 *     tells which layer it is (legacy-layers.ts); a layer it does not tell is named by nothing.
 *
 * Every layer entry is handed, as it streams, to the caller's `onLayer` (what to do with a layer
 * is push policy: publish/save-layers.ts), which reads it to the end and gives its blob. Small
 * entries (JSON, small layers) are kept in memory. manifest.json (written by every engine, last)
 * then gives the config and the layer order; for an image of several platforms (containerd image
 * store), index.json and the indexes it names give one image per platform (save-index.ts).
 */
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { extract, type Header } from 'tar-stream'
import type { ImageConfigJson } from '../oci/descriptor.js'
import { sha256 } from '../oci/digest.js'
import type { LayerBlob } from '../oci/layer-blob.js'
import { parsePlatform, samePlatform, type Platform } from '../oci/platform.js'
import { chainIds, legacyLayerIndex } from './legacy-layers.js'
import { imagesInIndex, type ImagePaths } from './save-index.js'

/** A layer's entry in the save, and what its name or bytes tell of it. */
export interface LayerEntry {
  /** The uncompressed tar's sha256 (one of the image's diff_ids), when the save tells it. */
  diffId?: string
  /** How the blob is compressed (none: a tar). */
  compression?: 'gzip' | 'zstd'
  /** The compressed blob's digest, when its name in the save (or its bytes) gives it. */
  digest?: string
  size: number
  /** The entry's bytes from the first; the handler reads them to the end. */
  content: AsyncIterable<Buffer>
}

/** A layer entry's blob, as the handler made or found it. */
export type LayerHandler = (entry: LayerEntry) => Promise<LayerBlob>

/** One image of the save: its config's bytes, its layers in order, its platform. */
export interface SavedImage {
  config: Buffer
  layers: LayerBlob[]
  platform: Platform
}

/** Entries up to this size that are not known layers (JSON, small layers) are kept in memory. */
const SMALL = 8 * 1024 * 1024

/** The compression of a blob, told from its first bytes. */
export function compression(head: Buffer): 'gzip' | 'zstd' | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip'
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd'
  return undefined
}

async function* withHead(head: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (head.length) yield head
  for (;;) {
    const next = await rest.next()
    if (next.done) return
    yield next.value
  }
}

/** The first ≥ 512 bytes of an entry, and an iterator of the rest. */
async function peek(
  entry: AsyncIterable<Buffer>
): Promise<{ head: Buffer; rest: AsyncIterator<Buffer> }> {
  const it = entry[Symbol.asyncIterator]()
  const chunks: Buffer[] = []
  let length = 0
  while (length < 512) {
    const next = await it.next()
    if (next.done) break
    chunks.push(next.value)
    length += next.value.length
  }
  return { head: Buffer.concat(chunks), rest: it }
}

/** Reads an entry to the end, keeping nothing. */
export async function drain(entry: AsyncIterable<Buffer>): Promise<void> {
  for await (const chunk of entry) void chunk
}

/** What one reading of the save found: small entries, links, and the blob of each layer entry. */
export class SaveArchive {
  private readonly small = new Map<string, Buffer>()
  private readonly links = new Map<string, string>()
  private readonly byPath = new Map<string, LayerBlob>()
  /** Engines before 25: `<id>/` → the diff_id its layer.tar holds, told from `<id>/json`. */
  private readonly legacy = new Map<string, string>()
  private readonly diffIds: Set<string>
  private readonly chain: string[]

  constructor(private readonly layerDiffIds: string[]) {
    this.diffIds = new Set(layerDiffIds)
    this.chain = chainIds(layerDiffIds)
  }

  /** One entry of the tar stream: kept, linked, or handed to `onLayer`. */
  async take(header: Header, stream: AsyncIterable<Buffer>, onLayer: LayerHandler): Promise<void> {
    const name = path.posix.normalize(header.name)
    const size = header.size ?? 0
    if (header.type === 'symlink' || header.type === 'link') {
      const target = header.linkname ?? ''
      this.links.set(
        name,
        header.type === 'symlink'
          ? path.posix.normalize(path.posix.join(path.posix.dirname(name), target))
          : path.posix.normalize(target)
      )
      return drain(stream)
    }
    if (header.type !== 'file') return drain(stream)
    const blob = /^blobs\/(sha256)\/([0-9a-f]{64})$/.exec(name)
    const digest = blob ? `${blob[1]}:${blob[2]}` : undefined
    const legacyLayer = /^([0-9a-f]{64})\/layer\.tar$/.exec(name)
    const told = digest ?? (legacyLayer ? this.legacy.get(legacyLayer[1]) : undefined)
    if (told && this.diffIds.has(told)) {
      // An uncompressed layer named by its diff_id (engine 25+, classic store), or whose diff_id
      // its directory's json told (engines before 25).
      this.byPath.set(name, await onLayer({ diffId: told, size, content: stream }))
      return
    }
    if (size <= SMALL) return this.keep(name, stream)
    const { head, rest } = await peek(stream)
    const kind = compression(head)
    // A compressed blob (named by its digest in the OCI layout), or an uncompressed layer whose
    // name says nothing (engines before 25).
    const entry = { compression: kind, digest: kind && digest, size, content: withHead(head, rest) }
    this.byPath.set(name, await onLayer(entry))
  }

  private async keep(name: string, stream: AsyncIterable<Buffer>): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of stream) chunks.push(chunk)
    const bytes = Buffer.concat(chunks)
    this.small.set(name, bytes)
    const v1 = /^([0-9a-f]{64})\/json$/.exec(name)
    if (v1) {
      const index = legacyLayerIndex(v1[1], bytes.toString('utf8'), this.chain)
      if (index !== undefined) this.legacy.set(v1[1], this.layerDiffIds[index])
    }
  }

  private resolve(p: string): string {
    let name = path.posix.normalize(p)
    for (let i = 0; i < 10 && this.links.has(name); i++) name = this.links.get(name)!
    return name
  }

  /**
   * The images of the save, and the platforms it lists without their content. A layer kept in
   * memory (an empty one is 1024 zero bytes) is handed to `onSmallLayer` now.
   */
  async images(
    onSmallLayer: LayerHandler
  ): Promise<{ images: SavedImage[]; missingPlatforms: string[] }> {
    // An image of several platforms (containerd image store): index.json names its index, and
    // manifest.json lists only the engine's own platform (Docker 26) or each of them (later ones).
    const indexed = imagesInIndex(
      p => this.small.get(this.resolve(p)),
      p => this.small.has(this.resolve(p)) || this.byPath.has(this.resolve(p))
    )
    const paths = indexed.complete.length > 1 ? indexed.complete : [this.manifestImage()]
    const images: SavedImage[] = []
    for (const p of paths) images.push(await this.imageAt(p, onSmallLayer))
    const missingPlatforms = indexed.incomplete.filter(
      p => !images.some(i => samePlatform(i.platform, parsePlatform(p)))
    )
    return { images, missingPlatforms }
  }

  /** The one image manifest.json lists. */
  private manifestImage(): ImagePaths {
    const manifestJson = this.small.get('manifest.json')
    if (!manifestJson) throw new Error('docker save wrote no manifest.json')
    const entries = JSON.parse(manifestJson.toString('utf8')) as {
      Config: string
      Layers: string[]
    }[]
    if (entries.length !== 1) {
      throw new Error(`docker save wrote ${entries.length} images in manifest.json, expected 1`)
    }
    return { config: entries[0].Config, layers: entries[0].Layers }
  }

  /** The image whose config and layers are at these paths of the save. */
  private async imageAt(at: ImagePaths, onSmallLayer: LayerHandler): Promise<SavedImage> {
    const config = this.small.get(this.resolve(at.config))
    if (!config) throw new Error(`docker save wrote no config ${at.config}`)
    const parsed = JSON.parse(config.toString('utf8')) as ImageConfigJson
    const configDiffIds = parsed.rootfs?.diff_ids ?? []
    const layers: LayerBlob[] = []
    for (const [i, layerPath] of at.layers.entries()) {
      const layer = await this.layerAt(layerPath, onSmallLayer)
      if (layer.diffId && configDiffIds[i] && layer.diffId !== configDiffIds[i]) {
        throw new Error(
          `layer ${i + 1} from docker save (${layerPath}) hashes to ${layer.diffId}, but the image config names ${configDiffIds[i]}`
        )
      }
      layers.push(layer)
    }
    const listed = at.platform
    const platform = parsed.architecture
      ? { os: parsed.os ?? '', architecture: parsed.architecture, variant: parsed.variant }
      : { os: listed?.os ?? '', architecture: listed?.architecture ?? '', variant: listed?.variant }
    if (!platform.variant) delete platform.variant
    return { config, layers, platform }
  }

  private async layerAt(layerPath: string, onSmallLayer: LayerHandler): Promise<LayerBlob> {
    const name = this.resolve(layerPath)
    const streamed = this.byPath.get(name)
    if (streamed) return streamed
    const bytes = this.small.get(name)
    if (!bytes) throw new Error(`docker save wrote no layer ${layerPath}`)
    const kind = compression(bytes)
    // The blob's digest when compressed, its diff_id when not.
    const digest = sha256(bytes)
    const content = Readable.from([bytes])
    const layer = await onSmallLayer(
      kind
        ? { compression: kind, digest, size: bytes.length, content }
        : { diffId: digest, size: bytes.length, content }
    )
    this.byPath.set(name, layer)
    return layer
  }
}

/**
 * Reads the save once: every layer entry is handed to `onLayer` as it streams, in the save's
 * order; the rest is kept for `images()`. When reading fails, docker's output is closed.
 */
export async function readSave(
  save: () => { stdout: Readable; done: Promise<void> },
  diffIds: string[],
  onLayer: LayerHandler
): Promise<SaveArchive> {
  const archive = new SaveArchive(diffIds)
  const ex = extract()
  const { stdout, done } = save()
  stdout.on('error', error => ex.destroy(error))
  stdout.pipe(ex)
  try {
    for await (const entry of ex) {
      await archive.take(entry.header, entry as unknown as AsyncIterable<Buffer>, onLayer)
    }
    await done
  } catch (error) {
    stdout.destroy()
    throw error
  }
  return archive
}
