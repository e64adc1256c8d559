/**
 * The proof that a blob in the registry is a layer of this image (docs/facts/content-trust.md):
 * the blob is read back, streamed through a hash of its own bytes (they must be the digest it is
 * named by) and through gunzip or zstd into a hash of the uncompressed tar, which must be the
 * diff_id the image's config names. Nothing is kept in memory or on disk.
 */
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import type { Transform } from 'node:stream'
import { finished } from 'node:stream/promises'
import * as zlib from 'node:zlib'
import type { RegistryClient } from '../registry/client.js'
import { repositoryScope } from '../registry/auth.js'
import { errorMessage } from '../util/errors.js'

export interface BlobToProve {
  digest: string
  size: number
  mediaType: string
}

/** How a layer blob is decompressed, from its media type (its first bytes when that says nothing). */
function decompressor(mediaType: string, head: Buffer): Transform | undefined | 'unsupported' {
  const gzip = /gzip$/.test(mediaType) || (head[0] === 0x1f && head[1] === 0x8b)
  const zstd = /zstd$/.test(mediaType) || head.readUInt32LE(0) === 0xfd2fb528
  if (gzip) return zlib.createGunzip()
  if (zstd) {
    // Node.js 22.15+ / 23.8+ (the action runs on Node 24); without it the layer is not proven.
    const make = (zlib as { createZstdDecompress?: () => Transform }).createZstdDecompress
    return make ? make() : 'unsupported'
  }
  return /\.tar$/.test(mediaType) ? undefined : 'unsupported'
}

/**
 * Reads `blob` from `repository` and says why it is not the layer `diffId` ('' when it is). A blob
 * is read no further than the size the manifest gave for it.
 */
export async function disproveLayer(
  client: RegistryClient,
  repository: string,
  blob: BlobToProve,
  diffId: string
): Promise<string> {
  if (!/^sha256:[0-9a-f]{64}$/.test(blob.digest) || !/^sha256:[0-9a-f]{64}$/.test(diffId)) {
    return 'is not named by a sha256 digest'
  }
  let unpackError: (error: Error) => void = () => undefined
  try {
    const path = `/v2/${repository}/blobs/${blob.digest}`
    const response = await client.request('GET', path, [repositoryScope(repository, ['pull'])])
    if (!response.ok || !response.body) {
      await response.body?.cancel()
      return `could not be read back (GET answered ${response.status})`
    }
    const compressed = createHash('sha256')
    const raw = createHash('sha256')
    let read = 0
    let unpack: Transform | undefined | 'unsupported' | null = null
    let failed: Error | undefined
    const failure = new Promise<never>((_, reject) => {
      unpackError = reject
    })
    failure.catch(() => undefined)
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      const bytes = Buffer.from(chunk)
      read += bytes.length
      if (read > blob.size) return `is longer than the ${blob.size} bytes its manifest gives`
      compressed.update(bytes)
      if (unpack === null) {
        unpack = decompressor(blob.mediaType, bytes.length >= 4 ? bytes : Buffer.alloc(4))
        if (unpack === 'unsupported') return `is ${blob.mediaType}, which this runner cannot unpack`
        unpack?.on('data', (d: Buffer) => raw.update(d))
        unpack?.on('error', error => {
          failed = error
          unpackError(error)
        })
      }
      if (!unpack) raw.update(bytes)
      else if (!unpack.write(bytes)) await Promise.race([once(unpack, 'drain'), failure])
    }
    if (unpack) {
      unpack.end()
      await Promise.race([finished(unpack), failure])
    }
    if (failed) throw failed
    const blobDigest = `sha256:${compressed.digest('hex')}`
    if (blobDigest !== blob.digest) return `was served with bytes that hash to ${blobDigest}`
    const unpacked = `sha256:${raw.digest('hex')}`
    if (unpacked !== diffId) return `unpacks to ${unpacked}`
    return ''
  } catch (error) {
    return `could not be read back and unpacked (${errorMessage(error)})`
  }
}
