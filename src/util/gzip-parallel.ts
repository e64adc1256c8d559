/**
 * gzip on several cores at once, the way pigz does it: the input is cut into blocks of 1 MiB, each
 * compressed on its own by zlib on libuv's thread pool (raw deflate, primed with the 32 KiB before
 * it as dictionary, ended with a sync flush so the pieces join into one deflate stream), and the
 * pieces are written in order between a gzip header and trailer (CRC-32 and size of the input).
 * The result is one ordinary gzip member, within a fraction of a percent of zlib's own size at the
 * same level, and the same bytes for the same input every time.
 *
 * Memory stays bounded: at most `concurrency` blocks are in flight; reading waits for them.
 * Written by hand: the npm packages for parallel gzip are unmaintained or native.
 */
import { createHash } from 'node:crypto'
import { promisify } from 'node:util'
import { constants, crc32, deflateRaw } from 'node:zlib'

const deflate = promisify(deflateRaw) as (buffer: Buffer, options: object) => Promise<Buffer>

const BLOCK = 1024 * 1024
const WINDOW = 32 * 1024
/** Header: magic, deflate, no flags, no mtime, no extra flags, OS unknown. */
const HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])

export interface GzipResult {
  /** sha256 of the uncompressed input (a layer's diff_id). */
  rawDigest: string
  rawSize: number
}

/**
 * Compresses `source` into gzip, handing the compressed bytes to `write` in order (which may wait:
 * that is the back-pressure). Returns the digest and size of what it read.
 */
export async function gzipParallel(
  source: AsyncIterable<Buffer>,
  write: (chunk: Buffer) => Promise<void>,
  options: { concurrency: number; level?: number; blockSize?: number }
): Promise<GzipResult> {
  const blockSize = options.blockSize ?? BLOCK
  const level = options.level ?? constants.Z_DEFAULT_COMPRESSION
  const hash = createHash('sha256')
  const queue: Promise<Buffer>[] = []
  let crc = 0
  let size = 0
  let tail: Buffer | undefined
  let pending: Buffer[] = []
  let pendingBytes = 0

  const submit = async (block: Buffer, last: boolean): Promise<void> => {
    hash.update(block)
    crc = crc32(block, crc)
    size += block.length
    const dictionary = tail
    tail =
      block.length >= WINDOW
        ? block.subarray(block.length - WINDOW)
        : Buffer.concat([tail ?? Buffer.alloc(0), block]).subarray(-WINDOW)
    queue.push(
      deflate(block, {
        level,
        ...(dictionary?.length ? { dictionary } : {}),
        finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH
      })
    )
    // A rejected deflate must not go unhandled while it waits in the queue.
    queue[queue.length - 1].catch(() => undefined)
    while (queue.length >= options.concurrency || (last && queue.length)) {
      await write(await queue.shift()!)
    }
  }

  await write(HEADER)
  for await (const chunk of source) {
    let data = chunk
    while (data.length) {
      const take = Math.min(data.length, blockSize - pendingBytes)
      pending.push(data.subarray(0, take))
      pendingBytes += take
      data = data.subarray(take)
      if (pendingBytes === blockSize) {
        const block = Buffer.concat(pending, pendingBytes)
        pending = []
        pendingBytes = 0
        await submit(block, false)
      }
    }
  }
  await submit(Buffer.concat(pending, pendingBytes), true)
  const trailer = Buffer.alloc(8)
  trailer.writeUInt32LE(crc >>> 0, 0)
  trailer.writeUInt32LE(size % 2 ** 32, 4)
  await write(trailer)
  return { rawDigest: 'sha256:' + hash.digest('hex'), rawSize: size }
}
