import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as path from 'node:path'
import { RegistryClient } from '../../../src/registry/client.js'
import { DEFAULT_POLICY } from '../../../src/util/retry.js'
import { tempDir } from '../../support/temp-dirs.js'

const bytes = Buffer.alloc(2 * 1024 * 1024 + 3, 'y')
const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex')

/**
 * A registry speaking just enough of the upload protocol; `put(n, req, res, body)` decides the
 * answer to the n-th PUT (1-based) once its body is read, or breaks the connection itself.
 */
async function withRegistry(
  put: (n: number, req: IncomingMessage, res: ServerResponse, body: Buffer) => void,
  test: (client: RegistryClient, log: string[]) => Promise<void>
): Promise<void> {
  const log: string[] = []
  let stored = false
  let sessions = 0
  let puts = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('error', () => undefined)
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x')
      log.push(`${req.method} ${url.pathname}`)
      if (req.method === 'HEAD')
        res
          .writeHead(stored ? 200 : 404, { 'Content-Length': stored ? String(bytes.length) : '0' })
          .end()
      else if (req.method === 'POST')
        res.writeHead(202, { Location: `/upload/${++sessions}` }).end()
      else if (req.method === 'PUT') {
        const body = Buffer.concat(chunks)
        const commit = (): void => {
          stored = body.equals(bytes) && url.searchParams.get('digest') === digest
        }
        put(++puts, req, Object.assign(res, { commit }), body)
      } else res.writeHead(405).end()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  try {
    const client = new RegistryClient({
      registry: `127.0.0.1:${(server.address() as AddressInfo).port}`,
      retry: { ...DEFAULT_POLICY, retries: 3 },
      sleep: async () => undefined
    })
    await test(client, log)
  } finally {
    server.closeAllConnections()
    await new Promise(resolve => server.close(resolve))
  }
}

function file(): { file: string; digest: string; size: number } {
  const f = path.join(tempDir('blob-'), 'layer')
  writeFileSync(f, bytes)
  return { file: f, digest, size: bytes.length }
}

type Committing = ServerResponse & { commit: () => void }

describe('a blob upload that breaks off starts over', () => {
  it('a connection reset during the PUT: HEAD, a new session, the whole PUT again', async () => {
    await withRegistry(
      (n, req, res) => {
        if (n === 1) req.socket.destroy()
        else {
          ;(res as Committing).commit()
          res.writeHead(201).end()
        }
      },
      async (client, log) => {
        expect(await client.uploadBlob('o/i', file())).toBe('uploaded')
        expect(log).toEqual([
          `HEAD /v2/o/i/blobs/${digest}`,
          'POST /v2/o/i/blobs/uploads/',
          'PUT /upload/1',
          `HEAD /v2/o/i/blobs/${digest}`,
          'POST /v2/o/i/blobs/uploads/',
          'PUT /upload/2'
        ])
      }
    )
  })

  it('a lost 201: the next attempt finds the blob with HEAD, and sends nothing more', async () => {
    await withRegistry(
      (_n, req, res) => {
        ;(res as Committing).commit()
        req.socket.destroy()
      },
      async (client, log) => {
        expect(await client.uploadBlob('o/i', file())).toBe('uploaded')
        expect(log.filter(l => l.startsWith('PUT'))).toEqual(['PUT /upload/1'])
        expect(log[log.length - 1]).toBe(`HEAD /v2/o/i/blobs/${digest}`)
      }
    )
  })

  it('BLOB_UPLOAD_UNKNOWN (the registry lost the session) means start over, not give up', async () => {
    await withRegistry(
      (n, _req, res) => {
        if (n === 1) {
          res.writeHead(404, { 'Content-Type': 'application/json' })
          res.end(
            JSON.stringify({
              errors: [{ code: 'BLOB_UPLOAD_UNKNOWN', message: 'blob upload unknown' }]
            })
          )
        } else {
          ;(res as Committing).commit()
          res.writeHead(201).end()
        }
      },
      async (client, log) => {
        expect(await client.uploadBlob('o/i', file())).toBe('uploaded')
        expect(log.filter(l => l.startsWith('PUT'))).toEqual(['PUT /upload/1', 'PUT /upload/2'])
      }
    )
  })

  it('a permanent refusal is not retried, and says what the registry said', async () => {
    await withRegistry(
      (_n, _req, res) => {
        res.writeHead(403, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'no write access' }] }))
      },
      async (client, log) => {
        await expect(client.uploadBlob('o/i', file())).rejects.toThrow(
          /PUT blob upload on .*: 403 denied: no write access/
        )
        expect(log.filter(l => l.startsWith('PUT'))).toHaveLength(1)
      }
    )
  })

  it('an upload that stalls is given up after the idle timeout, and started over', async () => {
    const log: string[] = []
    let puts = 0
    const server = createServer((req, res) => {
      req.resume()
      req.on('end', () => {
        log.push(`${req.method}`)
        if (req.method === 'HEAD') res.writeHead(404).end()
        else if (req.method === 'POST') res.writeHead(202, { Location: `/upload/${puts}` }).end()
        else if (++puts > 1) res.writeHead(201).end()
        // the first PUT: no answer at all
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const client = new RegistryClient({
        registry: `127.0.0.1:${(server.address() as AddressInfo).port}`,
        idleTimeoutMs: 300,
        sleep: async () => undefined
      })
      expect(await client.uploadBlob('o/i', file())).toBe('uploaded')
      expect(log.filter(m => m === 'PUT')).toHaveLength(2)
    } finally {
      server.closeAllConnections()
      await new Promise(resolve => server.close(resolve))
    }
  })
})
