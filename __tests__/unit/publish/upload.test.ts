/**
 * The manifest the action PUTs for an image whose blobs are in the repository (OCI or Docker v2),
 * and how the PUT is checked. (Reading `docker save` is publish/save-layers.ts's and docker/save-archive.ts's, tested in save-layers.test.ts.)
 */
import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPES } from '../../../src/oci/media-types.js'
import { imageManifest, putImageManifest } from '../../../src/publish/upload.js'
import { MEDIA_TYPES } from '../../../src/oci/media-types.js'
import { type RegistryClient } from '../../../src/registry/client.js'

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex')

describe('the image manifest', () => {
  it('makes an OCI image manifest naming the config and the stored layers', () => {
    const config = Buffer.from('{"os":"linux"}')
    const m = JSON.parse(
      imageManifest(
        {
          config,
          layers: [{ file: 'f', digest: 'sha256:ab', size: 3, mediaType: LAYER_MEDIA_TYPES.gzip }]
        },
        sha(config)
      ).toString()
    )
    expect(m).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: CONFIG_MEDIA_TYPE, digest: sha(config), size: config.length },
      layers: [{ mediaType: LAYER_MEDIA_TYPES.gzip, digest: 'sha256:ab', size: 3 }]
    })
  })
})

describe('media-types docker', () => {
  it('makes a Docker v2 schema 2 manifest: manifest, config and layer types renamed, bytes the same', () => {
    const config = Buffer.from('{"os":"linux"}')
    const layer = { file: 'f', digest: 'sha256:ab', size: 3, mediaType: LAYER_MEDIA_TYPES.gzip }
    expect(
      JSON.parse(imageManifest({ config, layers: [layer] }, sha(config), {}, 'docker').toString())
    ).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: {
        mediaType: 'application/vnd.docker.container.image.v1+json',
        digest: sha(config),
        size: config.length
      },
      layers: [
        {
          mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
          digest: 'sha256:ab',
          size: 3
        }
      ]
    })
  })

  it('PUTs it with its own Content-Type, and refuses zstd layers before the PUT', async () => {
    const calls: string[] = []
    const client = {
      registry: 'r.example',
      uploadBlob: async (_repo: string, blob: Buffer | { digest: string }) => {
        calls.push(`blob ${Buffer.isBuffer(blob) ? sha(blob) : blob.digest}`)
        return 'uploaded'
      },
      putManifest: async (_repo: string, ref: string, bytes: Buffer, type: string) => {
        calls.push(`manifest ${ref} ${type}`)
        return sha(bytes)
      },
      headManifest: async () => undefined
    } as unknown as RegistryClient
    const config = Buffer.from('{}')
    const gzip = { file: 'f', digest: 'sha256:1', size: 1, mediaType: LAYER_MEDIA_TYPES.gzip }
    const pushed = await putImageManifest(
      client,
      'o/i',
      { config, layers: [gzip] },
      'v1',
      {},
      'docker'
    )
    expect(calls).toEqual(['manifest v1 application/vnd.docker.distribution.manifest.v2+json'])
    expect(pushed.digest).toBe(
      sha(imageManifest({ config, layers: [gzip] }, sha(config), {}, 'docker'))
    )
    calls.length = 0
    const zstd = { ...gzip, digest: 'sha256:2', mediaType: LAYER_MEDIA_TYPES.zstd }
    await expect(
      putImageManifest(client, 'o/i', { config, layers: [gzip, zstd] }, 'v1', {}, 'docker')
    ).rejects.toThrow(/zstd layers, which Docker v2 schema 2 manifests cannot list/)
    expect(calls).toEqual([])
  })
})

describe('the manifest PUT', () => {
  it('PUTs the manifest by its digest when there is no tag', async () => {
    const calls: string[] = []
    const client = {
      registry: 'r.example',
      putManifest: async (_repo: string, ref: string, bytes: Buffer) => {
        calls.push(`manifest ${ref}`)
        return sha(bytes)
      },
      headManifest: async () => undefined
    } as unknown as RegistryClient
    const config = Buffer.from('{}')
    const layer = { file: 'f', digest: 'sha256:1', size: 1, mediaType: LAYER_MEDIA_TYPES.gzip }
    const image = { config, layers: [layer] }
    const pushed = await putImageManifest(client, 'o/i', image)
    expect(pushed.digest).toBe(sha(imageManifest(image, sha(config))))
    expect(calls).toEqual([`manifest ${pushed.digest}`])
  })

  it('fails when the registry says it stored another digest', async () => {
    const client = {
      registry: 'r.example',
      putManifest: async () => undefined,
      headManifest: async () => undefined
    } as unknown as RegistryClient
    await expect(
      putImageManifest(client, 'o/i', { config: Buffer.from('{}'), layers: [] })
    ).rejects.toThrow(/did not store the manifest sha256:\w+ in o\/i \(it answers nothing\)/)
  })
})
