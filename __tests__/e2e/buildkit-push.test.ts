/**
 * A build that BuildKit pushes itself (issue 19, produce/way.ts), through dist/index.js on the
 * modern engine of scripts/e2e-env.sh, in either image store (E2E_IMAGE_STORE):
 *   - containerd: buildx's docker driver pushes from BuildKit: no --load, no docker save; one OCI
 *     image manifest by default; media-types docker, annotations, provenance for one platform,
 *     load, a builder named by the builder input; the push retried under faults (fault proxy);
 *   - classic: the docker driver leaves the push to the engine, which writes Docker v2 only: OCI
 *     (the default) goes the action's own way (docker save, own upload), media-types docker the
 *     engine's push; the log says which way and why.
 * On both: a second build of the same context on the same runner sends only what changed (the
 * runner's buildx node ID is kept), and every digest output is what the registry serves.
 */
import { afterAll, describe, expect, it } from '@jest/globals'
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { engineHonoursUnpack } from '../../src/produce/way.js'
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.js'
import {
  clientDocker,
  e2eEnv,
  indexEntries,
  inputsFor,
  nonce,
  OWNER,
  parseFileCommand,
  runnableImage,
  runnableProject,
  Runner,
  sh,
  skopeoInspect,
  type StepResult,
  testRegistries
} from './harness.js'

const env = e2eEnv()
if (process.env.E2E_ENGINE !== 'modern') {
  throw new Error(
    'buildkit-push tests need the modern engine (buildx): source "$(E2E_ENGINE=modern scripts/e2e-env.sh start | tail -n1)" first'
  )
}
const containerd = process.env.E2E_IMAGE_STORE === 'containerd'
const reg = testRegistries()[0]
const client = clientDocker(reg)
const MB = 1024 * 1024
const rawDigest = (raw: string): string =>
  'sha256:' + createHash('sha256').update(raw).digest('hex')

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'

interface Served {
  mediaType?: string
  config: { digest: string }
  layers: { mediaType: string; digest: string }[]
  manifests: {
    digest: string
    platform?: { os: string; architecture: string }
    annotations?: Record<string, string>
  }[]
  annotations?: Record<string, string>
}

function served(reference: string): { raw: string; json: Served } {
  const raw = skopeoInspect(reg, reference, true)
  return { raw, json: JSON.parse(raw) as Served }
}

function expectSuccess(step: StepResult): void {
  const error = (step.stdout.match(/^::error::.*$/m) ?? [''])[0]
  expect({ exit: step.exitCode, error }).toEqual({ exit: 0, error: '' })
}

/** docker pull IMAGE@DIGEST (the local names removed first), then what `docker run` prints. */
function pullAndRun(reference: string, remove: string[] = []): string {
  for (const r of remove) client(['image', 'rm', '--force', r])
  expect(client(['pull', reference])).toContain(`Digest: ${reference.split('@')[1]}`)
  return client(['run', '--rm', '--network', 'none', reference]).trim()
}

/** The `Publishing:` line of the log. */
function publishingLine(step: { stdout: string }): string {
  return (step.stdout.match(/^Publishing: .*$/m) ?? ['(no Publishing line)'])[0]
}

describe(`a build on the ${containerd ? 'containerd' : 'classic'} image store`, () => {
  it('default inputs: one image manifest, the digest the registry serves under every tag; docker pull IMAGE@DIGEST runs', () => {
    const { imageName, image, runner, word } = runnableImage(reg, 'bk/default', 'bk')
    const step = runner.main({ ...inputsFor(reg, imageName), tags: '1.0.0\nlatest' })
    expectSuccess(step)
    const digest = step.outputs.digest
    for (const tag of ['1.0.0', 'latest'])
      expect(rawDigest(served(`${image}:${tag}`).raw)).toBe(digest)
    const { json } = served(`${image}@${digest}`)
    // OCI by default on both stores (README), one image manifest (no attestation index).
    expect(json.mediaType).toBe(OCI_MANIFEST)
    expect(step.outputs.imageid).toBe(json.config.digest)
    if (containerd) {
      expect(publishingLine(step)).toMatch(
        /^Publishing: BuildKit pushes the build \(buildx present/
      )
      // load: false: the engine is asked to keep it packed (unpack=false). Docker 29.1+ (and
      // scripts/dockerd-unpack.sh's engine) honours that: no "unpacking to" step; older engines
      // unpack anyway. Either way the image is in the engine (under the tag BuildKit pushed) and
      // runs without a pull.
      expect(step.stdout).toMatch(
        /\[command\]\S*docker buildx build .*type=image,name=\S+,oci-mediatypes=true,unpack=false,push=true/
      )
      expect(publishingLine(step)).toContain('the docker driver also stores it in the engine')
      const version = process.env.E2E_ENGINE_VERSION ?? ''
      const honours = engineHonoursUnpack(version) || version.endsWith('-unpack')
      expect({ version, unpacked: /#\d+ unpacking to /.test(step.stdout) }).toEqual({
        version,
        unpacked: !honours
      })
      expect(
        client(['run', '--rm', '--pull', 'never', '--network', 'none', `${image}:1.0.0`]).trim()
      ).toBe(word)
      expect(step.stdout).not.toMatch(/\[command\]\S*docker (buildx build --load|save)/)
      expect(step.stdout).toMatch(/--provenance=false --sbom=false/)
    } else {
      // The engine pushes what buildx built into it; the action writes the OCI manifest over it.
      expect(publishingLine(step)).toMatch(
        /^Publishing: the selected builder \(docker driver\) on the classic image store builds into the engine, which pushes it \(docker push: no docker save; .*\); the action then writes the OCI image manifest over the same layers under every tag\.$/
      )
      expect(step.stdout).toMatch(/\[command\]\S*docker buildx build --load /)
      expect(step.stdout).toContain(`[command]docker push ${image}:1.0.0`)
      expect(step.stdout).not.toMatch(/\[command\]\S*docker save/)
      expect(step.stdout).toMatch(
        /^Route: docker push, then the OCI manifest \(classic image store/m
      )
      // The engine's Docker v2 manifest is in the repository by its digest (untagged), naming
      // the same config and layers as the OCI one.
      const v2 = (step.stdout.match(
        /docker push published the Docker v2 manifest (sha256:[0-9a-f]{64})/
      ) ?? [])[1]
      expect(v2).toBeDefined()
      const engine = served(`${image}@${v2}`).json
      expect(engine.mediaType).toBe(DOCKER_MANIFEST)
      expect(engine.config.digest).toBe(json.config.digest)
      expect(engine.layers.map(l => l.digest)).toEqual(json.layers.map(l => l.digest))
      for (const layer of json.layers)
        expect(layer.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip')
    }
    expect(step.summary).toContain('<td>Publishing</td>')
    // BuildKit gets the credentials from the action's private Docker config: none in argv.
    const commands = step.stdout.split('\n').filter(l => l.startsWith('[command]'))
    expect(commands.length).toBeGreaterThan(1)
    for (const line of commands) expect(line).not.toContain(reg.password)
    expect(pullAndRun(`${image}@${digest}`, [`${image}:1.0.0`, `${image}:latest`])).toBe(word)
    expect(runner.post().exitCode).toBe(0)
  }, 180_000)

  it('media-types docker: Docker v2 manifest, digest the registry serves', () => {
    const { imageName, image, runner, word } = runnableImage(reg, 'bk/docker-types', 'bk')
    const step = runner.main({ ...inputsFor(reg, imageName), tags: 'v1', 'media-types': 'docker' })
    expectSuccess(step)
    // Either store: BuildKit's push (containerd) or the engine's push of what BuildKit built
    // (classic): no docker save in both.
    expect(step.stdout).not.toMatch(/\[command\]\S*docker save/)
    expect(publishingLine(step)).toMatch(
      containerd
        ? /BuildKit pushes the build/
        : /which pushes it \(Docker v2 media types, as asked\)/
    )
    const { json, raw } = served(`${image}:v1`)
    expect(rawDigest(raw)).toBe(step.outputs.digest)
    expect(json.mediaType).toBe(DOCKER_MANIFEST)
    expect(pullAndRun(`${image}@${step.outputs.digest}`, [`${image}:v1`])).toBe(word)
    expect(runner.post().exitCode).toBe(0)
  }, 180_000)

  it('a second build of the same context on the same runner sends only the changed file (the runner’s buildx node ID is kept)', () => {
    const runner = new Runner()
    runner.write('Dockerfile', 'FROM scratch\nCOPY . /ctx/\n')
    writeFileSync(path.join(runner.workspace, 'big.bin'), randomBytes(6 * MB))
    runner.write('small.txt', nonce())
    const imageName = `bk/context-${nonce()}`
    const transferred = (step: StepResult): number => {
      // The largest of the build's context transfers (.dockerignore is one too, of a few bytes).
      const unit: Record<string, number> = { B: 1, kB: 1e3, MB: 1e6, GB: 1e9 }
      const sizes = [
        ...(step.stdout + step.stderr).matchAll(
          /transferring context: ([\d.]+)([kMG]?B)[^\n]*done/g
        )
      ].map(m => Number(m[1]) * unit[m[2]])
      if (!sizes.length) throw new Error('no "transferring context" line in the build output')
      return Math.max(...sizes)
    }
    const first = runner.main({ ...inputsFor(reg, imageName), tags: 'one' })
    expectSuccess(first)
    expect(transferred(first)).toBeGreaterThan(6e6)
    runner.write('small.txt', nonce())
    const second = runner.main({ ...inputsFor(reg, imageName), tags: 'two' })
    expectSuccess(second)
    expect(transferred(second)).toBeLessThan(1e6)
    expect(runner.post().exitCode).toBe(0)
  }, 180_000)

  it('annotations go on the image manifest (BuildKit pushes it, or the action writes it over the engine push)', () => {
    const { imageName, image, runner } = runnableImage(reg, 'bk/annotated', 'bk')
    const step = runner.main({
      ...inputsFor(reg, imageName),
      tags: 'v1',
      annotations: 'org.example.note=hello\norg.opencontainers.image.description=A test'
    })
    expectSuccess(step)
    const { json } = served(`${image}@${step.outputs.digest}`)
    expect(json.mediaType).toBe(OCI_MANIFEST)
    if (!containerd)
      expect(step.stdout).toMatch(
        /^Route: docker push, then the OCI manifest .*, with the annotations\)$/m
      )
    expect(json.annotations).toMatchObject({
      'org.example.note': 'hello',
      'org.opencontainers.image.description': 'A test'
    })
    expect(runner.post().exitCode).toBe(0)
  }, 180_000)

  if (!containerd) return

  it('load: true: the image is also in the engine, under its tags, and imageid is its config', () => {
    const { imageName, image, runner, word } = runnableImage(reg, 'bk/load', 'bk')
    const step = runner.main({ ...inputsFor(reg, imageName), tags: 'v1', load: 'true' })
    expectSuccess(step)
    const { json } = served(`${image}@${step.outputs.digest}`)
    expect(step.outputs.imageid).toBe(json.config.digest)
    // Wanted ready to run: the engine unpacks it as usual (no unpack=false).
    expect(step.stdout).toMatch(/\[command\]\S*docker buildx build .*oci-mediatypes=true,push=true/)
    expect(step.stdout).toMatch(/#\d+ unpacking to /)
    // The engine has it (the docker driver stores what it builds): runs without a pull.
    expect(
      client(['run', '--rm', '--pull', 'never', '--network', 'none', `${image}:v1`]).trim()
    ).toBe(word)
    expect(runner.post().exitCode).toBe(0)
  }, 180_000)

  it('provenance: true for one platform: an index with the image and its attestation', () => {
    const { imageName, image, runner, word } = runnableImage(reg, 'bk/provenance', 'bk')
    const step = runner.main({ ...inputsFor(reg, imageName), tags: 'v1', provenance: 'true' })
    expectSuccess(step)
    const { json, raw } = served(`${image}:v1`)
    expect(rawDigest(raw)).toBe(step.outputs.digest)
    expect(json.mediaType).toBe(OCI_INDEX)
    expect(indexEntries(json)).toEqual(['attestation', 'linux/amd64'])
    expect(pullAndRun(`${image}@${step.outputs.digest}`, [`${image}:v1`])).toBe(word)
    expect(runner.post().exitCode).toBe(0)
  }, 180_000)

  it('builder: a second docker-driver builder (a docker context) is used as named; an unknown name fails before the build, listing the builders', () => {
    const runner = new Runner()
    const word = runnableProject(runner, 'bk')
    const context = `ctx-${nonce()}`
    sh('docker', ['context', 'create', context, '--docker', `host=${env.dockerHost}`], {
      env: { DOCKER_CONFIG: runner.dockerConfig }
    })
    const imageName = `bk/builder-${nonce()}`
    const image = `${reg.registry}/${OWNER}/${imageName}`
    const step = runner.main({ ...inputsFor(reg, imageName), tags: 'v1', builder: context })
    expectSuccess(step)
    expect(step.stdout).toMatch(
      // A docker-driver builder is a docker context: buildx wants docker --context NAME for it.
      new RegExp(`\\[command\\]\\S*docker --context ${context} buildx build `)
    )
    expect(publishingLine(step)).toContain(`builder ${context}: docker driver`)
    expect(pullAndRun(`${image}@${step.outputs.digest}`, [`${image}:v1`])).toBe(word)

    const unknown = runner.main({ ...inputsFor(reg, imageName), tags: 'v2', builder: 'nosuch' })
    expect(unknown.exitCode).toBe(1)
    expect(unknown.stdout).toMatch(
      new RegExp(
        `::error::builder 'nosuch' is not a buildx builder here: the builders are (.*, )?${context}\\b`
      )
    )
    expect(unknown.stdout.slice(unknown.stdout.indexOf('v2'))).not.toMatch(
      /\[command\]\S*docker buildx build/
    )
    expect(runner.post().exitCode).toBe(0)
  }, 180_000)
})

/** The fault proxies of the tests under faults, stopped at the end. */
const proxies: FaultProxy[] = []
afterAll(async () => {
  for (const p of proxies.splice(0)) await p.stop()
})

const faultInputs = (registry: string, name: string): Record<string, string> => ({
  registry,
  username: env.user,
  token: env.password,
  'image-name': name,
  tags: 'latest'
})

describe('the classic store’s engine push, then the OCI manifest, under faults', () => {
  if (containerd) {
    it('runs on the classic store only (BuildKit pushes on the containerd store)', () => {
      expect(containerd).toBe(true)
    })
    return
  }

  it('a connection reset in the middle of the engine’s layer upload: the push is retried, not the build; OCI, the right digest', async () => {
    // The classic store's push streams the gzip it makes in chunked PATCHes (no length): reset
    // the first that runs past 256 KiB (the config's is smaller and goes through whole).
    const p = await startFaultProxy(env.registry, {
      rules: [
        {
          method: 'PATCH',
          path: /\/blobs\/uploads\//,
          action: 'reset',
          afterBytes: 256 * 1024,
          times: 3
        }
      ]
    })
    proxies.push(p)
    const runner = new Runner()
    runner.write('Dockerfile', 'FROM scratch\nCOPY blob.bin /blob.bin\n')
    writeFileSync(path.join(runner.workspace, 'blob.bin'), randomBytes(4 * MB))
    const name = `bk-classic-reset-${nonce()}`
    const main = await runner.mainAsync(faultInputs(p.address, name))
    console.log(`classic reset: exit ${main.code}; ${p.events.join('; ')}`)
    expect(p.stats.faults.reset).toBeGreaterThanOrEqual(1)
    expect(main.out.match(/::error::.*/)?.[0] ?? '').toBe('')
    expect(main.code).toBe(0)
    expect(main.out).toMatch(/^Route: docker push, then the OCI manifest \(/m)
    // dockerd retries a layer upload itself; when its push fails anyway, the action runs docker
    // push again (and says so). Either way the build ran once.
    // One build: the push ran again, the build did not.
    expect(main.out.match(/\[command\]\S*docker buildx build/g)).toHaveLength(1)
    const { digest } = parseFileCommand(readFileSync(runner.files.output, 'utf8'))
    const raw = skopeoInspect(env, `${env.registry}/${OWNER}/${name}:latest`, true)
    expect(rawDigest(raw)).toBe(digest)
    expect((JSON.parse(raw) as Served).mediaType).toBe(OCI_MANIFEST)
    expect(runner.post().exitCode).toBe(0)
  }, 240_000)

  it('a registry that serves other bytes for the manifest docker push reported: the step fails, saying so, and outputs no digest', async () => {
    // Only the action GETs a manifest by digest here (docker push PUTs; the read-back HEADs).
    const p = await startFaultProxy(env.registry, {
      rules: [
        {
          method: 'GET',
          path: /\/manifests\/sha256:/,
          action: 'rewrite',
          times: 100,
          rewrite: body => Buffer.from(body.toString().replace(/"size":\s*(\d+)/, '"size":$1 '))
        }
      ]
    })
    proxies.push(p)
    const runner = new Runner()
    runnableProject(runner, 'bk')
    const name = `bk-classic-fake-${nonce()}`
    const main = await runner.mainAsync(faultInputs(p.address, name))
    console.log(`classic fake answer: exit ${main.code}; ${p.events.slice(0, 5).join('; ')}`)
    expect(main.code).toBe(1)
    expect(main.out).toMatch(
      /::error::.*served \S+[:@]sha256:[0-9a-f]{64} with Docker-Content-Digest .*, but the bytes hash to sha256:/
    )
    expect(parseFileCommand(readFileSync(runner.files.output, 'utf8')).digest ?? '').toBe('')
    // The tag still serves what the engine pushed: nothing was written over it.
    const tagged = JSON.parse(
      skopeoInspect(env, `${env.registry}/${OWNER}/${name}:latest`, true)
    ) as Served
    expect(tagged.mediaType).toBe(DOCKER_MANIFEST)
    runner.post()
  }, 240_000)
})

describe('BuildKit’s push under faults (the push is retried, not the build)', () => {
  if (!containerd) {
    it('runs on the containerd store only (the classic store’s engine push is tested above)', () => {
      expect(containerd).toBe(false)
    })
    return
  }

  /** A runner whose image has one layer of `bytes` random (incompressible) bytes. */
  function bigProject(bytes: number): Runner {
    const runner = new Runner()
    runner.write('Dockerfile', 'FROM scratch\nCOPY blob.bin /blob.bin\n')
    writeFileSync(path.join(runner.workspace, 'blob.bin'), randomBytes(bytes))
    return runner
  }

  function expectPublished(
    main: { code: number; out: string },
    runner: Runner,
    name: string
  ): void {
    if (main.code !== 0) {
      throw new Error(
        `the main step failed (exit ${main.code}):\n${main.out
          .split('\n')
          .filter(l => l.startsWith('::error::'))
          .join('\n')}`
      )
    }
    const { digest } = parseFileCommand(readFileSync(runner.files.output, 'utf8'))
    // Read on the registry itself, not through the proxy.
    const { Digest } = JSON.parse(
      skopeoInspect(env, `${env.registry}/${OWNER}/${name}:latest`)
    ) as {
      Digest: string
    }
    expect(Digest).toBe(digest)
  }

  it('a connection reset in the middle of the layer upload: published, the right digest (BuildKit starts the layer over, else the push runs again)', async () => {
    // BuildKit sends a layer in one PUT (or PATCH) after the POST that opens the upload.
    const p = await startFaultProxy(env.registry, {
      rules: [
        {
          method: /^(PUT|PATCH)$/,
          path: /\/blobs\/uploads\//,
          minBytes: 4 * MB,
          action: 'reset',
          afterBytes: MB
        }
      ]
    })
    proxies.push(p)
    const runner = bigProject(8 * MB)
    const name = `bk-fault-reset-${nonce()}`
    const main = await runner.mainAsync(faultInputs(p.address, name))
    console.log(`reset: exit ${main.code}; ${p.events.join('; ')}`)
    expect(p.stats.faults.reset).toBe(1)
    // BuildKit's pusher may start the layer over itself; else the action runs the push again.
    expectPublished(main, runner, name)
  }, 240_000)

  // BuildKit's push alone (even run again) does not survive 30% drops: each run makes a dozen
  // requests, its own retries are few, and a dropped answer in its auth exchange ends as a 401.
  // The action's own upload, which retries each request, takes over for one platform.
  it('30% of requests dropped, default retries, three seeds: every run publishes the right digest', async () => {
    const failures: string[] = []
    let faults = 0
    for (const seed of [1, 2, 3]) {
      const p = await startFaultProxy(env.registry, {
        rate: 0.3,
        seed,
        kinds: ['drop', 'reset', 'lose-answer']
      })
      proxies.push(p)
      const runner = bigProject(2 * MB)
      const name = `bk-fault-drops-${seed}-${nonce()}`
      const main = await runner.mainAsync(faultInputs(p.address, name))
      faults += p.stats.faults.drop + p.stats.faults.reset + p.stats.faults['lose-answer']
      console.log(
        `30% dropped, seed ${seed}: exit ${main.code} after ${main.ms} ms; ${p.events.slice(0, 10).join('; ')}`
      )
      try {
        expectPublished(main, runner, name)
        // Whoever recovered said so: the push run again, or the action's own upload taking over.
        if (/::(warning|error)::|Transient failure/.test(main.out) || p.stats.faults.drop) {
          expect(main.out).toMatch(
            /Transient failure of the push|the action uploads the image itself instead|Transient failure:/
          )
        }
      } catch (error) {
        failures.push(`seed ${seed}: ${(error as Error).message}`)
      }
    }
    expect(faults).toBeGreaterThan(0)
    expect(failures).toEqual([])
  }, 900_000)
})
