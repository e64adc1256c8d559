/**
 * The BuildKit inputs (plan/build-options.ts), how they go with the builder and the other inputs
 * (rules.ts), and how they become docker's argv and environment (docker/build-args.ts).
 */
import { describe, expect, it, jest } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import * as path from 'node:path'
import {
  buildArgs,
  buildEnvironment,
  commonFlags,
  buildxPushArgs,
  type BuildRequest
} from '../../../src/docker/build-args.js'
import {
  buildxAnnotations,
  indexAnnotations,
  manifestAnnotations,
  parseAnnotations,
  parseBuildContexts,
  parseCache,
  parseSecrets,
  parseSsh
} from '../../../src/plan/build-options.js'
import { parseBuildArgs } from '../../../src/plan/inputs.js'
import { buildDecisions, builderNeeds, checkBuildEnvironment } from '../../../src/plan/rules.js'
import { checkedInputs } from '../../support/inputs.js'
import { imageManifest } from '../../../src/publish/upload.js'
import { tempDir } from '../../support/temp-dirs.js'
import { plainBuildRequest } from '../../support/build-request.js'

const read = (values: Record<string, string>, env: Record<string, string> = {}) =>
  checkedInputs(values, { actor: 'a', repository: 'o/r', serverUrl: '', env })

/** What @actions/core printed (workflow commands: ::add-mask::, ::warning::) while `fn` ran. */
function printed(fn: () => void): string {
  const lines: string[] = []
  const spy = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true))
  try {
    fn()
  } finally {
    spy.mockRestore()
  }
  return lines.join('')
}

const base: BuildRequest = plainBuildRequest()

describe('secrets, secret-files, secret-envs', () => {
  it('parses the three, values may hold = and spaces', () => {
    expect(parseSecrets('tok=a=b c\nother=x', 'npmrc=.npmrc', 'gh=GH_TOKEN')).toEqual([
      { id: 'tok', source: 'value', value: 'a=b c' },
      { id: 'other', source: 'value', value: 'x' },
      { id: 'npmrc', source: 'file', path: '.npmrc' },
      { id: 'gh', source: 'env', variable: 'GH_TOKEN' }
    ])
  })
  it('refuses a line without an id, and never echoes the line (it may be a secret)', () => {
    let message = ''
    try {
      parseSecrets('hunter2-no-id', '', '')
    } catch (e) {
      message = (e as Error).message
    }
    expect(message).toMatch(/^secrets line 1 is not ID=VALUE/)
    expect(message).not.toContain('hunter2')
  })
  it('refuses an id given twice across the inputs', () => {
    expect(() => parseSecrets('a=1', 'a=f', '')).toThrow(/secret id 'a' is given twice/)
  })
  it('refuses a secret-envs value that is not a variable name', () => {
    expect(() => parseSecrets('', '', 'a=not a name')).toThrow(
      /is not an environment variable name/
    )
  })
  it('registers each value as a secret, also those read from secret-envs', () => {
    const out = printed(() =>
      read({ secrets: 'x=value-one', 'secret-envs': 'y=MY_VAR' }, { MY_VAR: 'value-two' })
    )
    expect(out).toContain('::add-mask::value-one')
    expect(out).toContain('::add-mask::value-two')
  })
})

describe('ssh', () => {
  it('takes default and ID=PATH', () => {
    expect(parseSsh('default\ngithub=/k/id_ed25519')).toEqual(['default', 'github=/k/id_ed25519'])
  })
  it.each(['git hub=/k', 'x=', 'a b'])('refuses %s', v => {
    expect(() => parseSsh(v)).toThrow(/is not 'default' or ID=PATH/)
  })
})

describe('build-args', () => {
  it('keeps KEY=VALUE lines', () => {
    expect(parseBuildArgs('A=1\nB_2=x=y\n_C=')).toEqual(['A=1', 'B_2=x=y', '_C='])
  })
  it('refuses a key that is no ARG name; `.` and `-` inside are ARG names (and go through the environment)', () => {
    expect(() => parseBuildArgs('1A=x')).toThrow(/is not a build argument name/)
    expect(parseBuildArgs('A-B=x\nA.B=y')).toEqual(['A-B=x', 'A.B=y'])
  })
  it.each(['PATH=x', 'DOCKER_HOST=x', 'BUILDX_BUILDER=x', 'HOME=/'])(
    'refuses %s: docker reads that variable itself',
    v => {
      expect(() => parseBuildArgs(v)).toThrow(/is an environment variable docker itself reads/)
    }
  )
  it('lets BUILDKIT_INLINE_CACHE through (a build argument BuildKit reads)', () => {
    expect(parseBuildArgs('BUILDKIT_INLINE_CACHE=1')).toEqual(['BUILDKIT_INLINE_CACHE=1'])
  })
  it('refuses a key given twice', () => {
    expect(() => parseBuildArgs('A=1\nA=2')).toThrow(/given twice/)
  })
  it('warns when a value is the token, pointing to secrets', () => {
    const out = printed(() => parseBuildArgs('NPM_TOKEN=ghs_abc\nOTHER=x', 'ghs_abc'))
    expect(out.match(/::warning::/g)).toHaveLength(1)
    expect(out).toMatch(/::warning::build-args NPM_TOKEN is the token.*secrets/)
    expect(out).not.toContain('ghs_abc')
  })
})

describe('cache-from and cache-to', () => {
  it('parses buildx entries, and a bare reference as type=registry', () => {
    expect(parseCache('cache-from', 'ghcr.io/o/app:cache\ntype=gha,scope=main')).toEqual([
      { type: 'registry', attrs: [['ref', 'ghcr.io/o/app:cache']] },
      { type: 'gha', attrs: [['scope', 'main']] }
    ])
    expect(parseCache('cache-to', 'type=local,dest=/tmp/c,mode=max')).toEqual([
      {
        type: 'local',
        attrs: [
          ['dest', '/tmp/c'],
          ['mode', 'max']
        ]
      }
    ])
  })
  it.each<['cache-from' | 'cache-to', string, RegExp]>([
    ['cache-from', 'type=nope,ref=x', /is not a cache entry/],
    ['cache-from', 'type=inline', /cache-from type=inline is not a cache source/],
    ['cache-from', 'type=registry', /has no ref/],
    ['cache-from', 'type=local,dest=x', /has no src/],
    ['cache-to', 'type=local', /has no dest/],
    ['cache-to', 'ghcr.io/o/app:cache', /is not a cache entry/]
  ])('%s %s is refused', (name, value, message) => {
    expect(() => parseCache(name, value)).toThrow(message)
  })

  it('buildx gets the entries as given; type=gha also the service URLs, never the token', () => {
    const req = {
      ...base,
      cacheFrom: parseCache('cache-from', 'type=gha\ntype=local,src=/c'),
      cacheTo: parseCache('cache-to', 'type=gha,mode=max')
    }
    const service = {
      ACTIONS_CACHE_URL: 'https://cache.example/',
      ACTIONS_RESULTS_URL: 'https://results.example/'
    }
    expect(commonFlags(req, 'buildx', service)).toEqual([
      '--cache-from',
      'type=gha,url=https://cache.example/,url_v2=https://results.example/',
      '--cache-from',
      'type=local,src=/c',
      '--cache-to',
      'type=gha,mode=max,url=https://cache.example/,url_v2=https://results.example/'
    ])
    expect(commonFlags(req, 'buildx', service).join(' ')).not.toContain('token')
    // A url the user gave is kept.
    expect(
      commonFlags(
        { ...base, cacheFrom: parseCache('cache-from', 'type=gha,url=https://mine/') },
        'buildx',
        service
      )
    ).toEqual(['--cache-from', 'type=gha,url=https://mine/,url_v2=https://results.example/'])
  })

  it('the built-in BuildKit reads a registry cache by reference and writes an inline one through a build-arg', () => {
    const req = {
      ...base,
      buildArgs: ['A=1'],
      cacheFrom: parseCache('cache-from', 'type=registry,ref=r/app:cache'),
      cacheTo: parseCache('cache-to', 'type=inline')
    }
    expect(commonFlags(req, 'buildkit')).toEqual([
      '--build-arg',
      'A',
      '--cache-from',
      'r/app:cache',
      '--build-arg',
      'BUILDKIT_INLINE_CACHE'
    ])
    expect(buildEnvironment(req, 'buildkit')).toEqual({
      A: '1',
      DOCKER_BUILDKIT: '1',
      BUILDKIT_INLINE_CACHE: '1'
    })
    expect(buildEnvironment(req, 'buildx')).toEqual({ A: '1' })
    expect(commonFlags(req, 'buildx')).toEqual([
      '--build-arg',
      'A',
      '--cache-from',
      'type=registry,ref=r/app:cache',
      '--cache-to',
      'type=inline'
    ])
  })

  it('tells what needs buildx and what needs BuildKit', () => {
    const needs = (values: Record<string, string>) => builderNeeds(read(values).build)
    expect(needs({})).toEqual({ buildx: '', buildKit: '' })
    expect(needs({ 'cache-from': 'r/app:cache', 'cache-to': 'type=inline' })).toEqual({
      buildx: '',
      buildKit: 'cache-to'
    })
    expect(needs({ 'cache-from': 'type=local,src=/c', secrets: 'a=b' })).toEqual({
      buildx: 'cache-from type=local',
      buildKit: 'secrets'
    })
    expect(needs({ 'cache-to': 'type=gha', 'build-contexts': 'x=./x', ssh: 'default' })).toEqual({
      buildx: 'build-contexts and cache-to type=gha',
      buildKit: 'ssh and cache-to'
    })
  })

  it('the plan decides once what only BuildKit push does and what the builder needs', () => {
    const decide = (values: Record<string, string>) => buildDecisions(read(values))
    expect(decide({})).toEqual({
      onlyBuildKitPush: '',
      builderNeeds: { buildx: '', buildKit: '' }
    })
    expect(decide({ provenance: 'mode=max', sbom: 'true', secrets: 'a=b' })).toEqual({
      onlyBuildKitPush: 'provenance and sbom',
      builderNeeds: { buildx: 'provenance and sbom', buildKit: 'secrets' }
    })
    expect(decide({ platforms: 'linux/amd64', sbom: 'true', 'cache-to': 'type=gha' })).toEqual({
      onlyBuildKitPush: 'platforms (linux/amd64)',
      builderNeeds: { buildx: 'platforms (linux/amd64)', buildKit: 'cache-to' }
    })
  })

  it('buildx: false refuses what needs buildx, before anything runs', () => {
    expect(() => read({ buildx: 'false', 'cache-to': 'type=local,dest=/c' })).toThrow(
      /^cache-to type=local needs buildx, but buildx is false/
    )
    expect(() => read({ buildx: 'false', 'build-contexts': 'x=./x' })).toThrow(
      /^build-contexts needs buildx/
    )
    expect(
      read({ buildx: 'false', 'cache-to': 'type=inline', secrets: 'a=b' }).build.secrets
    ).toHaveLength(1)
  })
})

describe('build-contexts', () => {
  it('takes NAME=VALUE lines', () => {
    expect(parseBuildContexts('shared=../shared\nalpine=docker-image://alpine:3.20')).toEqual([
      'shared=../shared',
      'alpine=docker-image://alpine:3.20'
    ])
  })
  it.each(['=x', 'noequals', 'a='])('refuses %s', v => {
    expect(() => parseBuildContexts(v)).toThrow(/is not NAME=VALUE/)
  })
  it('are passed to buildx as --build-context', () => {
    expect(buildArgs({ ...base, buildContexts: ['a=./a'] }, 'buildx', '/i')).toEqual(
      expect.arrayContaining(['--build-context', 'a=./a'])
    )
  })
})

describe('annotations', () => {
  it('takes KEY=VALUE and TYPE:KEY=VALUE lines', () => {
    const lines = 'org.opencontainers.image.description=A, b\nindex:x=1\nmanifest[linux/amd64]:y=2'
    expect(parseAnnotations(lines)).toHaveLength(3)
    expect(manifestAnnotations(parseAnnotations(lines + '\nmanifest:z=3'))).toEqual({
      'org.opencontainers.image.description': 'A, b',
      z: '3'
    })
  })
  it('an index the action makes of a local multi-platform image gets the unprefixed and index: ones', () => {
    const entries = parseAnnotations('a=1\nindex:b=2\nmanifest:c=3\nindex[linux/arm64]:d=4')
    expect(indexAnnotations(entries)).toEqual({ a: '1', b: '2' })
    expect(manifestAnnotations(entries)).toEqual({ a: '1', c: '3' })
  })
  it.each(['=x', 'nokey', 'bogus:k=v', 'a b=c'])('refuses %s', v => {
    expect(() => parseAnnotations(v)).toThrow(/is not KEY=VALUE/)
  })
  it('go on every manifest, and on the index when there is one (buildx)', () => {
    expect(buildxAnnotations(['a=1', 'index:b=2'], true)).toEqual([
      'manifest:a=1',
      'index:a=1',
      'index:b=2'
    ])
    expect(buildxAnnotations(['a=1'], false)).toEqual(['manifest:a=1'])
    const args = buildxPushArgs(
      {
        ...base,
        platforms: ['linux/amd64', 'linux/arm64'],
        output: { push: false },
        provenance: 'false',
        sbom: false,
        indexAnnotations: [],
        annotations: ['manifest:a=1', 'index:a=1']
      },
      '/m'
    )
    expect(args).toEqual(
      expect.arrayContaining(['--annotation', 'manifest:a=1', '--annotation', 'index:a=1'])
    )
  })
  it('are written into the OCI manifest the action pushes, and only when given', () => {
    const image = {
      config: Buffer.from('{}'),
      layers: [
        { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: 'sha256:aa', size: 1 }
      ]
    } as unknown as Parameters<typeof imageManifest>[0]
    const annotated = JSON.parse(imageManifest(image, 'sha256:cc', { a: '1, 2' }).toString())
    expect(annotated.annotations).toEqual({ a: '1, 2' })
    expect(JSON.parse(imageManifest(image, 'sha256:cc').toString())).not.toHaveProperty(
      'annotations'
    )
  })

  it('an index annotation without platforms is refused', () => {
    expect(() => read({ annotations: 'index:a=1' })).toThrow(
      /is for an index or a platform's manifest/
    )
    expect(read({ annotations: 'index:a=1', platforms: 'linux/amd64' }).build.annotations).toEqual([
      'index:a=1'
    ])
  })
})

describe('the step environment and the disk', () => {
  const dir = tempDir('build-options-')
  writeFileSync(path.join(dir, 'npmrc'), 'x')
  const check = (values: Record<string, string>, env: Record<string, string> = {}) =>
    checkBuildEnvironment(read(values, env), env, dir)

  it('a secret-envs variable must be set', () => {
    expect(() => check({ 'secret-envs': 'a=NOPE' })).toThrow(
      /the environment variable NOPE is not set/
    )
    expect(() => check({ 'secret-envs': 'a=SET' }, { SET: '' })).not.toThrow()
  })
  it('a secret-files file must exist', () => {
    expect(() => check({ 'secret-files': 'a=missing' })).toThrow(/is not a file/)
    expect(() => check({ 'secret-files': 'a=npmrc' })).not.toThrow()
  })
  it('ssh default needs an agent', () => {
    expect(() => check({ ssh: 'default' })).toThrow(/SSH_AUTH_SOCK is not set/)
    expect(() => check({ ssh: 'default' }, { SSH_AUTH_SOCK: '/a.sock' })).not.toThrow()
  })
  it('type=gha needs the runner cache service', () => {
    expect(() => check({ 'cache-to': 'type=gha' })).toThrow(/needs the runner's cache service/)
    expect(() =>
      check({ 'cache-to': 'type=gha' }, { ACTIONS_RUNTIME_TOKEN: 't', ACTIONS_CACHE_URL: 'u' })
    ).not.toThrow()
  })
  it('a local build context must be a folder; images and URLs are not looked up', () => {
    expect(() => check({ 'build-contexts': 'x=./nope' })).toThrow(/is not a directory/)
    expect(() =>
      check({ 'build-contexts': 'x=.\ny=docker-image://alpine\nz=https://e.com/r.git' })
    ).not.toThrow()
  })
})

describe('with source-image or merge-digests', () => {
  it('a build-only input is refused with source-image; annotations are kept', () => {
    expect(() => read({ 'source-image': 'app:1', secrets: 'a=b' })).toThrow(/secrets has no effect/)
    expect(() => read({ 'source-image': 'app:1', 'cache-from': 'r/x:c' })).toThrow(
      /cache-from has no effect/
    )
    expect(read({ 'source-image': 'app:1', annotations: 'a=1' }).build.annotations).toEqual(['a=1'])
  })
})
