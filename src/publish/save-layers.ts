/**
 * What the push does with each layer of `docker save` as it streams (the archive's format is
 * docker/save-archive.ts's), knowing beforehand, from `docker image inspect`, the image's layer
 * diff_ids and which of them the repository holds already (known-layers.ts):
 *
 *   - a layer the save names by its diff_id (engine 25+ classic store; the directory's json before
 *     Engine 25): drained unread when the repository holds it, else gzip-compressed on every core
 *     (gzip-parallel.ts) straight into one temporary file, hashed on the way;
 *   - a compressed blob (containerd image store: gzip or zstd) is used as it is: drained if the
 *     repository has it, else copied to a file;
 *   - an uncompressed layer whose name says nothing (engines before 25) is hashed while it is
 *     copied to a raw file; if known, the file is then deleted, else compressed from there in the
 *     background while the save goes on.
 *
 * Each finished new layer is handed to `onLayer` at once, so its upload starts while the save goes
 * on. A layer drained while its proof runs whose proof then fails makes the save run once more.
 * A full disk fails with the folder and the space it needs (layer-file.ts).
 */
import { createReadStream, rmSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import type { Readable } from 'node:stream'
import { drain, readSave, type LayerEntry, type SavedImage } from '../docker/save-archive.js'
import type { LayerBlob, LayerInFile } from '../oci/layer-blob.js'
import { LAYER_MEDIA_TYPES } from '../oci/media-types.js'
import { gzipParallel } from '../util/gzip-parallel.js'
import { LayerFile } from './layer-file.js'

export interface KnownLayers {
  /**
   * The blob the repository holds for this diff_id, if it holds one that is proven to be that
   * layer (known-layers.ts; the proof may still be running: the save waits for it).
   */
  byDiffId(diffId: string): Promise<LayerBlob | undefined>
  /**
   * The blob the repository holds for this diff_id by its own word, while its proof may still run
   * (byDiffId settles it); none once the proof failed. A layer so claimed is drained unread, and
   * if its proof then fails the save runs once more, compressing it.
   */
  claimed?(diffId: string): LayerBlob | undefined
  /** Whether the repository holds this (compressed) blob. */
  hasBlob(digest: string): Promise<boolean>
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

export interface SaveOptions {
  save: () => { stdout: Readable; done: Promise<void> }
  diffIds: string[]
  workDir: string
  known: KnownLayers
  /** A new layer's file is complete: start its upload. */
  onLayer?: (layer: LayerInFile) => void
  concurrency?: number
}

/** The layers of one reading of the save: what is drained, compressed, copied, and counted. */
class LayerPolicy {
  compressedLayers = 0
  skippedLayers = 0
  /** Compressions from raw files, one after the other (each runs on every core already). */
  readonly background: Promise<void>[] = []
  /** Proofs of drained layers: '' when proven, else the diff_id. */
  readonly proofs: Promise<string>[] = []
  private files = 0
  private rawBytesToCompress = 0
  private readonly concurrency: number
  private readonly need = (): number => this.rawBytesToCompress

  constructor(private readonly options: SaveOptions) {
    this.concurrency =
      options.concurrency ?? Math.max(1, os.availableParallelism?.() ?? os.cpus().length)
  }

  private file(name: string, extension: string): LayerFile {
    const file = path.join(this.options.workDir, `${name}-${this.files++}.${extension}`)
    return new LayerFile(file, this.need)
  }

  /** A finished new layer: counted, and handed to the uploader. */
  private done(layer: LayerInFile): LayerInFile {
    this.compressedLayers++
    this.options.onLayer?.(layer)
    return layer
  }

  /** Compresses `source` (uncompressed tar) into a new file. */
  private async compress(source: AsyncIterable<Buffer>, expected?: string): Promise<LayerInFile> {
    const sink = this.file('layer', 'gz')
    const raw = await gzipParallel(source, chunk => sink.write(chunk), {
      concurrency: this.concurrency
    })
    const blob = await sink.close()
    if (expected && raw.rawDigest !== expected) {
      throw new Error(`docker save gave a layer that hashes to ${raw.rawDigest}, not ${expected}`)
    }
    const mediaType = LAYER_MEDIA_TYPES.gzip
    return this.done({ ...blob, mediaType, diffId: raw.rawDigest, file: sink.file })
  }

  /** Copies an already compressed blob to a file as it is. */
  private async copy(content: AsyncIterable<Buffer>, kind: 'gzip' | 'zstd'): Promise<LayerInFile> {
    const sink = this.file('layer', kind)
    for await (const chunk of content) await sink.write(chunk)
    const blob = await sink.close()
    return this.done({ ...blob, mediaType: LAYER_MEDIA_TYPES[kind], file: sink.file })
  }

  /** A layer entry as the save streams. */
  readonly streamed = async (entry: LayerEntry): Promise<LayerBlob> => {
    const { known } = this.options
    if (entry.diffId) {
      const claim = known.claimed?.(entry.diffId)
      const have = claim ?? (await known.byDiffId(entry.diffId))
      if (!have) {
        this.rawBytesToCompress += entry.size
        return this.compress(entry.content, entry.diffId)
      }
      await drain(entry.content)
      this.skippedLayers++
      // Drained while its proof runs: the proof is awaited once the save is read.
      const told = entry.diffId
      if (claim) this.proofs.push(known.byDiffId(told).then(proven => (proven ? '' : told)))
      return have
    }
    if (entry.compression && entry.digest && (await known.hasBlob(entry.digest))) {
      await drain(entry.content)
      this.skippedLayers++
      const mediaType = LAYER_MEDIA_TYPES[entry.compression]
      return { digest: entry.digest, size: entry.size, mediaType }
    }
    this.rawBytesToCompress += entry.size
    if (entry.compression) return this.copy(entry.content, entry.compression)
    return this.unnamed(entry)
  }

  /**
   * An uncompressed layer whose name says nothing (engines before 25): hashed while it is copied
   * to a raw file; the file is dropped if the repository has the layer, else compressed from there
   * in the background (the blob is filled in then).
   */
  private async unnamed(entry: LayerEntry): Promise<LayerBlob> {
    const sink = this.file('raw', 'tar')
    for await (const chunk of entry.content) await sink.write(chunk)
    const { digest: diffId } = await sink.close()
    const have = await this.options.known.byDiffId(diffId)
    if (have) {
      rmSync(sink.file, { force: true })
      this.rawBytesToCompress -= entry.size
      this.skippedLayers++
      return have
    }
    const slot: LayerBlob = { digest: '', size: 0, mediaType: LAYER_MEDIA_TYPES.gzip, diffId }
    const previous = this.background[this.background.length - 1] ?? Promise.resolve()
    const job = previous.then(async () => {
      const source = createReadStream(sink.file) as AsyncIterable<Buffer>
      const layer = await this.compress(source, diffId)
      rmSync(sink.file, { force: true })
      Object.assign(slot, layer)
    })
    job.catch(() => undefined)
    this.background.push(job)
    return slot
  }

  /** A layer the save kept in memory (small), once the save is read and the proofs settled. */
  readonly small = async (entry: LayerEntry): Promise<LayerBlob> => {
    const { known } = this.options
    if (entry.compression) {
      return entry.digest && (await known.hasBlob(entry.digest))
        ? {
            digest: entry.digest,
            size: entry.size,
            mediaType: LAYER_MEDIA_TYPES[entry.compression]
          }
        : this.copy(entry.content, entry.compression)
    }
    return (
      (entry.diffId && (await known.byDiffId(entry.diffId))) ||
      this.compress(entry.content, entry.diffId)
    )
  }
}

/**
 * `docker save` read as it streams (docker/save-archive.ts), each layer drained, compressed or
 * copied as above, then the images it holds. `again`: the second reading, after a claimed layer
 * failed its proof.
 */
export async function streamSavedImage(
  options: SaveOptions & { again?: boolean }
): Promise<StreamedImage> {
  const policy = new LayerPolicy(options)
  let archive
  try {
    archive = await readSave(options.save, options.diffIds, policy.streamed)
    await Promise.all(policy.background)
  } catch (error) {
    await Promise.allSettled(policy.background)
    throw error
  }
  const unproven = (await Promise.all(policy.proofs)).filter(Boolean)
  if (unproven.length) {
    if (options.again) throw new Error(`layers not proven twice: ${unproven.join(', ')}`)
    // A claimed layer failed its proof (known-layers.ts warned): read the save once more; the
    // layer is no longer claimed, so it is compressed this time.
    return streamSavedImage({ ...options, again: true })
  }
  const { images, missingPlatforms } = await archive.images(policy.small)
  const { compressedLayers, skippedLayers } = policy
  return { images, missingPlatforms, compressedLayers, skippedLayers }
}
