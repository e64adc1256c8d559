import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chainIds, legacyLayerIndex, objectMembers } from '../../../src/docker/legacy-layers.js'

interface SavedImage {
  diffIds: string[]
  layerDirs: string[]
  json: Record<string, string>
}
const here = path.dirname(fileURLToPath(import.meta.url))
const fixture = JSON.parse(
  readFileSync(path.join(here, '../../fixtures/docker-20.10-save/images.json'), 'utf8')
) as Record<string, SavedImage | string>
const images = Object.entries(fixture).filter(
  (e): e is [string, SavedImage] => typeof e[1] !== 'string'
)

describe('layers of a docker save before engine 25, told by their directory json', () => {
  it('has real saves to check against', () => {
    expect(images.length).toBeGreaterThanOrEqual(3)
  })

  it.each(images)(
    '%s: every directory is told as the layer manifest.json puts there',
    (_, image) => {
      const chain = chainIds(image.diffIds)
      const told = image.layerDirs.map(dir => legacyLayerIndex(dir, image.json[dir], chain))
      expect(told).toEqual(image.layerDirs.map((_, i) => i))
    }
  )

  it('tells nothing for a json that was changed, or another image', () => {
    const [, a] = images[0]
    const [, b] = images[1]
    const dir = a.layerDirs[0]
    const changed = a.json[dir].replace('"created":"', '"created":"1')
    expect(legacyLayerIndex(dir, changed, chainIds(a.diffIds))).toBeUndefined()
    expect(legacyLayerIndex(dir, a.json[dir], chainIds(b.diffIds))).toBeUndefined()
    expect(legacyLayerIndex(dir, 'not json', chainIds(a.diffIds))).toBeUndefined()
  })

  it('chain IDs: the first diff_id, then sha256 of "<previous> <diff_id>"', () => {
    expect(chainIds(['sha256:a'])).toEqual(['sha256:a'])
    const [first, second] = chainIds(['sha256:a', 'sha256:b'])
    expect(first).toBe('sha256:a')
    // echo -n "sha256:a sha256:b" | sha256sum
    expect(second).toBe('sha256:970a948bffa8de94d6e22d747ba8c95030e6e546909f98f54e99a13005e173a8')
  })

  it('reads the members of a compact object as written', () => {
    const members = objectMembers('{"a":"x,}\\"","b":{"c":[1,{"d":null}]},"e":12,"f":true}')
    expect([...members]).toEqual([
      ['a', '"x,}\\""'],
      ['b', '{"c":[1,{"d":null}]}'],
      ['e', '12'],
      ['f', 'true']
    ])
    expect(() => objectMembers('[1]')).toThrow()
    expect(() => objectMembers('{"a":"x')).toThrow()
  })
})
