/**
 * End to end on the modern engine (E2E_ENGINE=modern scripts/e2e-env.sh start: Debian forky's
 * Docker 28.5 with the buildx 0.29 plugin and the containerd image store), with the committed
 * dist/index.js run as the runner runs it, checked with real clients (skopeo, docker pull, and
 * docker run of what was pulled).
 *
 * Tests the current code cannot pass yet are `it.failing` (KNOWN FAILING in their names): jest
 * reports them as passing while they fail, and fails them the day they pass, so the marker is
 * removed with the fix.
 */
import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import * as path from 'node:path'
import {
  clientDocker,
  e2eEnv,
  indexEntries,
  inputsFor,
  nonce,
  OWNER,
  runnableImage,
  runnableProject,
  Runner,
  sh,
  skopeoInspect,
  skopeoTags,
  type StepResult,
  testRegistries,
  type TestRegistry
} from './harness.js'
import { tempDir } from '../support/temp-dirs.js'

const env = e2eEnv() // fails loudly when the environment is not there
if (process.env.E2E_ENGINE !== 'modern' || process.env.E2E_IMAGE_STORE !== 'containerd') {
  throw new Error(
    'modern-engine tests need the modern engine (containerd image store): ' +
      'source "$(E2E_ENGINE=modern scripts/e2e-env.sh start | tail -n1)" first ' +
      `(this environment: E2E_ENGINE=${process.env.E2E_ENGINE ?? ''}, ` +
      `E2E_IMAGE_STORE=${process.env.E2E_IMAGE_STORE ?? ''})`
  )
}

const rawDigest = (raw: string): string =>
  'sha256:' + createHash('sha256').update(raw).digest('hex')

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
const GZIP_LAYER =
  /^application\/vnd\.(oci\.image\.layer\.v1\.tar|docker\.image\.rootfs\.diff\.tar)\+?\.?gzip$/
const ZSTD_LAYER = 'application/vnd.oci.image.layer.v1.tar+zstd'

interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: { os: string; architecture: string; variant?: string }
  annotations?: Record<string, string>
}
interface Manifest {
  mediaType?: string
  config: Descriptor
  layers: Descriptor[]
}
interface Index {
  mediaType?: string
  manifests: Descriptor[]
}

/** A folder with a Dockerfile and a file, for builds done outside the action. */
function contextDir(dockerfile: string, files: Record<string, string>): string {
  const dir = tempDir('e2e-modern-ctx-')
  writeFileSync(path.join(dir, 'Dockerfile'), dockerfile)
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content)
  return dir
}

/** What the registry serves for a reference, as skopeo (a real client) reads it. */
function served(reg: TestRegistry, reference: string): { raw: string; json: Manifest & Index } {
  const raw = skopeoInspect(reg, reference, true)
  return { raw, json: JSON.parse(raw) }
}

/** The step's failure, for the report of a known-failing test. */
function errorLine(step: StepResult): string {
  return (step.stdout.match(/^::error::.*$/m) ?? [`exit ${step.exitCode}`])[0]
}

/**
 * The step succeeded: exit 0 (the error line is shown when it did not). stderr may carry
 * docker's own output (a runner logs both streams), but no error command and no stack trace.
 */
function expectSuccess(step: StepResult): void {
  expect({ exit: step.exitCode, error: errorLine(step) }).toEqual({
    exit: 0,
    error: 'exit 0'
  })
  expect(step.stderr).not.toMatch(/::error::|\n\s+at .+:\d+:\d+/)
}

describe.each(testRegistries())('modern engine, $mode registry', reg => {
  const client = clientDocker(reg)

  it('the engine is the one this file is for: Docker 28.5+, buildx 0.29+, containerd 2.1+, containerd image store', () => {
    // [major, minor] of the first x.y in a version string.
    const majorMinor = (text: string): [number, number] => {
      const m = /(\d+)\.(\d+)/.exec(text)
      return m ? [Number(m[1]), Number(m[2])] : [0, 0]
    }
    const atLeast = ([a, b]: [number, number], [x, y]: [number, number]): boolean =>
      a > x || (a === x && b >= y)
    const engine = client(['version', '--format', '{{.Server.Version}}']).trim()
    const containerd = client([
      'version',
      '--format',
      '{{range .Server.Components}}{{if eq .Name "containerd"}}{{.Version}}{{end}}{{end}}'
    ]).trim()
    const buildx = client(['buildx', 'version'])
    expect(buildx).toMatch(/github\.com\/docker\/buildx v?0\.\d+/)
    const buildxVersion = /buildx v?(\d+\.\d+)/.exec(buildx)?.[1] ?? ''
    // Each version with whether it is new enough: a failure shows the version it found.
    const found = {
      engine: [engine, atLeast(majorMinor(engine), [28, 5])],
      containerd: [containerd, atLeast(majorMinor(containerd), [2, 1])],
      buildx: [buildxVersion, atLeast(majorMinor(buildxVersion), [0, 29])]
    }
    expect(found).toEqual({
      engine: [engine, true],
      containerd: [containerd, true],
      buildx: [buildxVersion, true]
    })
    expect(client(['info', '--format', '{{json .DriverStatus}}'])).toContain(
      'io.containerd.snapshotter.v1'
    )
  })

  it('builds with docker buildx build, BuildKit pushes (no --load, no docker save); the digest pulls and runs', () => {
    const { imageName, image, runner, word } = runnableImage(reg, 'modern/load', 'modern')
    const step = runner.main({ ...inputsFor(reg, imageName), tags: '1.0.0\nlatest' })
    expectSuccess(step)
    expect(step.stdout).toMatch(
      /\[command\]\S*docker buildx build .*oci-mediatypes=true,(unpack=false,)?push=true/
    )
    expect(step.stdout).not.toMatch(/\[command\]\S*docker (push|save|buildx build --load)/)
    const digest = step.outputs.digest
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(step.outputs['image-ref']).toBe(`${image}@${digest}`)
    for (const tag of ['1.0.0', 'latest'])
      expect(rawDigest(served(reg, `${image}:${tag}`).raw)).toBe(digest)
    // One image manifest (not the local index, not the attestation), with gzip layers.
    const { json } = served(reg, `${image}@${digest}`)
    expect(json.mediaType).toBe(OCI_MANIFEST)
    expect(json.layers.length).toBeGreaterThanOrEqual(2)
    for (const layer of json.layers) expect(layer.mediaType).toMatch(GZIP_LAYER)
    expect(pullAndRun(client, `${image}@${digest}`, [`${image}:1.0.0`, `${image}:latest`])).toBe(
      word
    )
    expect(runner.post().exitCode).toBe(0)
  }, 120_000)

  it('platforms: linux/amd64 is built and pushed by buildx; the digest output is what the registry serves', () => {
    const { imageName, image, runner, word } = runnableImage(reg, 'modern/platforms', 'modern')
    const step = runner.main({
      ...inputsFor(reg, imageName),
      tags: '2.0.0',
      platforms: 'linux/amd64'
    })
    expectSuccess(step)
    expect(step.stdout).toMatch(/\[command\]\S*docker buildx build .*--platform linux\/amd64/)
    const digest = step.outputs.digest
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(rawDigest(served(reg, `${image}:2.0.0`).raw)).toBe(digest)
    // One OCI image manifest (README: OCI by default; no attestation unless asked).
    const top = served(reg, `${image}@${digest}`).json
    expect(top.mediaType).toBe(OCI_MANIFEST)
    expect(pullAndRun(client, `${image}@${digest}`)).toBe(word)
    expect(runner.post().exitCode).toBe(0)
  }, 120_000)
})

/**
 * What `docker save` writes for a local image of the containerd store: index.json points at the
 * image's own index (nested), which lists a manifest per platform and, from buildx, attestation
 * manifests (platform unknown/unknown).
 */
function savedImage(
  client: (args: string[]) => string,
  reference: string
): { nested: Index; images: Manifest[]; attestations: Descriptor[] } {
  const dir = tempDir('e2e-modern-save-')
  const tar = path.join(dir, 'saved.tar')
  client(['save', '--output', tar, reference])
  const blob = (digest: string): string =>
    sh('tar', ['-xOf', tar, `blobs/sha256/${digest.replace('sha256:', '')}`])
  const top = JSON.parse(sh('tar', ['-xOf', tar, 'index.json'])) as Index
  expect(top.manifests).toHaveLength(1)
  // An image without attestations, of one platform, may be saved as a bare manifest.
  const nested =
    top.manifests[0].mediaType === OCI_INDEX
      ? (JSON.parse(blob(top.manifests[0].digest)) as Index)
      : top
  expect(nested.manifests.map(m => m.mediaType)).toEqual(nested.manifests.map(() => OCI_MANIFEST))
  const isAttestation = (m: Descriptor): boolean =>
    m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
  return {
    nested,
    images: nested.manifests
      .filter(m => !isAttestation(m))
      .map(m => JSON.parse(blob(m.digest)) as Manifest),
    attestations: nested.manifests.filter(isAttestation)
  }
}

/**
 * docker pull IMAGE@DIGEST (after removing the local names in `remove`, so it really is fetched)
 * then docker run of what was pulled: what the image prints.
 */
function pullAndRun(
  client: (args: string[]) => string,
  reference: string,
  remove: string[] = []
): string {
  if (remove.length) client(['image', 'rm', '--force', ...remove])
  const pulled = client(['pull', reference])
  expect(pulled).toContain(`Digest: ${reference.split('@')[1]}`)
  return client(['run', '--rm', '--network', 'none', reference]).trim()
}

/** A build context that makes a runnable image printing a fresh word. */
function runnableContext(): { dir: string; word: string } {
  const word = `word-${nonce()}`
  const dir = contextDir(
    `FROM ${env.baseImage}\nCOPY word.txt /hello.txt\nCMD ["cat", "/hello.txt"]\n`,
    { 'word.txt': `${word}\n` }
  )
  return { dir, word }
}

describe('modern engine: images built in the containerd store, published with source-image', () => {
  const reg = testRegistries()[0]
  const client = clientDocker(reg)

  /** Publishes a local image with source-image (and optionally push-by-digest). */
  function publish(imageName: string, source: string, extra: Record<string, string> = {}) {
    const runner = new Runner()
    const step = runner.main({ ...inputsFor(reg, imageName), 'source-image': source, ...extra })
    return { runner, step }
  }

  it('the same local image published again: docker push of the stored blobs; again under the same tag, no push at all; under a new tag too, nothing uploaded; the same digest', () => {
    const { dir } = runnableContext()
    const local = `again:${nonce()}`
    client(['buildx', 'build', '--provenance=mode=min', '--load', '--tag', local, dir])
    const imageName = `modern/again-${nonce()}`
    const toolCache = tempDir('e2e-tool-cache-')
    const run = (tags: string) => {
      const runner = new Runner('push-default-branch', { RUNNER_TOOL_CACHE: toolCache })
      const step = runner.main({ ...inputsFor(reg, imageName), 'source-image': local, tags })
      expectSuccess(step)
      expect(runner.post().exitCode).toBe(0)
      return step
    }
    const first = run('v1')
    expect(first.stdout).toContain(`[command]docker push`)
    expect(first.stdout).not.toContain(`[command]docker save`)
    // The tag serves this very image: nothing pushed, the read is the read-back.
    const second = run('v1')
    expect(second.stdout).toMatch(/^Route: none, unchanged \(/m)
    expect(second.stdout).not.toContain(`[command]docker push`)
    expect(second.stdout).not.toContain(`[command]docker save`)
    expect(second.outputs.digest).toBe(first.outputs.digest)
    // A new tag: the engine pushes, asks the registry (HEAD) and uploads nothing it holds.
    const third = run('v1\nv2')
    expect(third.stdout).toContain(`[command]docker push`)
    expect(third.stdout).toMatch(/: Layer already exists/)
    expect(third.stdout).not.toMatch(/: Pushed/)
    expect(third.outputs.digest).toBe(first.outputs.digest)
  }, 120_000)

  it('an image buildx built with a provenance attestation (a nested index in docker save): docker push publishes the index as stored, its blobs as they are', () => {
    const { dir, word } = runnableContext()
    const local = `attested:${nonce()}`
    client(['buildx', 'build', '--provenance=mode=min', '--load', '--tag', local, dir])
    const saved = savedImage(client, local)
    expect(saved.images).toHaveLength(1)
    expect(saved.attestations).toHaveLength(1)
    const [built] = saved.images
    expect(built.layers.map(l => l.mediaType)).toEqual(
      built.layers.map(() => expect.stringMatching(GZIP_LAYER))
    )

    const imageName = `modern/attested-${nonce()}`
    const image = `${reg.registry}/${OWNER}/${imageName}`
    const { runner, step } = publish(imageName, local, { tags: 'v1' })
    expectSuccess(step)
    expect(step.stdout).toContain('Route: docker push (containerd image store')
    const { json: index, raw } = served(reg, `${image}:v1`)
    expect(rawDigest(raw)).toBe(step.outputs.digest)
    // The index as the engine stores it (its digest is the local image ID), attestation included.
    expect(index.mediaType).toBe(OCI_INDEX)
    expect(step.outputs.digest).toBe(step.outputs.imageid)
    const attestations = index.manifests.filter(m => m.platform?.os === 'unknown')
    expect(attestations).toHaveLength(1)
    const platform = index.manifests.find(m => m.platform?.os === 'linux')!
    const { json } = served(reg, `${image}@${platform.digest}`)
    // The engine's config and compressed layers, byte for byte (same digests): nothing recompressed.
    expect(json.config.digest).toBe(built.config.digest)
    expect(json.layers.map(l => l.digest)).toEqual(built.layers.map(l => l.digest))
    expect(JSON.parse(step.outputs.metadata).platform).toBe('linux/amd64')
    expect(pullAndRun(client, `${image}@${step.outputs.digest}`)).toBe(word)
    expect(runner.post().exitCode).toBe(0)
  }, 120_000)

  it('an image with zstd layers is published with the zstd media type, the blobs as they are', () => {
    const { dir, word } = runnableContext()
    const local = `${reg.registry}/local/zstd:${nonce()}`
    client([
      'buildx',
      'build',
      '--provenance=false',
      '--output',
      `type=image,name=${local},compression=zstd,force-compression=true,oci-mediatypes=true`,
      dir
    ])
    const [built] = savedImage(client, local).images
    expect(built.layers.map(l => l.mediaType)).toEqual(built.layers.map(() => ZSTD_LAYER))

    // Docker v2 has no zstd layer type: refused as the layer comes out of the save, before its
    // upload (the htpasswd registry answers a blob HEAD with Basic credentials).
    const refusedName = `modern/zstd-docker-${nonce()}`
    const refused = publish(refusedName, local, { tags: 'v1', 'media-types': 'docker' })
    expect(refused.step.exitCode).toBe(1)
    expect(errorLine(refused.step)).toMatch(/zstd layers.*media-types: oci/)
    expect(refused.step.stdout + refused.step.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/)
    for (const layer of built.layers) {
      const status = sh('curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-u',
        `${reg.user}:${reg.password}`,
        '-I',
        `http://${reg.registry}/v2/${OWNER}/${refusedName}/blobs/${layer.digest}`
      ])
      expect(status).toBe('404')
    }
    expect(refused.runner.post().exitCode).toBe(0)

    const imageName = `modern/zstd-${nonce()}`
    const image = `${reg.registry}/${OWNER}/${imageName}`
    const { runner, step } = publish(imageName, local, { tags: 'v1' })
    expectSuccess(step)
    const { json } = served(reg, `${image}@${step.outputs.digest}`)
    expect(json.layers.map(l => l.mediaType)).toEqual(json.layers.map(() => ZSTD_LAYER))
    expect(json.layers.map(l => l.digest)).toEqual(built.layers.map(l => l.digest))
    expect(json.config.digest).toBe(built.config.digest)
    expect(pullAndRun(client, `${image}@${step.outputs.digest}`)).toBe(word)
    expect(runner.post().exitCode).toBe(0)
  }, 120_000)
})

/** A context with no RUN step (FROM scratch): buildx builds it for any platform, no emulation. */
function scratchContext(): string {
  return contextDir('FROM scratch\nCOPY word.txt /hello.txt\n', {
    'word.txt': `scratch ${nonce()}\n`
  })
}

describe('modern engine: the matrix way, push-by-digest per platform and merge-digests', () => {
  const reg = testRegistries()[0]
  const client = clientDocker(reg)

  it('an amd64 image the action builds and an arm64 image built in the containerd store, pushed by digest, merge into one index', () => {
    const imageName = `modern/matrix-${nonce()}`
    const image = `${reg.registry}/${OWNER}/${imageName}`

    // amd64 job: the action builds and pushes by digest (buildx's docker driver cannot push by
    // digest, so the action's own upload does).
    const amd64Runner = new Runner()
    const word = runnableProject(amd64Runner, 'modern')
    const amd64 = amd64Runner.main({ ...inputsFor(reg, imageName), 'push-by-digest': 'true' })
    expectSuccess(amd64)
    expect(amd64.outputs.tags).toBe('')
    expect(amd64.stdout).toMatch(/^Publishing: .*cannot push by digest/m)
    expect(amd64.stdout).toMatch(/\[command\]\S*docker buildx build --load /)
    expect(served(reg, `${image}@${amd64.outputs.digest}`).json.mediaType).toBe(OCI_MANIFEST)
    expect(amd64Runner.post().exitCode).toBe(0)

    // arm64 job: an arm64 image built by buildx into the containerd store (with its provenance
    // attestation), published by the action with source-image and push-by-digest.
    const local = `arm64-local:${nonce()}`
    client([
      'buildx',
      'build',
      '--platform',
      'linux/arm64',
      '--provenance=mode=min',
      '--load',
      '--tag',
      local,
      scratchContext()
    ])
    const arm64Runner = new Runner()
    const arm64 = arm64Runner.main({
      ...inputsFor(reg, imageName),
      'push-by-digest': 'true',
      'source-image': local
    })
    expectSuccess(arm64)
    expect(JSON.parse(arm64.outputs.metadata).platform).toBe('linux/arm64')
    expect(skopeoTags(reg, image)).toEqual([])
    expect(arm64Runner.post().exitCode).toBe(0)

    // merge job.
    const merge = new Runner()
    const step = merge.main({
      ...inputsFor(reg, imageName),
      'merge-digests': `${amd64.outputs.digest}\n${arm64.outputs['image-ref']}`,
      tags: '1.0.0'
    })
    expectSuccess(step)
    expect(step.stdout).not.toMatch(/\[command\]\S*docker /)
    const { raw, json } = served(reg, `${image}:1.0.0`)
    expect(rawDigest(raw)).toBe(step.outputs.digest)
    expect(json.mediaType).toBe(OCI_INDEX)
    expect(
      json.manifests.map(m => [m.digest, `${m.platform?.os}/${m.platform?.architecture}`])
    ).toEqual([
      [amd64.outputs.digest, 'linux/amd64'],
      [arm64.outputs.digest, 'linux/arm64']
    ])
    // Each platform resolves through the index, as a real client on that platform sees it.
    const armSeen = JSON.parse(
      sh('skopeo', [
        '--override-arch',
        'arm64',
        'inspect',
        '--tls-verify=false',
        '--creds',
        `${reg.user}:${reg.password}`,
        `docker://${image}@${step.outputs.digest}`
      ])
    )
    const arm64Manifest = served(reg, `${image}@${arm64.outputs.digest}`).json
    expect([armSeen.Architecture, armSeen.Layers]).toEqual([
      'arm64',
      arm64Manifest.layers.map(l => l.digest)
    ])
    // docker pull of the index on this amd64 machine: the amd64 image, which runs.
    expect(pullAndRun(client, `${image}@${step.outputs.digest}`)).toBe(word)
    expect(merge.post().exitCode).toBe(0)
  }, 180_000)
})

describe('modern engine: a local image of several platforms (containerd store)', () => {
  const reg = testRegistries()[0]
  const client = clientDocker(reg)

  // docker save of an image of several platforms in the containerd store lists only the engine's
  // own platform in manifest.json (Docker 26); the others are only in the OCI index.
  it('source-image of an image built for linux/amd64 and linux/arm64: docker push publishes the index of both as stored, attestations included', () => {
    const local = `multi-local:${nonce()}`
    client([
      'buildx',
      'build',
      '--platform',
      'linux/amd64,linux/arm64',
      '--load',
      '--tag',
      local,
      scratchContext()
    ])
    const saved = savedImage(client, local)
    expect(saved.nested.manifests.map(m => m.platform?.architecture)).toEqual(
      expect.arrayContaining(['amd64', 'arm64'])
    )
    const imageName = `modern/multi-${nonce()}`
    const image = `${reg.registry}/${OWNER}/${imageName}`
    const runner = new Runner()
    const step = runner.main({ ...inputsFor(reg, imageName), 'source-image': local, tags: 'v1' })
    expectSuccess(step)
    const { raw, json } = served(reg, `${image}:v1`)
    expect(rawDigest(raw)).toBe(step.outputs.digest)
    expect(json.mediaType).toBe(OCI_INDEX)
    expect(step.outputs.digest).toBe(step.outputs.imageid)
    const images = json.manifests.filter(m => m.platform?.os !== 'unknown')
    expect(images.map(m => `${m.platform?.os}/${m.platform?.architecture}`).sort()).toEqual([
      'linux/amd64',
      'linux/arm64'
    ])
    expect(json.manifests.length - images.length).toBe(2) // one attestation per platform, as stored
    // Each platform's image is the saved one: the same config and layer blobs.
    for (const entry of images) {
      const platformManifest = served(reg, `${image}@${entry.digest}`).json
      const local = saved.images.find(m => m.config.digest === platformManifest.config.digest)
      expect(local).toBeDefined()
      expect(platformManifest.layers.map(l => l.digest)).toEqual(local!.layers.map(l => l.digest))
    }
    expect(JSON.parse(step.outputs.metadata).platform).toBe('linux/amd64,linux/arm64')
    // A real client reads the arm64 image back by the digest output (no emulation needed to pull).
    client(['pull', '--platform', 'linux/arm64', `${image}@${step.outputs.digest}`])
    expect(runner.post().exitCode).toBe(0)
  }, 120_000)
})

describe('modern engine: platforms, built and pushed by buildx', () => {
  const reg = testRegistries()[0]
  const client = clientDocker(reg)

  it('platforms: linux/amd64,linux/arm64 (a Dockerfile with no RUN step: no emulation needed) gives one index of both', () => {
    const imageName = `modern/two-platforms-${nonce()}`
    const image = `${reg.registry}/${OWNER}/${imageName}`
    const runner = new Runner()
    const word = `two ${nonce()}`
    runner.write('Dockerfile', 'FROM scratch\nCOPY word.txt /hello.txt\n')
    runner.write('word.txt', `${word}\n`)
    const step = runner.main({
      ...inputsFor(reg, imageName),
      tags: '3.0.0',
      platforms: 'linux/amd64,linux/arm64'
    })
    expectSuccess(step)
    const { raw, json } = served(reg, `${image}:3.0.0`)
    expect(rawDigest(raw)).toBe(step.outputs.digest)
    expect([OCI_INDEX, DOCKER_LIST]).toContain(json.mediaType)
    const images = json.manifests.filter(m => m.platform?.os !== 'unknown')
    expect(images.map(m => `${m.platform?.os}/${m.platform?.architecture}`).sort()).toEqual([
      'linux/amd64',
      'linux/arm64'
    ])
    // Each platform's image, as a client on that platform gets it, holds the file.
    for (const arch of ['amd64', 'arm64']) {
      const seen = JSON.parse(
        sh('skopeo', [
          '--override-arch',
          arch,
          'inspect',
          '--tls-verify=false',
          '--creds',
          `${reg.user}:${reg.password}`,
          `docker://${image}@${step.outputs.digest}`
        ])
      )
      expect(seen.Architecture).toBe(arch)
    }
    client(['pull', `${image}@${step.outputs.digest}`])
    const container = client(['create', `${image}@${step.outputs.digest}`, 'none']).trim()
    try {
      expect(client(['cp', `${container}:/hello.txt`, '-'])).toContain(word)
    } finally {
      client(['rm', container])
    }
    expect(runner.post().exitCode).toBe(0)
  }, 120_000)

  it('platforms with provenance: the registry gets the index with its attestation manifest, and the digest output is the index', () => {
    const { imageName, image, runner, word } = runnableImage(reg, 'modern/provenance', 'modern')
    const step = runner.main({
      ...inputsFor(reg, imageName),
      tags: '4.0.0',
      platforms: 'linux/amd64',
      provenance: 'mode=min'
    })
    expectSuccess(step)
    const { raw, json } = served(reg, `${image}:4.0.0`)
    expect(rawDigest(raw)).toBe(step.outputs.digest)
    expect(json.mediaType).toBe(OCI_INDEX)
    expect(indexEntries(json)).toEqual(['attestation', 'linux/amd64'])
    expect(pullAndRun(client, `${image}@${step.outputs.digest}`)).toBe(word)
    expect(runner.post().exitCode).toBe(0)
  }, 120_000)
})
