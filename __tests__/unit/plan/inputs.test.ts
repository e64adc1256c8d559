import { describe, expect, it } from '@jest/globals'
import { mkdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { checkBuildFiles, checkCredentials } from '../../../src/plan/rules.js'
import { parseBoolean, parseKeyValues, parseTagsMode } from '../../../src/plan/inputs.js'
import { parseList } from '../../../src/plan/list-input.js'
import { UserError } from '../../../src/util/errors.js'
import { checkedInputs } from '../../support/inputs.js'
import { tempDir } from '../../support/temp-dirs.js'

const read = (values: Record<string, string>, env: Record<string, string> = {}) =>
  checkedInputs(values, {
    actor: env.GITHUB_ACTOR ?? '',
    repository: env.GITHUB_REPOSITORY ?? '',
    serverUrl: env.GITHUB_SERVER_URL ?? ''
  })

describe('list inputs', () => {
  it('splits tags on commas and newlines', () => {
    expect(parseList('1.0, latest\n  edge\r\n\n,x,', 'comma-newline')).toEqual([
      '1.0',
      'latest',
      'edge',
      'x'
    ])
  })
  it('splits merge-digests also on blanks, and every list the same way (list-input.ts)', () => {
    expect(parseList(' a b,c\r\n\td ', 'comma-blank-newline')).toEqual(['a', 'b', 'c', 'd'])
    expect(parseList(' a b,c\r\n\td ', 'newline')).toEqual(['a b,c', 'd'])
    expect(parseList('\n \n', 'comma-newline')).toEqual([])
  })
  it('splits build-args on newlines only, so values may hold commas', () => {
    expect(parseKeyValues('build-args', 'A=1,2\nB=\n C=x=y ')).toEqual(['A=1,2', 'B=', 'C=x=y'])
  })
  it.each(['=v', 'NOEQUALS', 'A B=1'])('refuses the build-arg %s', entry => {
    expect(() => parseKeyValues('build-args', entry)).toThrow(
      /build-args entry .* is not KEY=VALUE/
    )
  })
})

describe('booleans', () => {
  it.each([
    ['true', true],
    ['True', true],
    ['FALSE', false],
    ['', true]
  ])('%s', (v, expected) => expect(parseBoolean('push', v, true)).toBe(expected))
  it.each(['yes', '1', 'on', 'treu'])('refuses %s', v => {
    expect(() => parseBoolean('push', v, true)).toThrow(
      `push '${v}' is not a boolean: use true or false.`
    )
  })
})

describe('readInputs', () => {
  it('applies the defaults', () => {
    const i = read(
      { token: 't' },
      { GITHUB_ACTOR: 'octocat', GITHUB_REPOSITORY: 'o/r', GITHUB_SERVER_URL: 'https://github.com' }
    )
    expect(i).toMatchObject({
      username: 'octocat',
      tags: [],
      tagsMode: 'replace',
      context: '.',
      push: undefined,
      pull: false,
      noCache: false,
      contextRepository: 'o/r'
    })
  })
  it('keeps an explicit push, so the fork default does not override it', () => {
    expect(read({ push: 'true' }).push).toBe(true)
    expect(read({ push: 'false' }).push).toBe(false)
  })
  it('reads tags-mode', () => {
    expect(read({ 'tags-mode': 'append' }).tagsMode).toBe('append')
    expect(parseTagsMode(' Replace ')).toBe('replace')
    expect(() => parseTagsMode('merge')).toThrow("tags-mode 'merge' is not one of replace, append")
  })
  it('refuses a target that is not a stage name', () => {
    expect(() => read({ target: 'a b' })).toThrow(UserError)
  })
})

describe('credentials', () => {
  it('needs a token to push, and says how to give one', () => {
    expect(() => checkCredentials(read({}, { GITHUB_ACTOR: 'u' }), true)).toThrow(
      /token is empty.*permissions: packages: write.*write:packages.*push: false/
    )
  })
  it('needs no token when not pushing', () => {
    expect(() => checkCredentials(read({}), false)).not.toThrow()
  })
  it('needs a username', () => {
    expect(() => checkCredentials(read({ token: 't' }), true)).toThrow(/username is empty/)
  })
})

describe('build files', () => {
  const dir = tempDir('inputs-test-')
  mkdirSync(path.join(dir, 'app'))
  writeFileSync(path.join(dir, 'app', 'Dockerfile'), 'FROM scratch\n')
  writeFileSync(path.join(dir, 'Other.Dockerfile'), 'FROM scratch\n')

  it('finds Dockerfile in the context', () => {
    expect(() => checkBuildFiles(read({ context: 'app' }), dir)).not.toThrow()
  })
  it('takes file relative to the workspace', () => {
    expect(() =>
      checkBuildFiles(read({ context: 'app', file: 'Other.Dockerfile' }), dir)
    ).not.toThrow()
  })
  it('says when the context is missing, hinting at actions/checkout', () => {
    expect(() => checkBuildFiles(read({ context: 'nope' }), dir)).toThrow(
      /context 'nope' is not a directory.*actions\/checkout/
    )
  })
  it('says where it looked for the Dockerfile', () => {
    expect(() => checkBuildFiles(read({}), dir)).toThrow(
      `Dockerfile not found at '${path.join(dir, 'Dockerfile')}'`
    )
  })
  it('does not look for remote contexts', () => {
    expect(() =>
      checkBuildFiles(read({ context: 'https://github.com/o/r.git#main' }), dir)
    ).not.toThrow()
  })
})

describe('source-image', () => {
  it.each([
    '38f737a91f39',
    'sha256:38f737a91f39',
    `sha256:${'a'.repeat(64)}`,
    'hello_docker:latest',
    'hello_docker',
    'localhost:5000/team/app:1.0',
    `ghcr.io/o/app@sha256:${'b'.repeat(64)}`
  ])('takes %s and builds nothing', image => {
    const i = read({ token: 't', 'source-image': ` ${image} ` })
    expect(i.sourceImage).toBe(image)
  })

  it.each([
    ['-v', /is neither an image ID nor an image reference/],
    ['--help', /is neither an image ID nor an image reference/],
    ['a b', /is neither an image ID nor an image reference/],
    ['Hello_Docker:latest', /repository names are lowercase/],
    ['app:', /is neither/],
    ['app:tag@sha256:abc', /is neither/]
  ])('refuses %s before docker runs', (image, message) => {
    expect(() => read({ 'source-image': image })).toThrow(message)
  })

  it('refuses build inputs instead of ignoring them, naming each one', () => {
    expect(() => read({ 'source-image': 'app:1', context: '.' })).toThrow(
      "source-image 'app:1' publishes an existing image, so nothing is built and context has no effect: remove it, or remove source-image to build from a Dockerfile."
    )
    expect(() =>
      read({
        'source-image': 'app:1',
        file: 'Dockerfile',
        'build-args': 'A=1',
        labels: 'k=v',
        target: 't',
        pull: 'true',
        'no-cache': 'true'
      })
    ).toThrow(/and file, build-args, labels, target, pull, no-cache have no effect: remove them/)
  })

  it('refuses buildx: true (it configures a build), but not the default auto', () => {
    expect(() => read({ 'source-image': 'app:1', buildx: 'true' })).toThrow(
      /nothing is built and buildx has no effect/
    )
    expect(read({ 'source-image': 'app:1', buildx: 'auto' }).sourceImage).toBe('app:1')
  })

  it('accepts pull and no-cache at their default false', () => {
    expect(read({ 'source-image': 'app:1', pull: 'false', 'no-cache': 'false' }).sourceImage).toBe(
      'app:1'
    )
  })

  it('skips the Dockerfile check', () => {
    const empty = tempDir('inputs-test-')
    expect(() => checkBuildFiles(read({ 'source-image': 'app:1' }), empty)).not.toThrow()
  })
})

describe('multi-platform inputs', () => {
  const digest = `sha256:${'a'.repeat(64)}`

  it('reads platforms, provenance, sbom, push-by-digest and merge-digests, off by default', () => {
    expect(read({})).toMatchObject({
      platforms: [],
      provenance: 'false',
      sbom: false,
      attestations: [],
      pushByDigest: false,
      mergeDigests: []
    })
    expect(
      read({
        platforms: 'linux/amd64,linux/arm64',
        provenance: 'mode=max',
        sbom: 'true',
        'push-by-digest': 'true'
      })
    ).toMatchObject({
      platforms: ['linux/amd64', 'linux/arm64'],
      provenance: 'mode=max',
      sbom: true,
      attestations: ['provenance', 'sbom'],
      pushByDigest: true
    })
    expect(read({ 'merge-digests': digest, tags: 'v1' }).mergeDigests).toEqual([{ digest }])
  })

  it.each(['yes', 'mode=full', 'max', '1'])('refuses provenance %s', v => {
    expect(() => read({ platforms: 'linux/amd64', provenance: v })).toThrow(
      new RegExp(`provenance '${v}' is not one of false, true, mode=min, mode=max`)
    )
  })
  it.each(['true', 'True', 'mode=min', 'false'])('takes provenance %s', v => {
    expect(read({ platforms: 'linux/amd64', provenance: v }).provenance).toBe(v.toLowerCase())
  })

  it('takes attestations for one platform (BuildKit pushes them), refuses them with buildx: false', () => {
    expect(read({ provenance: 'true' })).toMatchObject({ provenance: 'true', platforms: [] })
    expect(read({ sbom: 'true' })).toMatchObject({ sbom: true, platforms: [] })
    expect(() => read({ provenance: 'true', buildx: 'false' })).toThrow(
      /^provenance is an attestation that BuildKit attaches when it pushes the image, which needs buildx, but buildx is false/
    )
    expect(() => read({ provenance: 'mode=max', sbom: 'true', buildx: 'false' })).toThrow(
      /^provenance and sbom are attestations .* or remove provenance and sbom\.$/
    )
  })

  it('reads builder and load; refuses a builder that is no name, and builder with buildx: false', () => {
    expect(read({})).toMatchObject({ builder: '', load: false })
    expect(read({ builder: ' builder-1a2b ', load: 'true' })).toMatchObject({
      builder: 'builder-1a2b',
      load: true
    })
    expect(() => read({ builder: 'a b' })).toThrow(/^builder 'a b' is not a buildx builder name/)
    expect(() => read({ builder: 'ci', buildx: 'false' })).toThrow(
      /^builder 'ci' is a buildx builder, but buildx is false/
    )
  })

  it('refuses platforms with buildx: false, naming the matrix way', () => {
    expect(() => read({ platforms: 'linux/amd64,linux/arm64', buildx: 'false' })).toThrow(
      /builds with docker buildx, but buildx is false: set buildx to auto or true, or build each platform .*push-by-digest: true .*merge-digests/
    )
  })

  it('refuses push-by-digest with push: false, and with tags', () => {
    expect(() => read({ 'push-by-digest': 'true', push: 'false' })).toThrow(
      'push-by-digest pushes the image without a tag, but push is false'
    )
    expect(() => read({ 'push-by-digest': 'true', tags: '1.0, latest' })).toThrow(
      /push-by-digest pushes no tag, so tags \('1.0', 'latest'\) would have no effect: give the tags to the step with merge-digests/
    )
    expect(read({ 'push-by-digest': 'true', 'source-image': 'app:1' }).pushByDigest).toBe(true)
  })

  it('refuses every build input with merge-digests, naming them; keeps labels (index annotations)', () => {
    expect(() =>
      read({
        'merge-digests': digest,
        'source-image': 'app:1',
        context: '.',
        file: 'Dockerfile',
        'build-args': 'A=1',
        target: 't',
        pull: 'true',
        'no-cache': 'true',
        buildx: 'true',
        platforms: 'linux/amd64',
        provenance: 'true',
        sbom: 'true',
        'push-by-digest': 'true'
      })
    ).toThrow(
      'merge-digests merges images that are already pushed, so nothing is built and source-image, context, file, build-args, target, pull, no-cache, buildx, platforms, provenance, sbom, push-by-digest have no effect: remove them from the merge step (they belong to the build jobs).'
    )
    expect(() => read({ 'merge-digests': digest, platforms: 'linux/arm64' })).toThrow(
      /and platforms has no effect: remove it/
    )
    expect(read({ 'merge-digests': digest, labels: 'a=b' }).labels).toEqual(['a=b'])
    expect(() => read({ 'merge-digests': digest, push: 'false' })).toThrow(
      'merge-digests pushes an index under the tags, but push is false'
    )
  })

  it('refuses platforms, provenance and sbom with source-image', () => {
    expect(() => read({ 'source-image': 'app:1', platforms: 'linux/amd64', sbom: 'true' })).toThrow(
      /nothing is built and platforms, sbom have no effect/
    )
  })
})
