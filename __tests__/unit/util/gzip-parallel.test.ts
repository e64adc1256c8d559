import { describe, expect, it } from '@jest/globals'
import { createHash, randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { gunzipSync, gzipSync } from 'node:zlib'
import { gzipParallel } from '../../../src/util/gzip-parallel.js'

async function compress(
  data: Buffer,
  options: { concurrency: number; blockSize?: number },
  chunk = 7000
): Promise<{ gz: Buffer; rawDigest: string; rawSize: number }> {
  const parts: Buffer[] = []
  for (let o = 0; o < data.length; o += chunk) parts.push(data.subarray(o, o + chunk))
  const out: Buffer[] = []
  const r = await gzipParallel(Readable.from(parts), async c => void out.push(c), options)
  return { gz: Buffer.concat(out), ...r }
}

/** Compressible like real files: text with repeats, some random runs. */
function sample(size: number): Buffer {
  const words = ['layer', 'registry', 'manifest', 'digest', '\n', 'node_modules/', '{"a":1}']
  const parts: Buffer[] = []
  let n = 0
  let i = 0
  while (n < size) {
    const p = i % 50 === 0 ? randomBytes(300) : Buffer.from(words[(i * 7) % words.length] + ' ')
    parts.push(p)
    n += p.length
    i++
  }
  return Buffer.concat(parts).subarray(0, size)
}

describe('gzip on several cores', () => {
  it.each([0, 1, 4095, 4096, 4097, 3 * 4096 + 100, 40_000])(
    'gives one gzip member any gunzip reads back, with the input’s sha256 and size (%i bytes)',
    async size => {
      const data = sample(size)
      const r = await compress(data, { concurrency: 3, blockSize: 4096 })
      expect(gunzipSync(r.gz).equals(data)).toBe(true)
      expect(r.rawSize).toBe(size)
      expect(r.rawDigest).toBe('sha256:' + createHash('sha256').update(data).digest('hex'))
    }
  )

  it('gives the same bytes every time, whatever the concurrency and the chunks it is fed', async () => {
    const data = sample(300_000)
    const a = await compress(data, { concurrency: 1, blockSize: 65536 }, 1000)
    const b = await compress(data, { concurrency: 4, blockSize: 65536 }, 99_999)
    expect(a.gz.equals(b.gz)).toBe(true)
  })

  it('compresses about as well as zlib does in one piece (each block primed with the last 32 KiB)', async () => {
    const data = sample(2 * 1024 * 1024)
    const r = await compress(data, { concurrency: 2 })
    const whole = gzipSync(data).length
    expect(r.gz.length).toBeLessThan(whole * 1.02)
  })
})
