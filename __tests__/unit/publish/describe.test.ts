import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { describePushedImage } from '../../../src/publish/describe.js'
import { platformString } from '../../../src/oci/platform.js'
import type { ManifestResult } from '../../../src/registry/client.js'

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex')

/** An in-memory registry: manifests and blobs by digest (and tag). */
function fakeRegistry(manifests: Record<string, unknown>, blobs: Record<string, unknown>) {
  const asked: string[] = []
  return {
    asked,
    client: {
      getManifest: async (_repo: string, ref: string): Promise<ManifestResult> => {
        asked.push(`manifest ${ref}`)
        const bytes = Buffer.from(JSON.stringify(manifests[ref]))
        return { digest: sha(bytes), mediaType: '', bytes }
      },
      getBlob: async (_repo: string, digest: string): Promise<Buffer> => {
        asked.push(`blob ${digest}`)
        return Buffer.from(JSON.stringify(blobs[digest]))
      }
    }
  }
}

describe('size and platform read from the registry', () => {
  it('an image manifest: the sum of its layers, the platform from its config', async () => {
    const r = fakeRegistry(
      {
        'sha256:top': {
          config: { digest: 'sha256:cfg', size: 900 },
          layers: [
            { digest: 'sha256:l1', size: 1000 },
            { digest: 'sha256:l2', size: 234 }
          ]
        }
      },
      { 'sha256:cfg': { os: 'linux', architecture: 'arm', variant: 'v7' } }
    )
    expect(await describePushedImage(r.client, 'o/i', 'sha256:top')).toEqual({
      size: 1234,
      platform: 'linux/arm/v7'
    })
  })

  it('an index: every platform image, attestation manifests (unknown/unknown) skipped', async () => {
    const r = fakeRegistry(
      {
        'sha256:index': {
          manifests: [
            { digest: 'sha256:amd', size: 1, platform: { os: 'linux', architecture: 'amd64' } },
            { digest: 'sha256:arm', size: 1, platform: { os: 'linux', architecture: 'arm64' } },
            { digest: 'sha256:att', size: 1, platform: { os: 'unknown', architecture: 'unknown' } }
          ]
        },
        'sha256:amd': { layers: [{ size: 100 }, { size: 20 }] },
        'sha256:arm': { layers: [{ size: 3 }] }
      },
      {}
    )
    expect(await describePushedImage(r.client, 'o/i', 'sha256:index')).toEqual({
      size: 123,
      platform: 'linux/amd64,linux/arm64'
    })
    expect(r.asked).not.toContain('manifest sha256:att')
  })

  it('formats platforms', () => {
    expect(platformString({ os: 'linux', architecture: 'amd64' })).toBe('linux/amd64')
    expect(platformString({})).toBe('unknown/unknown')
  })
})
