import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chainIds, legacyLayerDiffId, rawMembers } from '../../../src/docker/legacy-layer-id.js'

const here = path.dirname(fileURLToPath(import.meta.url))
/** Real `docker save` output of Docker 20.10 (see the fixture's _comment). */
const fixture = JSON.parse(
  readFileSync(path.join(here, '../../fixtures/legacy-save/docker-20.10.json'), 'utf8')
) as { diffIds: string[]; folderJsons: string[] }

const sha = (s: string): string => 'sha256:' + createHash('sha256').update(s).digest('hex')

describe('which layer a pre-25 docker save folder is (v1 IDs)', () => {
  it('chain IDs: the first diff_id, then sha256 of "<parent chain> <diff_id>"', () => {
    const [a, b, c] = ['a', 'b', 'c'].map(x => sha(x))
    const ab = sha(`${a} ${b}`)
    expect(chainIds([a, b, c])).toEqual([a, ab, sha(`${ab} ${c}`)])
    expect(chainIds([])).toEqual([])
  })

  it('finds each layer of a real Docker 20.10 save, the top one (config, HTML-escaped label) included', () => {
    expect(fixture.folderJsons.map(j => legacyLayerDiffId(j, fixture.diffIds))).toEqual(
      fixture.diffIds
    )
  })

  it('does not depend on the order of the diff_ids it is given, only on the proof', () => {
    // The same folders against the layers listed in another order: chain IDs differ, no match.
    const shuffled = [fixture.diffIds[1], fixture.diffIds[0], fixture.diffIds[2]]
    expect(legacyLayerDiffId(fixture.folderJsons[0], shuffled)).toBeUndefined()
    expect(legacyLayerDiffId(fixture.folderJsons[1], shuffled)).toBeUndefined()
  })

  it('matches nothing when a byte of the folder json changed, or for another image', () => {
    const tampered = fixture.folderJsons[1].replace('"Hostname":""', '"Hostname":"x"')
    expect(tampered).not.toBe(fixture.folderJsons[1])
    expect(legacyLayerDiffId(tampered, fixture.diffIds)).toBeUndefined()
    const other = [sha('x'), sha('y'), sha('z')]
    for (const j of fixture.folderJsons) expect(legacyLayerDiffId(j, other)).toBeUndefined()
  })

  it('gives up (undefined) on what is not a compact JSON object with an id', () => {
    expect(legacyLayerDiffId('not json', fixture.diffIds)).toBeUndefined()
    expect(legacyLayerDiffId('{"id": "ab"}', fixture.diffIds)).toBeUndefined()
    expect(legacyLayerDiffId('{"created":"1970-01-01T00:00:00Z"}', fixture.diffIds)).toBeUndefined()
    expect(legacyLayerDiffId('{"id":"' + 'a'.repeat(64) + '","parent":"x"}', fixture.diffIds)).toBe(
      undefined
    )
  })

  it('raw members: top-level keys and values as written, strings with escapes and nesting kept', () => {
    expect(rawMembers('{"a":1,"b":{"c":[1,{"d":"}"}]},"e":"x\\"y,z","f":null}')).toEqual([
      ['"a"', '1'],
      ['"b"', '{"c":[1,{"d":"}"}]}'],
      ['"e"', '"x\\"y,z"'],
      ['"f"', 'null']
    ])
    expect(rawMembers('{}')).toEqual([])
    expect(rawMembers('{"a": 1}')).toBeUndefined()
    expect(rawMembers('{"a":1')).toBeUndefined()
    expect(rawMembers('{"a":1}x')).toBeUndefined()
    expect(rawMembers('[1]')).toBeUndefined()
  })
})
