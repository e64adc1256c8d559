/**
 * End to end, media-types docker: the committed dist/index.js pushes Docker v2 schema 2 manifests
 * (and a manifest list for a merge) to the real registry; skopeo reads the raw types back and
 * docker pulls the image by digest.
 */
import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { pack } from 'tar-stream'
import { FAMILY_TYPES, MEDIA_TYPES } from '../../src/oci/media-types.js'
import { sha256 } from '../../src/oci/digest.js'
import { RegistryClient } from '../../src/registry/client.js'
import {
  builtConfig,
  clientDocker,
  configDigest,
  e2eEnv,
  inputsFor,
  localBuild,
  nonce,
  Runner,
  skopeoInspect,
  testRegistries
} from './harness.js'

e2eEnv()
const OWNER = 'octo-org'
const DOCKER = FAMILY_TYPES.docker
/** docker login's stderr warning about unencrypted credentials is not a failure. */
const problems = (stderr: string): string =>
  stderr
    .split('\n')
    .filter(l => l.trim() && !/unencrypted|credential helper|credentials?-?store/i.test(l))
    .join('\n')
const rawDigest = (raw: string): string =>
  'sha256:' + createHash('sha256').update(raw).digest('hex')

/** An arm64 image pushed through the API in `family`'s types, as another runner would. */
async function pushArm64(
  reg: { registry: string; user: string; password: string },
  repository: string,
  family: 'oci' | 'docker'
): Promise<string> {
  const client = new RegistryClient({
    registry: reg.registry,
    username: reg.user,
    password: reg.password
  })
  const p = pack()
  p.entry({ name: 'arm.txt' }, `arm ${nonce()}\n`)
  p.finalize()
  const chunks: Buffer[] = []
  for await (const c of p) chunks.push(c as Buffer)
  const tar = Buffer.concat(chunks)
  const layer = gzipSync(tar)
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'arm64',
      variant: 'v8',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
      config: {}
    })
  )
  await client.uploadBlob(repository, layer)
  await client.uploadBlob(repository, config)
  const types = family === 'docker' ? DOCKER : FAMILY_TYPES.oci
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, digest: sha256(config), size: config.length },
      layers: [{ mediaType: types.layers.gzip, digest: sha256(layer), size: layer.length }]
    })
  )
  const digest = sha256(manifest)
  await client.putManifest(repository, digest, manifest, types.manifest)
  return digest
}

const [reg] = testRegistries() // htpasswd: the token registry runs the same code path

describe('media-types docker', () => {
  const client = clientDocker(reg)
  const inputs = (imageName: string): Record<string, string> => ({
    ...inputsFor(reg, imageName),
    'media-types': 'docker'
  })

  it('pushes a Docker v2 schema 2 manifest (config and layers too) that docker pulls by digest', () => {
    const imageName = `media/docker-${nonce()}`
    const image = `${reg.registry}/${OWNER}/${imageName}`
    const runner = new Runner()
    runner.write('Dockerfile', 'FROM scratch\nCOPY hello.txt /hello.txt\n')
    runner.write('hello.txt', `hello ${nonce()}\n`)
    const step = runner.main({ ...inputs(imageName), tags: '1.0, latest' })
    expect(problems(step.stderr)).toBe('')
    expect(step.exitCode).toBe(0)
    const digest = step.outputs.digest
    const raw = skopeoInspect(reg, `${image}@${digest}`, true)
    expect(rawDigest(raw)).toBe(digest)
    const manifest = JSON.parse(raw)
    expect(manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json')
    expect(manifest.config.mediaType).toBe('application/vnd.docker.container.image.v1+json')
    const config = builtConfig(step.outputs.imageid)
    expect(manifest.config.digest).toBe(config)
    expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType)).toEqual([
      'application/vnd.docker.image.rootfs.diff.tar.gzip'
    ])
    // Both tags serve the same bytes.
    expect(rawDigest(skopeoInspect(reg, `${image}:latest`, true))).toBe(digest)
    client([
      'image',
      'rm',
      '--force',
      ...localBuild(step.outputs.imageid, [`${image}:1.0`, `${image}:latest`])
    ])
    client(['pull', `${image}@${digest}`])
    expect(configDigest(`${image}@${digest}`)).toBe(config)
    expect(runner.post().exitCode).toBe(0)
  }, 120_000)

  it('merge-digests of Docker v2 images: a Docker manifest list; mixed with OCI: refused, nothing pushed', async () => {
    const imageName = `media/list-${nonce()}`
    const repository = `${OWNER}/${imageName}`
    const image = `${reg.registry}/${repository}`
    // The amd64 build job: a local image published by digest with media-types docker.
    const build = new Runner()
    build.write('Dockerfile', 'FROM scratch\nCOPY hello.txt /hello.txt\n')
    build.write('hello.txt', `amd ${nonce()}\n`)
    const local = `elsewhere:${nonce()}`
    client(['build', '--quiet', '--tag', local, build.workspace])
    const amd64 = build.main({
      ...inputs(imageName),
      'source-image': local,
      'push-by-digest': 'true'
    })
    expect(problems(amd64.stderr)).toBe('')
    expect(amd64.exitCode).toBe(0)
    expect(build.post().exitCode).toBe(0)
    const arm64 = await pushArm64(reg, repository, 'docker')
    const armOci = await pushArm64(reg, repository, 'oci')

    // Without media-types: the merge follows its images (Docker v2) and writes a manifest list.
    const merge = new Runner()
    const noTypes = inputs(imageName)
    delete noTypes['media-types']
    const step = merge.main({
      ...noTypes,
      'merge-digests': `${amd64.outputs.digest}\n${arm64}`,
      tags: '2.0'
    })
    expect(problems(step.stderr)).toBe('')
    expect(step.exitCode).toBe(0)
    expect(step.stdout).toContain(`Media types: Docker v2 schema 2 (${MEDIA_TYPES.dockerList})`)
    const list = JSON.parse(skopeoInspect(reg, `${image}:2.0`, true))
    expect(list.mediaType).toBe(MEDIA_TYPES.dockerList)
    expect(list.annotations).toBeUndefined()
    expect(list.manifests.map((m: { digest: string; mediaType: string }) => m)).toEqual([
      expect.objectContaining({
        digest: amd64.outputs.digest,
        mediaType: DOCKER.manifest,
        platform: { architecture: 'amd64', os: 'linux' }
      }),
      expect.objectContaining({
        digest: arm64,
        mediaType: DOCKER.manifest,
        platform: { architecture: 'arm64', os: 'linux', variant: 'v8' }
      })
    ])
    // docker (a real client) pulls the amd64 image through the list.
    client(['pull', `${image}:2.0`])

    // A Docker v2 amd64 with an OCI arm64: never one index.
    const mixed = new Runner().main({
      ...noTypes,
      'merge-digests': `${amd64.outputs.digest}\n${armOci}`,
      tags: 'mixed'
    })
    expect(mixed.exitCode).toBe(1)
    expect(mixed.stdout).toMatch(
      /::error::merge-digests lists OCI images \(sha256:\w+\) and Docker v2 schema 2 images \(sha256:\w+\): an index never mixes/
    )
    expect(() => skopeoInspect(reg, `${image}:mixed`, true)).toThrow(/manifest unknown|not found/i)
  }, 180_000)
})
