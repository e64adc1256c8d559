import { describe, expect, it } from '@jest/globals'
import { checkPlatformIndex } from '../../../src/publish/saved-upload.js'
import { UserError } from '../../../src/util/errors.js'
import { parsePlatform } from '../../../src/oci/platform.js'

const platforms = (list: string[]) => list.map(parsePlatform)

describe('a local image of several platforms, before its index is pushed', () => {
  const ghcr = { registry: 'ghcr.io', registryType: 'container' as const }
  const legacy = { registry: 'docker.ghe.example', registryType: 'docker' as const }

  it('is refused on the legacy Docker registry, which stores no index, naming the platforms', () => {
    const names = { ...legacy } as Parameters<typeof checkPlatformIndex>[0]
    expect(() => checkPlatformIndex(names, platforms(['linux/amd64', 'linux/arm64']))).toThrow(
      UserError
    )
    expect(() => checkPlatformIndex(names, platforms(['linux/amd64', 'linux/arm64']))).toThrow(
      /holds 2 platforms \(linux\/amd64, linux\/arm64\), and docker\.ghe\.example \(registry-type docker\) accepts no image index.*No tag was pushed/
    )
  })

  it('is refused when two images claim one platform (arm64 and arm64/v8 are one)', () => {
    const names = { ...ghcr } as Parameters<typeof checkPlatformIndex>[0]
    expect(() => checkPlatformIndex(names, platforms(['linux/arm64', 'linux/arm64/v8']))).toThrow(
      /linux\/arm64\/v8 more than once/
    )
  })

  it('passes distinct platforms on the Container registry', () => {
    const names = { ...ghcr } as Parameters<typeof checkPlatformIndex>[0]
    expect(() =>
      checkPlatformIndex(names, platforms(['linux/amd64', 'linux/arm64', 'linux/arm/v7']))
    ).not.toThrow()
  })
})
