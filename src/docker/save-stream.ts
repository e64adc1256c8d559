/**
 * `docker save` read as it comes out of docker (no image tar on disk), knowing beforehand, from
 * `docker image inspect`, the image's layer diff_ids and which of them the repository holds already:
 *
 *   - Engine 25+ (OCI layout: `blobs/sha256/<hex>`): an uncompressed layer is named by its diff_id,
 *     so a known one is drained unread, and a new one is gzip-compressed on every core
 *     (gzip-parallel.ts) straight into one temporary file, hashed on the way; a compressed blob
 *     (containerd image store: gzip or zstd, named by its own digest) is used as it is: drained if
 *     the repository has it, else copied to a file.
 *   - Older engines (`<id>/layer.tar`, named by no digest): the directory's `json`, read first,
 *     tells which layer it is (legacy-layers.ts), so a layer is drained or compressed as above.
 *     Only a layer it does not tell is hashed while it is copied to a raw file; if known, the
 *     file is then deleted, else compressed from there in the background while the save goes on.
 *
 * manifest.json (written by every engine, last) then gives the config and the layer order; for an
 * image of several platforms (containerd image store), index.json and the indexes it names give
 * one image per platform, attestation manifests skipped. Each
 * finished new layer is handed to `onLayer` at once, so its upload starts while the save goes on.
 * A full disk fails with the folder and the space it needs.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream, rmSync, type WriteStream } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { extract } from 'tar-stream'
import { sha256 } from '../oci/digest.js'
import {
  isAttestation,
  parseJson,
  type ImageConfigJson,
  type ManifestJson
} from '../oci/descriptor.js'
import { IMAGE_MANIFEST_TYPES, INDEX_TYPES, LAYER_MEDIA_TYPES } from '../oci/media-types.js'
import { platformString, type Platform } from '../oci/platform.js'
import { UserError } from '../util/errors.js'
import { gzipParallel } from '../util/gzip-parallel.js'
import { chainIds, legacyLayerIndex } from './legacy-layers.js'

/** A layer blob: in the repository already (no file), or in a temporary file to upload. */
export interface Layer {
  digest: string
  size: number
  mediaType: string
  /** The uncompressed tar's sha256 (the config's diff_id), when known. */
  diffId?: string
  file?: string
}

export interface KnownLayers {
  /**
   * The blob the repository holds for this diff_id, if it holds one that is proven to be that
   * layer (publish/known-layers.ts; the proof may still be running: the save waits for it).
   */
  byDiffId(diffId: string): Promise<Layer | undefined>
  /**
   * The blob the repository holds for this diff_id by its own word, while its proof may still run
   * (byDiffId settles it); none once the proof failed. A layer so claimed is drained unread, and
   * if its proof then fails the save runs once more, compressing it.
   */
  claimed?(diffId: string): Layer | undefined
  /** Whether the repository holds this (compressed) blob. */
  hasBlob(digest: string): Promise<boolean>
}

/** One image of the save: its config's bytes, its layers in order, its platform. */
export interface SavedImage {
  config: Buffer
  layers: Layer[]
  platform: Platform
}

export interface StreamedImage {
  /** One image, or one per platform for an image of several (containerd image store). */
  images: SavedImage[]
  /** Platforms the saved image lists but whose content the engine does not hold. */
  missingPlatforms: string[]
  /** Layers compressed or copied to files, and layers drained because the registry has them. */
  compressedLayers: number
  skippedLayers: number
}

/** Entries up to this size that are not known layers (JSON, small layers) are kept in memory. */
const SMALL = 8 * 1024 * 1024

function compression(head: Buffer): 'gzip' | 'zstd' | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip'
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd'
  return undefined
}

/** A file being written, with ENOSPC turned into a message that names the folder. */
class Sink {
  private readonly out: WriteStream
  private failure: Error | undefined
  readonly hash = createHash('sha256')
  size = 0
  constructor(
    readonly file: string,
    private readonly need: () => number
  ) {
    this.out = createWriteStream(file)
    this.out.on('error', error => (this.failure = this.explain(error)))
  }
  private explain(error: NodeJS.ErrnoException): Error {
    if (error.code !== 'ENOSPC') return error
    return new UserError(
      `no space left in ${path.dirname(path.dirname(this.file))} (RUNNER_TEMP) for the compressed ` +
        `layers: about ${Math.ceil(this.need() / 1024 / 1024)} MB free is needed there. Free some ` +
        'space on the runner (e.g. docker system prune) or point RUNNER_TEMP at a larger disk.'
    )
  }
  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure
    this.hash.update(chunk)
    this.size += chunk.length
    if (!this.out.write(chunk)) {
      await new Promise<void>(resolve => {
        const done = (): void => {
          this.out.off('drain', done)
          this.out.off('error', done)
          resolve()
        }
        this.out.on('drain', done)
        this.out.on('error', done)
      })
    }
    if (this.failure) throw this.failure
  }
  async close(): Promise<{ digest: string; size: number }> {
    await new Promise<void>((resolve, reject) => {
      this.out.end((error?: Error | null) => (error ? reject(this.explain(error)) : resolve()))
    })
    if (this.failure) throw this.failure
    return { digest: 'sha256:' + this.hash.digest('hex'), size: this.size }
  }
}

function emptyIterator(): AsyncIterator<Buffer> {
  return { next: async () => ({ done: true, value: undefined }) }
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

export async function streamSavedImage(options: {
  save: () => { stdout: Readable; done: Promise<void> }
  diffIds: string[]
  workDir: string
  known: KnownLayers
  /** A new layer's file is complete: start its upload. */
  onLayer?: (layer: Layer) => void
  concurrency?: number
  /** The second reading of the save, after a claimed layer failed its proof. */
  again?: boolean
}): Promise<StreamedImage> {
  const { workDir, known } = options
  const concurrency =
    options.concurrency ?? Math.max(1, os.availableParallelism?.() ?? os.cpus().length)
  const diffIds = new Set(options.diffIds)
  const chain = chainIds(options.diffIds)
  /** Engines before 25: `<id>/` → the diff_id its layer.tar holds, told from `<id>/json`. */
  const legacy = new Map<string, string>()
  const byPath = new Map<string, Layer>()
  const small = new Map<string, Buffer>()
  const links = new Map<string, string>()
  const background: Promise<void>[] = []
  /** Proofs of drained layers: '' when proven, else the diff_id. */
  const proofs: Promise<string>[] = []
  let n = 0
  let compressedLayers = 0
  let skippedLayers = 0
  let rawBytesToCompress = 0
  const need = (): number => rawBytesToCompress

  /** Compresses `source` (uncompressed tar) into a new file. */
  const compress = async (source: AsyncIterable<Buffer>, expected?: string): Promise<Layer> => {
    const sink = new Sink(path.join(workDir, `layer-${n++}.gz`), need)
    const raw = await gzipParallel(source, chunk => sink.write(chunk), { concurrency })
    const blob = await sink.close()
    if (expected && raw.rawDigest !== expected) {
      throw new Error(`docker save gave a layer that hashes to ${raw.rawDigest}, not ${expected}`)
    }
    compressedLayers++
    const layer = {
      ...blob,
      mediaType: LAYER_MEDIA_TYPES.gzip,
      diffId: raw.rawDigest,
      file: sink.file
    }
    options.onLayer?.(layer)
    return layer
  }

  /** Copies an already compressed blob to a file as it is. */
  const copy = async (
    head: Buffer,
    rest: AsyncIterator<Buffer>,
    kind: 'gzip' | 'zstd'
  ): Promise<Layer> => {
    const sink = new Sink(path.join(workDir, `layer-${n++}.${kind}`), need)
    for await (const chunk of withHead(head, rest)) await sink.write(chunk)
    const blob = await sink.close()
    compressedLayers++
    const layer = { ...blob, mediaType: LAYER_MEDIA_TYPES[kind], file: sink.file }
    options.onLayer?.(layer)
    return layer
  }

  const ex = extract()
  const { stdout, done } = options.save()
  stdout.on('error', error => ex.destroy(error))
  stdout.pipe(ex)
  const drain = async (entry: AsyncIterable<Buffer>): Promise<void> => {
    for await (const chunk of entry) void chunk
  }

  try {
    for await (const entry of ex) {
      const stream = entry as unknown as AsyncIterable<Buffer>
      const name = path.posix.normalize(entry.header.name)
      const size = entry.header.size ?? 0
      if (entry.header.type === 'symlink' || entry.header.type === 'link') {
        const target = entry.header.linkname ?? ''
        links.set(
          name,
          entry.header.type === 'symlink'
            ? path.posix.normalize(path.posix.join(path.posix.dirname(name), target))
            : path.posix.normalize(target)
        )
        await drain(stream)
        continue
      }
      if (entry.header.type !== 'file') {
        await drain(stream)
        continue
      }
      const blob = /^blobs\/(sha256)\/([0-9a-f]{64})$/.exec(name)
      const digest = blob ? `${blob[1]}:${blob[2]}` : undefined
      const legacyLayer = /^([0-9a-f]{64})\/layer\.tar$/.exec(name)
      const told = digest ?? (legacyLayer ? legacy.get(legacyLayer[1]) : undefined)
      if (told && diffIds.has(told)) {
        // An uncompressed layer named by its diff_id (engine 25+, classic store), or whose
        // diff_id its directory's json told (engines before 25).
        const claim = known.claimed?.(told)
        const have = claim ?? (await known.byDiffId(told))
        if (have) {
          await drain(stream)
          skippedLayers++
          byPath.set(name, have)
          // Drained while its proof runs: the proof is awaited once the save is read.
          if (claim) proofs.push(known.byDiffId(told).then(proven => (proven ? '' : told)))
        } else {
          rawBytesToCompress += size
          byPath.set(name, await compress(stream, told))
        }
        continue
      }
      if (size <= SMALL) {
        const chunks: Buffer[] = []
        for await (const chunk of stream) chunks.push(chunk)
        small.set(name, Buffer.concat(chunks))
        const v1 = /^([0-9a-f]{64})\/json$/.exec(name)
        if (v1) {
          const index = legacyLayerIndex(v1[1], small.get(name)!.toString('utf8'), chain)
          if (index !== undefined) legacy.set(v1[1], options.diffIds[index])
        }
        continue
      }
      const { head, rest } = await peek(stream)
      const kind = compression(head)
      if (kind && digest) {
        // A compressed blob (containerd image store), used as it is.
        if (await known.hasBlob(digest)) {
          await drain(withHead(Buffer.alloc(0), rest))
          skippedLayers++
          byPath.set(name, { digest, size, mediaType: LAYER_MEDIA_TYPES[kind] })
        } else {
          rawBytesToCompress += size
          byPath.set(name, await copy(head, rest, kind))
        }
        continue
      }
      if (kind) {
        rawBytesToCompress += size
        byPath.set(name, await copy(head, rest, kind))
        continue
      }
      // An uncompressed layer whose name says nothing (engines before 25): hash it while it is
      // copied to a raw file; drop the file if the repository has the layer, else compress it
      // from there in the background.
      const rawFile = path.join(workDir, `raw-${n++}.tar`)
      const sink = new Sink(rawFile, need)
      rawBytesToCompress += size
      for await (const chunk of withHead(head, rest)) await sink.write(chunk)
      const { digest: diffId } = await sink.close()
      const have = await known.byDiffId(diffId)
      if (have) {
        rmSync(rawFile, { force: true })
        rawBytesToCompress -= size
        skippedLayers++
        byPath.set(name, have)
        continue
      }
      const slot: Layer = { digest: '', size: 0, mediaType: LAYER_MEDIA_TYPES.gzip, diffId }
      byPath.set(name, slot)
      // One compression at a time: each one already runs on every core.
      const previous = background[background.length - 1] ?? Promise.resolve()
      const job = previous.then(async () => {
        const layer = await compress(createReadStream(rawFile) as AsyncIterable<Buffer>, diffId)
        rmSync(rawFile, { force: true })
        Object.assign(slot, layer)
      })
      job.catch(() => undefined)
      background.push(job)
    }
    await done
    await Promise.all(background)
    const unproven = (await Promise.all(proofs)).filter(Boolean)
    if (unproven.length) {
      if (options.again) throw new Error(`layers not proven twice: ${unproven.join(', ')}`)
      // A claimed layer failed its proof (known-layers.ts warned): read the save once more; the
      // layer is no longer claimed, so it is compressed this time.
      return streamSavedImage({ ...options, again: true })
    }
  } catch (error) {
    stdout.destroy()
    await Promise.allSettled(background)
    throw error
  }

  const resolve = (p: string): string => {
    let name = path.posix.normalize(p)
    for (let i = 0; i < 10 && links.has(name); i++) name = links.get(name)!
    return name
  }

  /** The image whose config and layers are at these paths of the save. */
  const imageAt = async (
    configPath: string,
    layerPaths: string[],
    listed?: Partial<Platform>
  ): Promise<SavedImage> => {
    const config = small.get(resolve(configPath))
    if (!config) throw new Error(`docker save wrote no config ${configPath}`)
    const parsed = JSON.parse(config.toString('utf8')) as ImageConfigJson
    const configDiffIds = parsed.rootfs?.diff_ids ?? []
    const layers: Layer[] = []
    for (const [i, layerPath] of layerPaths.entries()) {
      const name = resolve(layerPath)
      let layer = byPath.get(name)
      if (!layer) {
        // A small layer (an empty one is 1024 zero bytes), kept in memory.
        const bytes = small.get(name)
        if (!bytes) throw new Error(`docker save wrote no layer ${layerPath}`)
        const kind = compression(bytes)
        // The blob's digest when compressed, its diff_id when not.
        const digest = sha256(bytes)
        if (kind) {
          layer = (await known.hasBlob(digest))
            ? { digest, size: bytes.length, mediaType: LAYER_MEDIA_TYPES[kind] }
            : await copy(bytes, emptyIterator(), kind)
        } else {
          layer = (await known.byDiffId(digest)) ?? (await compress(Readable.from([bytes])))
        }
        byPath.set(name, layer)
      }
      if (layer.diffId && configDiffIds[i] && layer.diffId !== configDiffIds[i]) {
        throw new Error(
          `layer ${i + 1} from docker save (${layerPath}) hashes to ${layer.diffId}, but the image config names ${configDiffIds[i]}`
        )
      }
      layers.push(layer)
    }
    const platform = parsed.architecture
      ? { os: parsed.os ?? '', architecture: parsed.architecture, variant: parsed.variant }
      : { os: listed?.os ?? '', architecture: listed?.architecture ?? '', variant: listed?.variant }
    if (!platform.variant) delete platform.variant
    return { config, layers, platform }
  }

  // An image of several platforms (containerd image store): index.json names its index, and
  // manifest.json lists only the engine's own platform (Docker 26) or each of them (later ones).
  const present = (p: string): boolean => small.has(resolve(p)) || byPath.has(resolve(p))
  const read = (p: string): Buffer | undefined => small.get(resolve(p))
  const indexed = imagesInIndex(read, present)
  const images: SavedImage[] = []
  if (indexed.complete.length > 1) {
    for (const i of indexed.complete) images.push(await imageAt(i.config, i.layers, i.platform))
  } else {
    const manifestJson = small.get('manifest.json')
    if (!manifestJson) throw new Error('docker save wrote no manifest.json')
    const entries = JSON.parse(manifestJson.toString('utf8')) as {
      Config: string
      Layers: string[]
    }[]
    if (entries.length !== 1) {
      throw new Error(`docker save wrote ${entries.length} images in manifest.json, expected 1`)
    }
    images.push(await imageAt(entries[0].Config, entries[0].Layers))
  }
  const missingPlatforms = indexed.incomplete.filter(
    p => !images.some(i => platformString(i.platform) === p)
  )
  return { images, missingPlatforms, compressedLayers, skippedLayers }
}

/** `blobs/ALG/HEX` of a digest in the OCI layout. */
function blobPath(digest: string): string {
  return `blobs/${digest.replace(':', '/')}`
}

/**
 * The platform images that index.json lists (following nested indexes), attestation manifests
 * skipped: those whose manifest, config and layers are all in the save, and the platforms of
 * those that are not (an image pulled for one platform lists the others without their content).
 */
export function imagesInIndex(
  read: (path: string) => Buffer | undefined,
  present: (path: string) => boolean
): {
  complete: { config: string; layers: string[]; platform?: Partial<Platform> }[]
  incomplete: string[]
} {
  const complete: { config: string; layers: string[]; platform?: Partial<Platform> }[] = []
  const incomplete: string[] = []
  const top = read('index.json')
  if (!top) return { complete, incomplete }
  const seen = new Set<string>()
  const walk = (index: ManifestJson, depth: number): void => {
    for (const d of index.manifests ?? []) {
      if (seen.has(d.digest) || isAttestation(d)) continue
      seen.add(d.digest)
      const bytes = read(blobPath(d.digest))
      if (INDEX_TYPES.includes(d.mediaType)) {
        if (bytes && depth < 4) walk(parseJson<ManifestJson>(bytes), depth + 1)
        continue
      }
      if (!IMAGE_MANIFEST_TYPES.includes(d.mediaType)) continue
      const manifest = bytes && parseJson<ManifestJson>(bytes)
      const layers = (manifest?.layers ?? []).map(l => blobPath(l.digest))
      if (manifest?.config && present(blobPath(manifest.config.digest)) && layers.every(present)) {
        complete.push({ config: blobPath(manifest.config.digest), layers, platform: d.platform })
      } else {
        incomplete.push(platformString(d.platform))
      }
    }
  }
  walk(parseJson<ManifestJson>(top), 0)
  return { complete, incomplete }
}
