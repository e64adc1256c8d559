/**
 * merge-digests: parsing the digests, and building the index from what the registry serves (an
 * in-memory registry here; the e2e tests use the real one).
 */
import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { UserError } from '../../../src/util/errors.js'
import { buildMergedIndex } from '../../../src/publish/merge.js'
import { checkMergeImages, parseMergeDigests } from '../../../src/plan/merge-digests.js'
import { resolveNames } from '../../../src/plan/names.js'
import { mergeIndex } from '../../../src/publish/merge.js'
import { MEDIA_TYPES } from '../../../src/oci/media-types.js'
import { RegistryError } from '../../../src/registry/errors.js'
import { type RegistryClient } from '../../../src/registry/client.js'
import { attestationEntry } from '../../support/oci.js'

const sha = (b: Buffer | string): string => 'sha256:' + createHash('sha256').update(b).digest('hex')
const d = (c: string): string => `sha256:${c.repeat(64)}`

describe('parsing merge-digests', () => {
  it('takes one digest per line (also commas and blanks), and IMAGE@DIGEST', () => {
    expect(parseMergeDigests(`${d('a')}\n  ${d('b')}, ghcr.io/o/i@${d('c')}\r\n\n`)).toEqual([
      { digest: d('a') },
      { digest: d('b') },
      { digest: d('c'), image: 'ghcr.io/o/i' }
    ])
    expect(parseMergeDigests('  \n')).toEqual([])
  })

  it.each([
    ['a'.repeat(64), /entry 'a{64}' is not a digest: add the prefix: 'sha256:a{64}'/],
    [`sha256:${'A'.repeat(64)}`, /the hex digits must be lowercase/],
    ['sha256:abc', /entry 'sha256:abc' is not a digest: give sha256: and 64 hex digits/],
    ['latest', /entry 'latest' is not a digest/],
    [`sha512:${'a'.repeat(128)}`, /is not a digest/],
    [`@${d('a')}`, /is not a digest/],
    [`ghcr.io/o/i:1.0`, /is not a digest/]
  ])('refuses %s, saying how to write it', (value, message) => {
    expect(() => parseMergeDigests(value)).toThrow(UserError)
    expect(() => parseMergeDigests(value)).toThrow(message)
  })

  it('refuses the same digest twice', () => {
    expect(() => parseMergeDigests(`${d('a')}\nghcr.io/o/i@${d('a')}`)).toThrow(
      `merge-digests lists ${d('a')} twice: give each image once`
    )
  })

  it('refuses IMAGE@DIGEST of another image than the one the index is pushed to', () => {
    const entries = parseMergeDigests(`ghcr.io/o/other@${d('a')}\n${d('b')}`)
    expect(() => checkMergeImages(entries, { image: 'ghcr.io/o/i' })).toThrow(
      /is an image of 'ghcr.io\/o\/other', but the index is pushed to ghcr.io\/o\/i: an index can only list images of its own repository/
    )
    expect(() =>
      checkMergeImages(parseMergeDigests(`ghcr.io/o/i@${d('a')}`), { image: 'ghcr.io/o/i' })
    ).not.toThrow()
  })
})

/** An image as a registry holds it: config, and a manifest naming it and one layer. */
function image(
  platform: { os: string; architecture: string; variant?: string },
  layer = 100,
  mediaType: string = MEDIA_TYPES.ociManifest
) {
  const config = Buffer.from(JSON.stringify({ ...platform, rootfs: { diff_ids: [] } }))
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: 'x', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'y', digest: d('f'), size: layer }]
    })
  )
  return { config, manifest, digest: sha(manifest) }
}

/** An in-memory registry: manifests and blobs by digest; records every request. */
function fakeRegistry(images: ReturnType<typeof image>[], extra: Record<string, Buffer> = {}) {
  const manifests = new Map<string, Buffer>(Object.entries(extra))
  const blobs = new Map<string, Buffer>()
  for (const i of images) {
    manifests.set(i.digest, i.manifest)
    blobs.set(sha(i.config), i.config)
  }
  const calls: string[] = []
  const client = {
    registry: 'r.example',
    getManifest: async (_repo: string, ref: string) => {
      calls.push(`GET manifest ${ref}`)
      const bytes = manifests.get(ref)
      if (!bytes) throw new RegistryError('not found', 404, 'MANIFEST_UNKNOWN')
      return { digest: sha(bytes), mediaType: MEDIA_TYPES.ociManifest, bytes }
    },
    getBlob: async (_repo: string, digest: string) => {
      calls.push(`GET blob ${digest}`)
      return blobs.get(digest)!
    },
    putManifest: async (_repo: string, ref: string, bytes: Buffer) => {
      calls.push(`PUT ${ref}`)
      manifests.set(ref, bytes)
      return sha(bytes)
    },
    // Tags are read back after their PUT.
    headManifest: async (_repo: string, ref: string) => {
      const bytes = manifests.get(ref)
      return bytes && { digest: sha(bytes), mediaType: MEDIA_TYPES.ociIndex, size: bytes.length }
    }
  }
  return { calls, client: client as unknown as RegistryClient }
}

describe('building the index', () => {
  const amd64 = image({ os: 'linux', architecture: 'amd64' }, 300)
  const arm64 = image({ os: 'linux', architecture: 'arm64', variant: 'v8' }, 200)

  it('lists each image under the platform its config declares, sorted by platform; one GET per manifest and per config', async () => {
    const r = fakeRegistry([amd64, arm64])
    const merged = await buildMergedIndex(r.client, 'o/i', [arm64.digest, amd64.digest], {
      'org.opencontainers.image.description': 'hello'
    })
    expect(JSON.parse(merged.bytes.toString())).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [
        {
          mediaType: MEDIA_TYPES.ociManifest,
          digest: amd64.digest,
          size: amd64.manifest.length,
          platform: { architecture: 'amd64', os: 'linux' }
        },
        {
          mediaType: MEDIA_TYPES.ociManifest,
          digest: arm64.digest,
          size: arm64.manifest.length,
          platform: { architecture: 'arm64', os: 'linux', variant: 'v8' }
        }
      ],
      annotations: { 'org.opencontainers.image.description': 'hello' }
    })
    expect(merged).toMatchObject({
      mediaType: MEDIA_TYPES.ociIndex,
      platforms: ['linux/amd64', 'linux/arm64/v8'],
      size: 500
    })
    expect(r.calls.sort()).toEqual(
      [
        `GET manifest ${amd64.digest}`,
        `GET manifest ${arm64.digest}`,
        `GET blob ${sha(amd64.config)}`,
        `GET blob ${sha(arm64.config)}`
      ].sort()
    )
    // The same digests in another order give the same index (no annotations: no timestamp).
    const again = await buildMergedIndex(r.client, 'o/i', [amd64.digest, arm64.digest])
    const once = await buildMergedIndex(r.client, 'o/i', [arm64.digest, amd64.digest])
    expect(again.bytes.equals(once.bytes)).toBe(true)
    expect(JSON.parse(once.bytes.toString()).annotations).toBeUndefined()
  })

  it('refuses two images of the same platform (arm64 and arm64/v8 are one), naming both', async () => {
    const bare = image({ os: 'linux', architecture: 'arm64' }, 7)
    const r = fakeRegistry([arm64, bare, amd64])
    await expect(
      buildMergedIndex(r.client, 'o/i', [amd64.digest, arm64.digest, bare.digest])
    ).rejects.toThrow(
      `merge-digests has more than one image for the same platform (linux/arm64/v8: ${arm64.digest} and ${bare.digest})`
    )
  })

  it('refuses digests the repository does not have, naming every one, in the order given', async () => {
    const r = fakeRegistry([amd64])
    const err = await buildMergedIndex(r.client, 'o/i', [d('1'), amd64.digest, d('2')]).catch(
      e => e
    )
    expect(err).toBeInstanceOf(UserError)
    expect(err.message).toBe(
      `merge-digests: r.example/o/i has no manifest ${d('1')} (manifest_unknown), ${d('2')} (manifest_unknown). ` +
        'Each digest must be the digest output of a push-by-digest job that pushed to this same image ' +
        '(registry, owner, image-name); imageid is not a digest. Nothing was pushed.'
    )
  })

  it('does not hide other registry failures as missing digests', async () => {
    const r = fakeRegistry([])
    r.client.getManifest = async () => {
      throw new RegistryError('GET …: 403 denied', 403, 'DENIED')
    }
    await expect(buildMergedIndex(r.client, 'o/i', [d('1')])).rejects.toThrow('403 denied')
  })

  it('refuses an image whose config names no platform, and a manifest that is no image', async () => {
    const noOs = image({ os: '', architecture: 'amd64' })
    await expect(
      buildMergedIndex(fakeRegistry([noOs]).client, 'o/i', [noOs.digest])
    ).rejects.toThrow(/the config of sha256:\w+ names no os and architecture/)
    const artifact = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'x/artifact' }))
    await expect(
      buildMergedIndex(fakeRegistry([], { [sha(artifact)]: artifact }).client, 'o/i', [
        sha(artifact)
      ])
    ).rejects.toThrow(/is a x\/artifact, not an image manifest or index/)
  })

  it('takes over the entries of an index given as a digest, attestations next to their image', async () => {
    const arm = image({ os: 'linux', architecture: 'arm', variant: 'v7' }, 50)
    const attestation = {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: d('e'),
      size: 10,
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: {
        'vnd.docker.reference.type': 'attestation-manifest',
        'vnd.docker.reference.digest': arm.digest
      }
    }
    const armEntry = {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: arm.digest,
      size: arm.manifest.length,
      platform: { os: 'linux', architecture: 'arm', variant: 'v7' }
    }
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: [attestation, armEntry]
      })
    )
    const r = fakeRegistry([amd64, arm], { [sha(index)]: index })
    const merged = await buildMergedIndex(r.client, 'o/i', [sha(index), amd64.digest])
    expect(
      JSON.parse(merged.bytes.toString()).manifests.map((m: { digest: string }) => m.digest)
    ).toEqual([amd64.digest, arm.digest, d('e')])
    expect(merged.platforms).toEqual(['linux/amd64', 'linux/arm/v7'])
    expect(merged.size).toBe(350)
  })
})

describe('mergeIndex', () => {
  const names = resolveNames({
    registry: 'r.example',
    registryType: 'container',
    owner: 'o',
    repository: '',
    imageName: 'i',
    tags: ['1.0.0', 'latest', 'edge'],
    contextRepository: '',
    serverUrl: ''
  })
  const amd64 = image({ os: 'linux', architecture: 'amd64' })
  const arm64 = image({ os: 'linux', architecture: 'arm64' })

  it('PUTs the index under the first tag, then under every other tag; outputs its digest', async () => {
    const r = fakeRegistry([amd64, arm64])
    const entries = parseMergeDigests(`${amd64.digest}\n${arm64.digest}`)
    const published = await mergeIndex(r.client, names, entries, {})
    const puts = r.calls.filter(c => c.startsWith('PUT'))
    expect(puts[0]).toBe('PUT 1.0.0')
    expect(puts.slice(1).sort()).toEqual(['PUT edge', 'PUT latest'])
    expect(r.calls.filter(c => c.startsWith('GET'))).toHaveLength(4)
    expect(published.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(published.platform).toBe('linux/amd64,linux/arm64')
  })

  it('pushes nothing when a digest is missing or a platform comes twice', async () => {
    for (const list of [`${amd64.digest}\n${d('9')}`, `${arm64.digest}\n${amd64.digest}`]) {
      const twin = image({ os: 'linux', architecture: 'amd64', variant: '' }, 1)
      const r = fakeRegistry([amd64, arm64, twin])
      const entries = parseMergeDigests(list.includes(d('9')) ? list : `${list}\n${twin.digest}`)
      await expect(mergeIndex(r.client, names, entries, {})).rejects.toThrow(/Nothing was pushed/)
      expect(r.calls.filter(c => c.startsWith('PUT'))).toEqual([])
    }
  })
})

describe('an index of one media-type family', () => {
  const dockerAmd64 = image({ os: 'linux', architecture: 'amd64' }, 10, MEDIA_TYPES.dockerManifest)
  const dockerArm64 = image({ os: 'linux', architecture: 'arm64' }, 20, MEDIA_TYPES.dockerManifest)
  const ociArm64 = image({ os: 'linux', architecture: 'arm64' }, 20)
  const annotations = { 'org.opencontainers.image.description': 'hello' }

  it('Docker v2 images, media-types not given: a Docker manifest list, without annotations', async () => {
    const r = fakeRegistry([dockerAmd64, dockerArm64])
    const merged = await buildMergedIndex(
      r.client,
      'o/i',
      [dockerArm64.digest, dockerAmd64.digest],
      annotations,
      8,
      { family: 'oci', given: false }
    )
    expect(merged).toMatchObject({ family: 'docker', mediaType: MEDIA_TYPES.dockerList })
    const list = JSON.parse(merged.bytes.toString())
    expect(list.mediaType).toBe(MEDIA_TYPES.dockerList)
    expect(list.annotations).toBeUndefined()
    expect(list.manifests.map((m: { mediaType: string }) => m.mediaType)).toEqual([
      MEDIA_TYPES.dockerManifest,
      MEDIA_TYPES.dockerManifest
    ])
  })

  it('refuses images of both families (not converted: their digests would change); nothing is pushed', async () => {
    const r = fakeRegistry([dockerAmd64, ociArm64])
    const merge = buildMergedIndex(r.client, 'o/i', [dockerAmd64.digest, ociArm64.digest], {}, 8, {
      family: 'oci',
      given: false
    })
    await expect(merge).rejects.toThrow(UserError)
    await expect(
      buildMergedIndex(r.client, 'o/i', [dockerAmd64.digest, ociArm64.digest])
    ).rejects.toThrow(
      new RegExp(
        `lists OCI images \\(${ociArm64.digest}\\) and Docker v2 schema 2 images \\(${dockerAmd64.digest}\\): an index never mixes`
      )
    )
    expect(r.calls.filter(c => c.startsWith('PUT'))).toEqual([])
  })

  it('media-types given: images of the other family are refused, saying which', async () => {
    const r = fakeRegistry([dockerAmd64, dockerArm64])
    await expect(
      buildMergedIndex(r.client, 'o/i', [dockerAmd64.digest, dockerArm64.digest], {}, 8, {
        family: 'oci',
        given: true
      })
    ).rejects.toThrow(
      /media-types is oci, so the index is a OCI index, which cannot list .*application\/vnd\.docker\.distribution\.manifest\.v2\+json.*set media-types: docker in this step/
    )
  })

  it('media-types docker: an index with attestations cannot be taken over', async () => {
    const attestation = attestationEntry(d('9'))
    const dockerIndex = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: [
          {
            mediaType: MEDIA_TYPES.dockerManifest,
            digest: dockerAmd64.digest,
            size: dockerAmd64.manifest.length,
            platform: { os: 'linux', architecture: 'amd64' }
          },
          attestation
        ]
      })
    )
    const r = fakeRegistry([dockerAmd64, dockerArm64], { [sha(dockerIndex)]: dockerIndex })
    await expect(
      buildMergedIndex(r.client, 'o/i', [sha(dockerIndex), dockerArm64.digest], {}, 8, {
        family: 'docker',
        given: true
      })
    ).rejects.toThrow(/sha256:9{64} \(an attestation, OCI only\)/)
  })
})
