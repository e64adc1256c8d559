/**
 * End to end, in both auth modes: the matrix way to a multi-platform image, with the committed
 * dist/index.js against the real engine and registries, checked with real clients.
 *
 *   build job (per platform): push-by-digest — here the amd64 image, built on this machine;
 *   the arm64 image a native arm64 runner would push is made through the registry API (a config
 *   declaring linux/arm64/v8, a real layer), since this machine cannot build for arm64;
 *   merge job: merge-digests → one OCI index under every tag.
 */
import { describe, expect, it } from '@jest/globals'
import { createHash, randomBytes } from 'node:crypto'
import { MEDIA_TYPES } from '../../src/oci/media-types.js'
import { RegistryClient } from '../../src/registry/client.js'
import {
  clientDocker,
  configDigest,
  e2eEnv,
  imageIdentity,
  inputsFor,
  nonce,
  pushImageByDigest,
  Runner,
  skopeoInspect,
  skopeoTags,
  type StepResult,
  testRegistries,
  type TestRegistry
} from './harness.js'

e2eEnv() // fails loudly when the environment is not there
const OWNER = 'octo-org' // from the runner's GITHUB_REPOSITORY Octo-Org/Hello-World

/** A workspace whose image has fresh content, so every test pushes new layers. */
function project(runner: Runner): void {
  runner.write('Dockerfile', 'FROM scratch\nCOPY hello.txt /hello.txt\n')
  runner.write('hello.txt', `hello ${nonce()}\n`)
}

/** The tags the registry lists for a repository (none: [], also when it has no tag list at all). */
async function listTags(reg: TestRegistry, repository: string): Promise<string[]> {
  const client = new RegistryClient({
    registry: reg.registry,
    username: reg.user,
    password: reg.password
  })
  const path = `/v2/${repository}/tags/list`
  const response = await client.request('GET', path, [`repository:${repository}:pull`])
  if (response.status === 404) return []
  expect(response.status).toBe(200)
  return ((await response.json()) as { tags?: string[] | null }).tags ?? []
}

/** A one-layer linux/arm64/v8 image pushed by digest through the API, as an arm64 runner would. */
function pushArm64Image(reg: TestRegistry, repository: string, variant = 'v8') {
  return pushImageByDigest(reg, repository, { architecture: 'arm64', variant, os: 'linux' })
}

/** Registry API requests the step says it sent ("Digest: … (N registry API requests)"). */
function requestsSent(step: StepResult): number {
  const m = /\((\d+) registry API requests\)/.exec(step.stdout)
  expect(m).not.toBeNull()
  return Number(m![1])
}

const rawDigest = (raw: string): string =>
  'sha256:' + createHash('sha256').update(raw).digest('hex')

describe.each(testRegistries())('multi-platform images on the $mode registry', reg => {
  const client = clientDocker(reg)

  /**
   * The build job of one platform: the action builds and pushes by digest. (`built: true` has the
   * action build it; otherwise an earlier step builds it and the action publishes that
   * source-image, which is faster: the classic builder spends a second per label.)
   */
  function buildJob(imageName: string, built = true): { step: StepResult; runner: Runner } {
    const runner = new Runner()
    project(runner)
    const inputs = { ...inputsFor(reg, imageName), 'push-by-digest': 'true' }
    if (!built) {
      const local = `elsewhere:${nonce()}`
      client(['build', '--quiet', '--tag', local, runner.workspace])
      return { step: runner.main({ ...inputs, 'source-image': local }), runner }
    }
    const step = runner.main(inputs)
    if (process.env.E2E_VERBOSE) console.log(step.stdout)
    return { step, runner }
  }

  it('push-by-digest: pushes the image without any tag; the digest pulls the very image built', async () => {
    const imageName = `matrix/by-digest-${nonce()}`
    const repository = `${OWNER}/${imageName}`
    const image = `${reg.registry}/${repository}`
    // Built by the action once (htpasswd); the same push of a source-image on the token registry.
    const built = reg.mode === 'htpasswd'
    const { step, runner } = buildJob(imageName, built)
    expect(step.stderr).toBe('')
    expect(step.exitCode).toBe(0)
    expect(step.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(step.outputs['image-ref']).toBe(`${image}@${step.outputs.digest}`)
    expect(step.outputs.tags).toBe('')
    expect(step.stdout).not.toMatch(/\[command\]\S*docker (push|tag)/)
    expect(step.stdout).toMatch(/\[command\]\S*docker save sha256:[0-9a-f]{64}/)
    // No tag at all, as the registry's tag list and skopeo see it.
    expect(await listTags(reg, repository)).toEqual([])
    expect(skopeoTags(reg, image)).toEqual([])
    // What the registry serves under the digest: an OCI manifest whose config is the local image's.
    const raw = skopeoInspect(reg, `${image}@${step.outputs.digest}`, true)
    expect(rawDigest(raw)).toBe(step.outputs.digest)
    const manifest = JSON.parse(raw)
    expect(manifest.mediaType).toBe(MEDIA_TYPES.ociManifest)
    const config = configDigest(step.outputs.imageid)
    expect(manifest.config.digest).toBe(config)
    expect(manifest.layers[0].mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip')
    const metadata = JSON.parse(step.outputs.metadata)
    expect(metadata).toMatchObject({
      tags: [],
      digest: step.outputs.digest,
      platform: 'linux/amd64'
    })
    expect(metadata.size).toBe(
      manifest.layers.reduce((s: number, l: { size: number }) => s + l.size, 0)
    )
    // The version label still follows the event (push to the default branch → latest).
    if (built) expect(metadata.labels['org.opencontainers.image.version']).toBe('latest')
    expect(step.summary).toContain('none: pushed by digest')
    // docker pull by digest fetches it: the same image (config) as the one built.
    client(['image', 'rm', '--force', step.outputs.imageid])
    client(['pull', step.outputs['image-ref']])
    expect(configDigest(step.outputs['image-ref'])).toBe(config)
    expect(runner.post().exitCode).toBe(0)
  }, 120_000)

  it('merge-digests: the amd64 image of push-by-digest and an arm64 image become one index under every tag', async () => {
    const imageName = `matrix/merged-${nonce()}`
    const repository = `${OWNER}/${imageName}`
    const image = `${reg.registry}/${repository}`
    const amd64 = buildJob(imageName, false)
    expect(amd64.step.exitCode).toBe(0)
    expect(amd64.runner.post().exitCode).toBe(0)
    const arm64 = await pushArm64Image(reg, repository)

    const merge = new Runner()
    const step = merge.main({
      ...inputsFor(reg, imageName),
      // as gathered from the matrix: the digest output, or the image-ref output (IMAGE@DIGEST)
      'merge-digests': `${arm64.digest}\n${amd64.step.outputs['image-ref']}\n`,
      tags: '1.0.0, latest'
    })
    expect(step.stderr).toBe('')
    expect(step.exitCode).toBe(0)
    const digest = step.outputs.digest
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(step.outputs['image-ref']).toBe(`${image}@${digest}`)
    expect(step.outputs.tags).toBe(`${image}:1.0.0\n${image}:latest`)
    expect(step.outputs.imageid).toBe('')
    // No docker at all in the merge step: no login, no config directory.
    expect(step.stdout).not.toMatch(/\[command\]\S*docker /)
    // A handful of requests: a GET per manifest and per config, one PUT and one read-back HEAD per
    // tag (plus ping and token).
    expect(requestsSent(step)).toBeLessThanOrEqual(2 * 2 + 2 * 2 + 2)

    // The index as a real client reads it, under every tag.
    for (const tag of ['1.0.0', 'latest']) {
      const raw = skopeoInspect(reg, `${image}:${tag}`, true)
      expect(rawDigest(raw)).toBe(digest)
    }
    const index = JSON.parse(skopeoInspect(reg, `${image}@${digest}`, true))
    expect(index.mediaType).toBe(MEDIA_TYPES.ociIndex)
    expect(index.manifests).toEqual([
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: amd64.step.outputs.digest,
        size: expect.any(Number),
        platform: { architecture: 'amd64', os: 'linux' }
      },
      {
        mediaType: MEDIA_TYPES.ociManifest,
        digest: arm64.digest,
        size: arm64.manifestSize,
        platform: { architecture: 'arm64', os: 'linux', variant: 'v8' }
      }
    ])
    // The labels of the run became the index's annotations: GitHub reads a multi-platform image's
    // description there (docs/facts/github-registries.md, "Labels GitHub reads").
    expect(index.annotations).toMatchObject({
      'org.opencontainers.image.source': 'https://github.com/Octo-Org/Hello-World',
      'org.opencontainers.image.version': '1.0.0',
      'org.opencontainers.image.description': 'A small web service, published as a container image'
    })
    const metadata = JSON.parse(step.outputs.metadata)
    expect(metadata.platform).toBe('linux/amd64,linux/arm64/v8')
    expect(metadata.size).toBe(
      JSON.parse(skopeoInspect(reg, amd64.step.outputs['image-ref'], true)).layers[0].size +
        arm64.layerSize
    )
    expect(step.summary).toContain('Index annotations')

    // docker pull of the index on this amd64 machine gets the amd64 image.
    const built = imageIdentity(client, amd64.step.outputs.imageid)
    expect(built.architecture).toBe('amd64')
    client(['image', 'rm', '--force', amd64.step.outputs.imageid])
    client(['pull', `${image}@${digest}`])
    expect(imageIdentity(client, `${image}@${digest}`)).toEqual(built)
    expect(merge.post().exitCode).toBe(0)
  }, 120_000)

  it('merge-digests refuses a digest the repository does not have, and two images of one platform, pushing nothing', async () => {
    const imageName = `matrix/refused-${nonce()}`
    const repository = `${OWNER}/${imageName}`
    const one = await pushArm64Image(reg, repository)
    const other = await pushArm64Image(reg, repository) // another arm64/v8 image
    const absent = `sha256:${randomBytes(32).toString('hex')}`

    const missing = new Runner().main({
      ...inputsFor(reg, imageName),
      'merge-digests': `${one.digest}\n${absent}`,
      tags: 'never'
    })
    expect(missing.exitCode).toBe(1)
    expect(missing.stdout).toMatch(
      new RegExp(
        `::error::merge-digests: ${reg.registry}/${repository} has no manifest ${absent} \\(manifest_unknown\\)\\. .*Nothing was pushed\\.`
      )
    )

    const twice = new Runner().main({
      ...inputsFor(reg, imageName),
      'merge-digests': `${one.digest}\n${other.digest}`,
      tags: 'never'
    })
    expect(twice.exitCode).toBe(1)
    expect(twice.stdout).toContain(
      `::error::merge-digests has more than one image for the same platform (linux/arm64/v8: ${one.digest} and ${other.digest})`
    )
    for (const step of [missing, twice]) expect(step.stdout).not.toMatch(/\n\s+at .+:\d+:\d+/)
    expect(await listTags(reg, repository)).toEqual([])
  }, 120_000)
})

describe('platforms without buildx', () => {
  const reg = testRegistries()[0]

  it('platforms on a runner without buildx fails clearly, naming buildx: true and the matrix way, before building', () => {
    const runner = new Runner()
    project(runner)
    const step = runner.main({
      ...inputsFor(reg, `matrix/no-buildx-${nonce()}`),
      platforms: 'linux/amd64,linux/arm64'
    })
    expect(step.exitCode).toBe(1)
    expect(step.stdout).toMatch(
      /::error::platforms \(linux\/amd64,linux\/arm64\) needs the docker buildx plugin, which this runner does not have: set buildx: true to install it .*push-by-digest: true.*merge-digests/
    )
    expect(step.stdout).not.toMatch(/\[command\]\S*docker (build|push|buildx build)/)
    expect(runner.post().exitCode).toBe(0)
  })
})
