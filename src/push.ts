/**
 * The push, through the action's own registry client rather than `docker push`, so that every
 * request is retried on its own when the registry is flaky (docker retries only layer uploads,
 * and a single failed manifest PUT or ping fails its whole push):
 *
 *   docker save | tar -x  →  config and layers as files (manifest.json lists them)
 *   each layer: kept as it is when already gzip, else gzip-compressed (deterministic: no name, no
 *   time in the header), hashed while it is written
 *   each blob: HEAD first (an unchanged image uploads nothing), else uploaded, monolithic or in
 *   chunks read from disk
 *   the Docker schema 2 manifest PUT under the first tag; the registry's Docker-Content-Digest
 *   answer is the digest.
 */
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, open, readFile, rm } from 'node:fs/promises'
import * as path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Transform } from 'node:stream'
import { createGzip } from 'node:zlib'
import type { Docker } from './docker.js'
import {
  MEDIA_TYPES,
  bufferSource,
  sha256,
  type BlobSource,
  type RegistryClient
} from './registry.js'
import { mapLimit, type PublishedManifest } from './tags.js'

const CONFIG_TYPE = 'application/vnd.docker.container.image.v1+json'
const LAYER_GZIP_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.gzip'

interface SavedEntry {
  Config: string
  Layers: string[]
}

interface Blob extends BlobSource {
  mediaType: string
}

export interface PushReport extends PublishedManifest {
  layers: number
  /** Blobs the registry already had, and blobs sent. */
  existing: number
  uploaded: number
}

function fileSource(file: string, digest: string, size: number, mediaType: string): Blob {
  return {
    digest,
    size,
    mediaType,
    read: async (offset, length) => {
      const handle = await open(file, 'r')
      try {
        const buffer = Buffer.alloc(length)
        const { bytesRead } = await handle.read(buffer, 0, length, offset)
        return buffer.subarray(0, bytesRead)
      } finally {
        await handle.close()
      }
    }
  }
}

/** Hashes what flows through. */
function hashing(hash: ReturnType<typeof createHash>, count: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk)
      count.bytes += chunk.length
      callback(null, chunk)
    }
  })
}

/** A layer as the registry stores it: gzip, its digest and size. */
async function prepareLayer(file: string): Promise<Blob> {
  const head = Buffer.alloc(2)
  const handle = await open(file, 'r')
  try {
    await handle.read(head, 0, 2, 0)
  } finally {
    await handle.close()
  }
  if (head[0] === 0x1f && head[1] === 0x8b) {
    // Saved already compressed (an OCI layout from a containerd image store): as it is.
    const hash = createHash('sha256')
    let size = 0
    for await (const chunk of createReadStream(file)) {
      hash.update(chunk as Buffer)
      size += (chunk as Buffer).length
    }
    return fileSource(file, `sha256:${hash.digest('hex')}`, size, LAYER_GZIP_TYPE)
  }
  const gz = `${file}.gz`
  const hash = createHash('sha256')
  const count = { bytes: 0 }
  await pipeline(createReadStream(file), createGzip(), hashing(hash, count), createWriteStream(gz))
  await rm(file, { force: true }) // the uncompressed copy is not needed any more
  return fileSource(gz, `sha256:${hash.digest('hex')}`, count.bytes, LAYER_GZIP_TYPE)
}

export async function pushImage(
  docker: Docker,
  client: RegistryClient,
  repository: string,
  image: string,
  tag: string,
  tempRoot: string,
  log: (message: string) => void
): Promise<PushReport> {
  const dir = await mkdtemp(path.join(tempRoot, 'publish-container-image-'))
  try {
    await docker.saveTo(image, dir)
    const [entry] = JSON.parse(
      await readFile(path.join(dir, 'manifest.json'), 'utf8')
    ) as SavedEntry[]
    if (!entry?.Config || !Array.isArray(entry.Layers)) {
      throw new Error(`docker save of ${image} has no manifest.json entry with Config and Layers`)
    }
    const configBytes = await readFile(path.join(dir, entry.Config))
    const config: Blob = { ...bufferSource(configBytes), mediaType: CONFIG_TYPE }
    const layerFiles = [...new Set(entry.Layers)]
    const prepared = new Map<string, Blob>()
    await mapLimit(layerFiles, 2, async f => prepared.set(f, await prepareLayer(path.join(dir, f))))
    const layers = entry.Layers.map(f => prepared.get(f)!)

    const unique = [...new Map([config, ...layers].map(b => [b.digest, b])).values()]
    const outcomes = await mapLimit(unique, 4, async blob => {
      const how = await client.uploadBlob(repository, blob)
      log(
        `${blob.digest.slice(0, 19)}… ${how === 'uploaded' ? `uploaded (${blob.size} bytes)` : 'already there'}`
      )
      return how
    })

    const manifest = Buffer.from(
      JSON.stringify(
        {
          schemaVersion: 2,
          mediaType: MEDIA_TYPES.dockerManifest,
          config: { mediaType: CONFIG_TYPE, size: config.size, digest: config.digest },
          layers: layers.map(l => ({ mediaType: l.mediaType, size: l.size, digest: l.digest }))
        },
        null,
        3
      )
    )
    const said = await client.putManifest(repository, tag, manifest, MEDIA_TYPES.dockerManifest)
    const digest = said ?? (await client.headManifest(repository, tag))?.digest ?? sha256(manifest)
    return {
      digest,
      mediaType: MEDIA_TYPES.dockerManifest,
      bytes: manifest,
      layers: layers.length,
      existing: outcomes.filter(o => o !== 'uploaded').length,
      uploaded: outcomes.filter(o => o === 'uploaded').length
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
