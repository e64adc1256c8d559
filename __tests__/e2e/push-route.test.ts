/**
 * End to end: which way a local image goes to the registry (src/publish/route.ts), on the engine
 * this run has (the modern engine in either image store, or the classic 20.10 one): the one
 * "Route:" line and its reason, the job summary's Route row, and on every way the same
 * guarantees: every tag read back, the digest output is what the registry serves, imageid.
 */
import { afterAll, describe, expect, it } from '@jest/globals'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js'
import {
  e2eClient,
  inputsFor,
  nonce,
  parseFileCommand,
  Runner,
  sh,
  skopeoInspect
} from './harness.js'
import { tempDir } from '../support/temp-dirs.js'

const { env, client } = e2eClient()
const OWNER = 'octo-org'
const MB = 1024 * 1024
const STORE = client(['info', '--format', '{{json .DriverStatus}}']).includes(
  'io.containerd.snapshotter.v1'
)
  ? 'containerd'
  : 'classic'
const RAW_LAYER =
  /^application\/vnd\.(oci\.image\.layer\.v1\.tar|docker\.image\.rootfs\.diff\.tar)$/
const GZIP_LAYER =
  /^application\/vnd\.(oci\.image\.layer\.v1\.tar\+gzip|docker\.image\.rootfs\.diff\.tar\.gzip)$/

const proxies: FaultProxy[] = []
afterAll(async () => {
  for (const p of proxies.splice(0)) await p.stop()
})

/** A compressible text of about `bytes` bytes, different each call. */
function text(bytes: number): string {
  const seed = nonce()
  const lines: string[] = []
  for (let i = 0, n = 0; n < bytes; i++) {
    const line = `line ${i} of a compressible file ${seed}, said again and again ${i % 97}\n`
    lines.push(line)
    n += line.length
  }
  return lines.join('')
}

/** Builds an image outside the action (FROM scratch, one compressible 3 MB layer); its ID. */
function buildElsewhere(tag: string): string {
  const dir = tempDir('e2e-route-')
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY made.txt /made.txt\n')
  writeFileSync(path.join(dir, 'made.txt'), text(3 * MB))
  client(['build', '--quiet', '--tag', tag, dir])
  return client(['image', 'inspect', '--format', '{{.Id}}', tag]).trim()
}

/**
 * A `docker save` archive in the legacy layout (manifest.json, config, layer.tar) whose one layer
 * is an uncompressed 3 MB tar, loaded with `docker load`: the containerd store keeps it raw.
 */
function loadUncompressed(tag: string): { id: string; layerBytes: number } {
  const dir = tempDir('e2e-uncompressed-')
  const root = path.join(dir, 'root')
  sh('mkdir', ['-p', root])
  writeFileSync(path.join(root, 'big.txt'), text(3 * MB))
  sh('tar', ['-C', root, '-cf', path.join(dir, 'layer.tar'), '.'])
  const layer = readFileSync(path.join(dir, 'layer.tar'))
  const diffId = `sha256:${createHash('sha256').update(layer).digest('hex')}`
  const config = {
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/big.txt'] },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created_by: 'e2e: an uncompressed layer' }]
  }
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config))
  writeFileSync(
    path.join(dir, 'manifest.json'),
    JSON.stringify([{ Config: 'config.json', RepoTags: [tag], Layers: ['layer.tar'] }])
  )
  const archive = path.join(dir, 'image.tar')
  sh('tar', ['-C', dir, '-cf', archive, 'manifest.json', 'config.json', 'layer.tar'])
  client(['load', '--input', archive])
  const id = client(['image', 'inspect', '--format', '{{.Id}}', tag]).trim()
  return { id, layerBytes: layer.length }
}

function routeLine(stdout: string): string {
  const lines = stdout.split('\n').filter(l => l.startsWith('Route: '))
  expect(lines).toHaveLength(1)
  return lines[0]
}

interface Served {
  Digest: string
  /** The layers of the linux image (through an index), as the registry's manifest lists them. */
  layers: { mediaType: string; size: number }[]
}

interface ManifestJson {
  manifests?: { digest: string; platform?: { os: string } }[]
  layers?: { mediaType: string; size: number }[]
}

/** What the registry serves under `reference`, asked with skopeo (a real client). */
function served(reference: string): Served {
  const { Digest } = JSON.parse(skopeoInspect(env, reference)) as { Digest: string }
  let manifest = JSON.parse(skopeoInspect(env, reference, true)) as ManifestJson
  if (manifest.manifests) {
    const linux = manifest.manifests.find(m => m.platform?.os === 'linux')!
    const repository = reference.replace(/[:@][^/]*$/, '')
    manifest = JSON.parse(skopeoInspect(env, `${repository}@${linux.digest}`, true)) as ManifestJson
  }
  return { Digest, layers: manifest.layers ?? [] }
}

function publish(
  source: string,
  extra: Record<string, string> = {},
  runnerEnv: Record<string, string> = {},
  imageName = `route/${nonce()}`
) {
  const runner = new Runner('push-default-branch', runnerEnv)
  const step = runner.main({
    ...inputsFor(env, imageName),
    'source-image': source,
    tags: 'v1\nlatest',
    ...extra
  })
  const image = `${env.registry}/${OWNER}/${imageName}`
  return { runner, step, image, imageName }
}

function expectPublished(
  p: ReturnType<typeof publish>,
  id: string
): { line: string; served: Served } {
  const { step, image, runner } = p
  if (step.exitCode !== 0) throw new Error(`the step failed:\n${step.stdout}\n${step.stderr}`)
  expect(step.stdout).not.toMatch(/::error::/)
  expect(step.outputs.imageid).toBe(id)
  expect(step.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
  // Every tag serves the digest output (a real client asks the registry itself).
  const both = ['v1', 'latest'].map(tag => served(`${image}:${tag}`))
  for (const s of both) expect(s.Digest).toBe(step.outputs.digest)
  const line = routeLine(step.stdout)
  // The summary shows the same route.
  expect(step.summary).toContain(`<td>Route</td><td>${line.slice('Route: '.length)}</td>`)
  expect(runner.post().exitCode).toBe(0)
  return { line, served: both[0] }
}

describe(`the route of a local image (${STORE} image store)`, () => {
  it('a built image: the engine pushes it (on the classic store, then the OCI manifest over it)', () => {
    const local = `route-built:${nonce()}`
    const id = buildElsewhere(local)
    const p = publish(local)
    const { line, served: s } = expectPublished(p, id)
    if (STORE === 'containerd') {
      // Docker 28 (Engine API 1.48+) says what it stores: an OCI index (buildx's attestation).
      expect(line).toMatch(
        /^Route: docker push \(containerd image store: the engine uploads its stored compressed blobs(, as stored| \(OCI, as stored\))\)$/
      )
      expect(p.step.stdout).toContain(`[command]docker push ${p.image}:v1`)
      expect(p.step.stdout).not.toContain('[command]docker save')
      // What the engine stores is what is published: the digest is the local image's ID.
      expect(p.step.outputs.digest).toBe(id)
    } else {
      // A first publish: the engine compresses as it uploads, then the OCI manifest over it.
      expect(line).toBe(
        'Route: docker push, then the OCI manifest (classic image store, a runner whose engine ' +
          'has no push history: the registry holds none of the layers (a first publish), so the ' +
          'engine compresses and uploads them as it goes, then the action writes the OCI image ' +
          'manifest over the same layers)'
      )
      expect(p.step.stdout).toContain(`[command]docker push ${p.image}:v1`)
      expect(p.step.stdout).not.toContain('[command]docker save')
      for (const layer of s.layers)
        expect(layer.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip')
    }
    for (const layer of s.layers) expect(layer.mediaType).toMatch(GZIP_LAYER)
  }, 180_000)

  it('an unchanged republish: on the containerd store no docker push, every tag read; the classic store proves the layers first', () => {
    const local = `route-again:${nonce()}`
    const id = buildElsewhere(local)
    const first = publish(local)
    expectPublished(first, id)
    const again = publish(local, {}, {}, first.imageName)
    const { line } = expectPublished(again, id)
    expect(again.step.outputs.digest).toBe(first.step.outputs.digest)
    if (STORE === 'containerd') {
      expect(line).toBe(
        `Route: none, unchanged (every tag of ${again.image} serves this image's digest already, ` +
          'which is what docker push would publish from the containerd image store: nothing to send)'
      )
      expect(again.step.stdout).not.toContain('[command]docker push')
      expect(again.step.stdout).toContain(`${again.image}:v1 → ${id}`)
      expect(again.step.stdout).toContain(`${again.image}:latest → ${id}`)
    } else {
      // The registry holds every layer (proved): the upload's "Unchanged", no docker push.
      expect(line).toMatch(
        /^Route: the action's upload \(classic image store, .*the registry already holds 1 of 1 layers/
      )
      expect(again.step.stdout).toMatch(/^Unchanged: /m)
    }
    // A real client pulls what the digest output names.
    client(['pull', `${again.image}@${again.step.outputs.digest}`])
  }, 180_000)

  it('a self-hosted runner publishing the same image again: no docker push on either store', () => {
    const local = `route-self:${nonce()}`
    const id = buildElsewhere(local)
    const selfHosted = {
      RUNNER_ENVIRONMENT: 'self-hosted',
      RUNNER_TOOL_CACHE: tempDir('e2e-tool-cache-')
    }
    const first = publish(local, {}, selfHosted)
    expectPublished(first, id)
    expect(first.step.stdout).toContain(`[command]docker push ${first.image}:v1`)
    const again = publish(local, {}, selfHosted, first.imageName)
    const { line } = expectPublished(again, id)
    expect(again.step.outputs.digest).toBe(first.step.outputs.digest)
    expect(again.step.stdout).not.toContain('[command]docker push')
    expect(again.step.stdout).not.toContain('[command]docker save')
    expect(line).toBe(
      STORE === 'containerd'
        ? `Route: none, unchanged (every tag of ${again.image} serves this image's digest already, ` +
            'which is what docker push would publish from the containerd image store: nothing to send)'
        : `Route: none, unchanged (every tag of ${again.image} serves the OCI manifest this runner ` +
            "wrote over its engine's push of this very image, with these annotations: nothing to send)"
    )
    // Other annotations make another manifest: the engine pushes again (it uploads nothing).
    const annotated = publish(
      local,
      { annotations: 'org.opencontainers.image.title=again' },
      selfHosted,
      first.imageName
    )
    expectPublished(annotated, id)
    expect(annotated.step.outputs.digest).not.toBe(first.step.outputs.digest)
    client(['pull', `${again.image}@${again.step.outputs.digest}`])
  }, 180_000)

  it('an image docker load kept uncompressed is published compressed, and the route line says why', () => {
    const local = `route-loaded:${nonce()}`
    const { id, layerBytes } = loadUncompressed(local)
    const p = publish(local)
    const { line, served: s } = expectPublished(p, id)
    if (STORE === 'containerd') {
      expect(line).toMatch(
        /^Route: the action's upload \(containerd image store, but its layers look stored uncompressed \(3\.\d MB stored for 3\.\d MB unpacked: .*the upload compresses them\)$/
      )
    }
    // (The classic store's engine compresses as it pushes: its way is the engine's there.)
    if (STORE === 'containerd') expect(p.step.stdout).not.toContain('[command]docker push')
    expect(s.layers).toHaveLength(1)
    expect(s.layers[0].mediaType).toMatch(GZIP_LAYER)
    expect(s.layers[0].mediaType).not.toMatch(RAW_LAYER)
    // Compressed: far smaller than the raw tar (text compresses more than tenfold).
    expect(s.layers[0].size).toBeLessThan(layerBytes / 4)
  }, 180_000)

  it('annotations: the upload on the containerd store, the OCI manifest over the engine push on the classic one; they are there', () => {
    const local = `route-annotated:${nonce()}`
    const id = buildElsewhere(local)
    const p = publish(local, { annotations: 'org.example.note=routed' })
    const { line } = expectPublished(p, id)
    if (STORE === 'containerd') {
      expect(line).toBe(
        "Route: the action's upload (annotations: docker push cannot add manifest annotations)"
      )
    } else {
      expect(line).toMatch(
        /^Route: docker push, then the OCI manifest \(.*, with the annotations\)$/
      )
    }
    const manifest = JSON.parse(skopeoInspect(env, `${p.image}:v1`, true)) as {
      annotations?: Record<string, string>
    }
    expect(manifest.annotations?.['org.example.note']).toBe('routed')
  }, 180_000)

  it('media-types docker: the route follows the store and the kind of runner (RUNNER_ENVIRONMENT)', () => {
    /** A fresh local image published with media-types docker on a runner of `kind`. */
    const publishOn = (name: string, kind: string) => {
      const local = `${name}:${nonce()}`
      const id = buildElsewhere(local)
      const published = publish(local, { 'media-types': 'docker' }, { RUNNER_ENVIRONMENT: kind })
      return { local, published, result: expectPublished(published, id) }
    }
    const first = publishOn('route-docker', 'self-hosted').result
    // Another image for the hosted runner: the registry could mount the first one's layer (the
    // engine recorded where it pushed it), which is not a first publish.
    const {
      local: other,
      published: hosted,
      result: second
    } = publishOn('route-docker-hosted', 'github-hosted')
    for (const { served: s } of [first, second])
      for (const layer of s.layers)
        expect(layer.mediaType).toBe('application/vnd.docker.image.rootfs.diff.tar.gzip')
    if (STORE === 'containerd') {
      // Docker 26 does not say how it stores the image, Docker 28 says OCI (a buildx build): either
      // way the upload writes exactly Docker v2.
      for (const { line } of [first, second])
        expect(line).toMatch(/^Route: the action's upload \(media-types docker(,| given,) and /)
      return
    }
    expect(first.line).toBe(
      'Route: docker push (classic image store, self-hosted runner: the engine skips the layers its earlier pushes uploaded)'
    )
    // A first publish to a new repository on a hosted runner: nothing to skip, the engine pushes.
    expect(second.line).toBe(
      'Route: docker push (classic image store, github-hosted runner: the registry holds none of the layers (a first publish), so the engine compresses and uploads them as it goes)'
    )
    // Again into the same repository: the registry holds the layer now, the upload skips it.
    const again = new Runner('push-default-branch', { RUNNER_ENVIRONMENT: 'github-hosted' })
    const step = again.main({
      ...inputsFor(env, hosted.imageName),
      'source-image': other,
      tags: '2.0.0',
      'media-types': 'docker'
    })
    expect(step.exitCode).toBe(0)
    expect(routeLine(step.stdout)).toBe(
      "Route: the action's upload (classic image store, github-hosted runner: the registry already holds 1 of 1 layers, which the engine would compress again to find that out)"
    )
    expect(served(`${hosted.image}:2.0.0`).Digest).toBe(step.outputs.digest)
    expect(again.post().exitCode).toBe(0)
  }, 240_000)
})

describe(`the engine's push under faults (${STORE} image store)`, () => {
  it('a connection reset in the middle of a layer upload: published, with the digest the registry serves', async () => {
    // The containerd store's pusher sends each blob in one PUT with its length; the classic
    // store's push streams the gzip it makes in a chunked PATCH (no length): a reset in the first
    // PATCH that runs past 256 KiB (the config's is smaller and goes through whole).
    const rule =
      STORE === 'containerd'
        ? { method: /^(PUT|PATCH)$/, minBytes: 1 * MB }
        : { method: 'PATCH', times: 3 }
    const p = await startFaultProxy(env.registry, {
      rules: [{ ...rule, path: /\/blobs\/uploads\//, action: 'reset', afterBytes: 256 * 1024 }]
    })
    proxies.push(p)
    // Random bytes as hex: they compress to about half (so the layer is stored compressed), and
    // the compressed layer is big enough for the reset to hit it.
    const dir = tempDir('e2e-route-fault-')
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY blob.txt /blob.txt\n')
    writeFileSync(path.join(dir, 'blob.txt'), randomBytes(4 * MB).toString('hex'))
    const local = `route-fault:${nonce()}`
    client(['build', '--quiet', '--tag', local, dir])
    const imageName = `route/fault-${nonce()}`
    const runner = new Runner()
    const inputs = {
      registry: p.address,
      username: env.user,
      token: env.password,
      'image-name': imageName,
      'source-image': local,
      tags: 'v1'
    }
    // media-types docker lets the classic store's engine push too (a first publish).
    const main = await runner.mainAsync(
      STORE === 'classic' ? { ...inputs, 'media-types': 'docker' } : inputs
    )
    if (main.code !== 0) throw new Error(`the step failed:\n${main.out}`)
    expect(p.stats.faults.reset).toBeGreaterThanOrEqual(1)
    expect(main.out).toMatch(/Route: docker push \(/)
    const { digest } = parseFileCommand(readFileSync(runner.files.output, 'utf8'))
    // Asked of the registry itself, not through the proxy.
    expect(served(`${env.registry}/${OWNER}/${imageName}:v1`).Digest).toBe(digest)
    expect(client(['pull', `${env.registry}/${OWNER}/${imageName}@${digest}`])).toContain(
      `Digest: ${digest}`
    )
  }, 240_000)
})
