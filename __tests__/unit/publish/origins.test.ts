import { describe, expect, it } from '@jest/globals'
import { baseImages, origins } from '../../../src/publish/origins.js'

const d = (c: string): string => `sha256:${c.repeat(64)}`

describe('where the registry may hold the layers already', () => {
  it('base images: local images whose layers start this one, closest first', () => {
    const pulled = [
      { repoDigests: ['ghcr.io/o/os@' + d('1')], diffIds: [d('a')] },
      { repoDigests: ['ghcr.io/o/runtime@' + d('2')], diffIds: [d('a'), d('b')] },
      { repoDigests: ['ghcr.io/o/other@' + d('3')], diffIds: [d('a'), d('c')] },
      { repoDigests: ['ghcr.io/o/longer@' + d('4')], diffIds: [d('a'), d('b'), d('e'), d('f')] }
    ]
    expect(baseImages([d('a'), d('b'), d('e')], pulled)).toEqual([
      'ghcr.io/o/runtime@' + d('2'),
      'ghcr.io/o/os@' + d('1')
    ])
    expect(baseImages([d('a'), d('b'), d('e')], pulled, 1)).toEqual(['ghcr.io/o/runtime@' + d('2')])
    expect(baseImages([d('z')], pulled)).toEqual([])
  })

  it('origins: other repositories of this registry, once each', () => {
    const names = { registry: 'ghcr.io', path: 'o/app' }
    expect(
      origins(names, [
        'ghcr.io/o/base@' + d('1'),
        'ghcr.io/o/base@' + d('1'),
        'ghcr.io/o/app@' + d('2'),
        'docker.io/library/base@' + d('3'),
        'ghcr.io/o/base:latest'
      ])
    ).toEqual([{ repository: 'o/base', reference: d('1') }])
  })
})
