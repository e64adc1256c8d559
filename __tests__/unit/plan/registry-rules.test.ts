import { describe, expect, it } from '@jest/globals'
import { UserError } from '../../../src/util/errors.js'
import { resolveNames } from '../../../src/plan/names.js'
import {
  checkEngineForRegistry,
  checkImageForRegistry,
  checkRegistryOpen
} from '../../../src/plan/registry-rules.js'

const GB = 1024 ** 3
const names = (registry: string, registryType = 'auto') =>
  resolveNames({
    registry,
    registryType,
    owner: 'octo-org',
    repository: 'hello-world',
    imageName: 'app',
    tags: ['1'],
    contextRepository: 'octo-org/hello-world',
    serverUrl: 'https://github.com'
  })
const layer = (size: number, mediaType = 'application/vnd.oci.image.layer.v1.tar+gzip') => ({
  size,
  mediaType,
  digest: 'sha256:' + 'ab'.repeat(32)
})

describe('registry rules (docs/facts/github-registries.md, Limits)', () => {
  it('the Docker registries refuse Windows images (foreign layers), pointing to ghcr.io', () => {
    for (const registry of ['docker.pkg.github.com', 'docker.ghe.example.com']) {
      expect(() =>
        checkImageForRegistry(names(registry), { os: 'windows', layers: [layer(1)] })
      ).toThrow(
        /does not accept Windows images \(foreign layers\): publish it to the Container registry/
      )
      expect(() =>
        checkImageForRegistry(names(registry), {
          os: 'linux',
          layers: [layer(1, 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip')]
        })
      ).toThrow(UserError)
    }
    expect(checkImageForRegistry(names('ghcr.io'), { os: 'windows', layers: [layer(1)] })).toEqual(
      []
    )
  })

  it('a layer over 5 GB fails on the Docker registries, over 10 GB on ghcr.io', () => {
    const docker = names('docker.pkg.github.com')
    expect(checkImageForRegistry(docker, { os: 'linux', layers: [layer(5 * GB)] })).toEqual([])
    expect(() =>
      checkImageForRegistry(docker, { os: 'linux', layers: [layer(5 * GB + 1)] })
    ).toThrow(/is 5\.0 GB compressed; docker\.pkg\.github\.com accepts layers of at most 5\.0 GB/)
    const ghcr = names('ghcr.io')
    expect(checkImageForRegistry(ghcr, { os: 'linux', layers: [layer(10 * GB)] })).toEqual([])
    expect(() => checkImageForRegistry(ghcr, { os: 'linux', layers: [layer(11 * GB)] })).toThrow(
      /ghcr\.io accepts layers of at most 10\.0 GB/
    )
    // Another registry: no limit of ours.
    expect(
      checkImageForRegistry(names('localhost:5000'), { os: 'linux', layers: [layer(50 * GB)] })
    ).toEqual([])
  })

  it('an image over 10 GB on a Docker registry is a warning', () => {
    const w = checkImageForRegistry(names('docker.pkg.github.com'), {
      os: 'linux',
      layers: [layer(4 * GB), layer(4 * GB), layer(3 * GB)]
    })
    expect(w).toHaveLength(1)
    expect(w[0]).toMatch(/11\.0 GB compressed; .* handles images over 10 GB poorly/)
  })

  it('docker.pkg.github.com (closed 2025-02-24) is refused, naming the ghcr.io image', () => {
    expect(() => checkRegistryOpen(names('docker.pkg.github.com'), 'https://github.com')).toThrow(
      UserError
    )
    expect(() => checkRegistryOpen(names('docker.pkg.github.com'), 'https://github.com')).toThrow(
      /^docker\.pkg\.github\.com was closed on 2025-02-24 .*publish to ghcr\.io\/octo-org\/app instead \(remove registry and registry-type/
    )
    // From GHES too: the host is github.com's, and closed for everyone.
    expect(() =>
      checkRegistryOpen(names('docker.pkg.github.com:443'), 'https://ghe.example.com')
    ).toThrow(/ghcr\.io\/octo-org\/app instead \(registry: ghcr\.io, registry-type: container/)
    // The docker scheme stays for GHES, and ghcr.io is open.
    for (const open of ['ghcr.io', 'docker.ghe.example.com']) {
      expect(() => checkRegistryOpen(names(open), 'https://ghe.example.com')).not.toThrow()
    }
    expect(() =>
      checkRegistryOpen(names('ghe.example.com', 'docker'), 'https://ghe.example.com')
    ).not.toThrow()
  })

  it('the GHES Docker registry with Docker Engine 25+ fails, advising the Container registry', () => {
    const ghes = names('docker.ghe.example.com')
    expect(() => checkEngineForRegistry(ghes, '28.2.2')).toThrow(
      /Docker Engine 28\.2\.2 cannot push to the GitHub Enterprise Server Docker registry .*Use the Container registry/
    )
    expect(() => checkEngineForRegistry(ghes, '25.0.0')).toThrow(UserError)
    expect(() => checkEngineForRegistry(ghes, '24.0.9')).not.toThrow()
    expect(() => checkEngineForRegistry(ghes, '20.10.24')).not.toThrow()
    // Not the GHES Docker registry: no such limit.
    expect(() => checkEngineForRegistry(names('docker.pkg.github.com'), '28.0.0')).not.toThrow()
    expect(() => checkEngineForRegistry(names('ghcr.io'), '28.0.0')).not.toThrow()
    expect(() => checkEngineForRegistry(names('ghe.example.com', 'docker'), '26.1.0')).toThrow(
      UserError
    )
  })
})
