/** The two media-type families (OCI, Docker v2 schema 2), as data, and indexes of one family. */
import { describe, expect, it } from '@jest/globals'
import { assembleIndex, foreignEntries } from '../../../src/oci/index.js'
import {
  FAMILY_TYPES,
  LAYER_MEDIA_TYPES,
  MEDIA_TYPES,
  familyOf,
  layerTypeIn
} from '../../../src/oci/media-types.js'
import { UserError } from '../../../src/util/errors.js'
import { attestationEntry } from '../../support/oci.js'

const d = (c: string): string => `sha256:${c.repeat(64)}`

describe('media-type families', () => {
  it('names the Docker v2 schema 2 types of a manifest, config, gzip layer and list', () => {
    expect(FAMILY_TYPES.docker).toMatchObject({
      manifest: 'application/vnd.docker.distribution.manifest.v2+json',
      config: 'application/vnd.docker.container.image.v1+json',
      index: 'application/vnd.docker.distribution.manifest.list.v2+json',
      layers: { gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }
    })
    expect(FAMILY_TYPES.docker.layers.zstd).toBeUndefined()
    expect(FAMILY_TYPES.oci.manifest).toBe(MEDIA_TYPES.ociManifest)
  })

  it('tells the family of any type it writes, and of other vnd.docker / vnd.oci types', () => {
    for (const family of ['oci', 'docker'] as const) {
      const t = FAMILY_TYPES[family]
      for (const type of [t.index, t.manifest, t.config, ...Object.values(t.layers)]) {
        expect(familyOf(type)).toBe(family)
      }
    }
    expect(familyOf('application/vnd.docker.plugin.v1+json')).toBe('docker')
    expect(familyOf('application/vnd.oci.empty.v1+json')).toBe('oci')
    expect(familyOf('application/vnd.in-toto+json')).toBeUndefined()
  })

  it('renames a layer type into a family, keeping the compression', () => {
    expect(layerTypeIn('docker', LAYER_MEDIA_TYPES.gzip)).toBe(
      'application/vnd.docker.image.rootfs.diff.tar.gzip'
    )
    expect(layerTypeIn('oci', 'application/vnd.docker.image.rootfs.diff.tar.gzip')).toBe(
      LAYER_MEDIA_TYPES.gzip
    )
    expect(layerTypeIn('oci', LAYER_MEDIA_TYPES.zstd)).toBe(LAYER_MEDIA_TYPES.zstd)
    expect(
      layerTypeIn('docker', 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip')
    ).toBe('application/vnd.docker.image.rootfs.foreign.diff.tar.gzip')
    expect(layerTypeIn('docker', 'application/x-unknown')).toBe('application/x-unknown')
  })

  it('refuses zstd layers in Docker v2 (it has no media type for them), saying what to do', () => {
    expect(() => layerTypeIn('docker', LAYER_MEDIA_TYPES.zstd)).toThrow(UserError)
    expect(() => layerTypeIn('docker', LAYER_MEDIA_TYPES.zstd)).toThrow(
      /zstd layers, which Docker v2 schema 2 manifests cannot list .*media-types: oci.*compression=gzip/
    )
  })
})

describe('an index of one family', () => {
  const image = (c: string, arch: string, mediaType: string) => ({
    mediaType,
    digest: d(c),
    size: 10,
    platform: { os: 'linux', architecture: arch }
  })

  it('media-types docker: a Docker manifest list, without annotations (it has no such field)', () => {
    const entries = [
      image('b', 'arm64', MEDIA_TYPES.dockerManifest),
      image('a', 'amd64', MEDIA_TYPES.dockerManifest)
    ]
    const index = assembleIndex(entries, { 'org.opencontainers.image.description': 'x' }, 'docker')
    expect(index.mediaType).toBe(MEDIA_TYPES.dockerList)
    expect(JSON.parse(index.bytes.toString())).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.dockerList,
      manifests: [entries[1], entries[0]]
    })
  })

  it('never mixes the families: other-family manifests and (in a list) attestations are foreign', () => {
    const oci = image('a', 'amd64', MEDIA_TYPES.ociManifest)
    const docker = image('b', 'arm64', MEDIA_TYPES.dockerManifest)
    const attestation = attestationEntry(d('c'))
    expect(foreignEntries([oci, docker], 'oci')).toEqual([docker])
    expect(foreignEntries([oci, docker, attestation], 'docker')).toEqual([oci, attestation])
    expect(foreignEntries([oci, attestation], 'oci')).toEqual([])
    expect(() => assembleIndex([oci, docker], {}, 'oci')).toThrow(/cannot list sha256:b{64}/)
  })
})
