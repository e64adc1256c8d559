/**
 * The buildx path for `platforms`, with docker stubbed: this machine has no buildx plugin, so the
 * argv docker would get and the read-back through the registry are checked here, not end to end.
 */
import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { Docker, type ExecFn } from '../../../src/docker/cli.js'
import { buildForPlatforms } from '../../../src/produce/build.js'
import { checkedInputs } from '../../support/inputs.js'
import { resolveNames } from '../../../src/plan/names.js'
import { checkBuildxPush } from '../../../src/publish/buildx-push.js'
import { MEDIA_TYPES } from '../../../src/oci/media-types.js'
import { type RegistryClient } from '../../../src/registry/client.js'

const sha = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex')

function stubDocker(hasBuildx: boolean, metadata: Record<string, string>) {
  const calls: string[][] = []
  const fn: ExecFn = async (_command, args) => {
    calls.push(args)
    if (args[0] === 'buildx' && args[1] === 'version') {
      return { exitCode: hasBuildx ? 0 : 1, stdout: 'github.com/docker/buildx v0.29.1', stderr: '' }
    }
    if (args[0] === 'buildx' && args[1] === 'build') {
      writeFileSync(args[args.indexOf('--metadata-file') + 1], JSON.stringify(metadata))
      return { exitCode: 0, stdout: '', stderr: '' }
    }
    return { exitCode: 1, stdout: '', stderr: `unexpected docker ${args.join(' ')}` }
  }
  return { calls, docker: new Docker('/c', fn) }
}

const names = (tags: string[]) =>
  resolveNames({
    registry: 'ghcr.io',
    registryType: 'auto',
    owner: 'o',
    repository: '',
    imageName: 'app',
    tags,
    allowNoTags: true,
    contextRepository: 'o/app',
    serverUrl: 'https://github.com'
  })
const inputs = (values: Record<string, string>) =>
  checkedInputs(values, { actor: '', repository: 'o/app', serverUrl: '' })
const LABELS = ['org.opencontainers.image.description=Hello']

describe('buildForPlatforms', () => {
  it('several platforms: buildx pushes the index under the first tag, labels also as index annotations, no image ID', async () => {
    const d = stubDocker(true, { 'containerimage.digest': 'sha256:index' })
    const built = await buildForPlatforms(
      { docker: d.docker, configDir: '/c', temp: '/t' },
      inputs({ token: 't', platforms: 'linux/amd64,linux/arm64' }),
      names(['1.0', 'latest']),
      LABELS,
      true
    )
    expect(built).toEqual({
      digest: 'sha256:index',
      imageId: '',
      builder: 'buildx for linux/amd64,linux/arm64'
    })
    const build = d.calls.find(a => a[1] === 'build')!
    expect(build).toEqual(
      expect.arrayContaining([
        '--platform',
        'linux/amd64,linux/arm64',
        '--provenance=false',
        '--sbom=false',
        'type=image,name=ghcr.io/o/app:1.0,push=true',
        '--label',
        LABELS[0],
        '--annotation',
        `index:${LABELS[0]}`
      ])
    )
    expect(build).not.toContain('--load')
    expect(build).not.toContain('--tag')
  })

  it('one platform without attestations makes no index: no index annotations; the image ID is the config', async () => {
    const d = stubDocker(true, {
      'containerimage.digest': 'sha256:manifest',
      'containerimage.config.digest': 'sha256:config'
    })
    const built = await buildForPlatforms(
      { docker: d.docker, configDir: '/c', temp: '/t' },
      inputs({ token: 't', platforms: 'linux/arm64' }),
      names(['1.0']),
      LABELS,
      true
    )
    expect(built.imageId).toBe('sha256:config')
    expect(d.calls.find(a => a[1] === 'build')).not.toContain('--annotation')
  })

  it('with provenance even one platform gives an index (annotated), and push-by-digest pushes no tag', async () => {
    const d = stubDocker(true, { 'containerimage.digest': 'sha256:index' })
    await buildForPlatforms(
      { docker: d.docker, configDir: '/c', temp: '/t' },
      inputs({
        token: 't',
        platforms: 'linux/amd64',
        provenance: 'mode=max',
        'push-by-digest': 'true'
      }),
      names([]),
      LABELS,
      true
    )
    const build = d.calls.find(a => a[1] === 'build')!
    expect(build).toEqual(
      expect.arrayContaining([
        '--provenance=mode=max',
        'type=image,name=ghcr.io/o/app,push-by-digest=true,name-canonical=true,push=true',
        `index:${LABELS[0]}`
      ])
    )
  })

  it('push: false only builds (cacheonly output) and reports no digest', async () => {
    const d = stubDocker(true, {})
    const built = await buildForPlatforms(
      { docker: d.docker, configDir: '/c', temp: '/t' },
      inputs({ platforms: 'linux/amd64,linux/arm64', push: 'false' }),
      names(['1.0']),
      LABELS,
      false
    )
    expect(built.digest).toBeUndefined()
    expect(d.calls.find(a => a[1] === 'build')).toContain('type=cacheonly')
  })

  it('without buildx (buildx: auto) fails before building, naming buildx: true and the matrix way', async () => {
    const d = stubDocker(false, {})
    await expect(
      buildForPlatforms(
        { docker: d.docker, configDir: '/c', temp: '/t' },
        inputs({ token: 't', platforms: 'linux/amd64,linux/arm64' }),
        names(['1.0']),
        LABELS,
        true
      )
    ).rejects.toThrow(
      /^platforms \(linux\/amd64,linux\/arm64\) needs the docker buildx plugin, which this runner does not have: set buildx: true to install it/
    )
    expect(d.calls).toEqual([['buildx', 'version']])
  })
})

describe('reading back what buildx pushed', () => {
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] })
  )
  const digest = sha(index)
  function fakeRegistry() {
    const calls: string[] = []
    const client = {
      requests: 0,
      getManifest: async (_repo: string, ref: string) => {
        calls.push(`GET ${ref}`)
        return { digest, mediaType: MEDIA_TYPES.ociIndex, bytes: index }
      },
      putManifest: async (_repo: string, ref: string) => {
        calls.push(`PUT ${ref}`)
        return digest
      },
      headManifest: async () => undefined,
      getBlob: async () => Buffer.from('{}')
    }
    return { calls, client: client as unknown as RegistryClient }
  }
  it('reads the first tag back, checks it against the digest buildx reported, tags the rest', async () => {
    const r = fakeRegistry()
    const published = await checkBuildxPush(r.client, names(['1.0', 'latest']), {
      digest,
      imageId: '',
      builder: 'buildx'
    })
    expect(published.digest).toBe(digest)
    expect(r.calls).toEqual(['GET 1.0', 'PUT latest'])
    await expect(
      checkBuildxPush(fakeRegistry().client, names(['1.0']), {
        digest: 'sha256:other',
        imageId: '',
        builder: 'buildx'
      })
    ).rejects.toThrow(/^docker buildx build reported sha256:other but ghcr.io serves/)
  })

  it('by digest: reads the reported digest back; fails when buildx reported none', async () => {
    const r = fakeRegistry()
    const published = await checkBuildxPush(r.client, names([]), {
      digest,
      imageId: '',
      builder: 'buildx'
    })
    expect(published.digest).toBe(digest)
    expect(r.calls).toEqual([`GET ${digest}`])
    await expect(
      checkBuildxPush(r.client, names([]), { imageId: '', builder: 'buildx' })
    ).rejects.toThrow(/did not report the digest it pushed/)
  })
})
