/**
 * The `cache` input end to end on the modern engine, either image store (E2E_ENGINE=modern,
 * E2E_IMAGE_STORE=containerd or classic), and on the classic engine (Docker 20.10 driven by a
 * docker CLI without buildx: the classic builder): two cold builds of the same context (the second on an
 * engine with no build cache, no image and no push history, as on a fresh GitHub-hosted runner)
 * keep the unchanged layers' digests, the cache source pulled beside the build, and a re-run of
 * the same commit pulls it only on the classic store; on the containerd store, the engine fact
 * that pull rests on; a multi-stage build with cache: registry; a first publish; a previous
 * version without cache metadata. Every result is pulled by digest and run.
 */
import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as path from 'node:path'
import {
  clientDocker,
  e2eEnv,
  inputsFor,
  nonce,
  ROOT,
  Runner,
  sh,
  skopeoInspect,
  skopeoTags,
  type StepResult
} from './harness.js'
import { engineHonoursUnpack } from '../../src/produce/way.js'

const env = e2eEnv()
const engine = process.env.E2E_ENGINE ?? 'classic'
const store = engine === 'classic' ? 'classic' : process.env.E2E_IMAGE_STORE
if (store !== 'containerd' && store !== 'classic') {
  throw new Error(
    `E2E_IMAGE_STORE=${store}: the build-cache tests know the containerd and classic stores`
  )
}

const OWNER = 'octo-org'
const client = clientDocker(env)

interface Manifest {
  layers: { digest: string; size: number }[]
}
const layersOf = (image: string, digest: string): string[] =>
  (JSON.parse(skopeoInspect(env, `${image}@${digest}`, true)) as Manifest).layers.map(l => l.digest)

/** Fixed content (the same bytes in both builds), incompressible so that sizes mean something. */
const TOOL = randomBytes(1024 * 1024).toString('base64')
const DOCS = randomBytes(256 * 1024).toString('base64')

function project(runner: Runner, app: string): void {
  runner.write(
    'Dockerfile',
    `FROM ${env.baseImage}\nCOPY tool/ /opt/tool/\nCOPY docs/ /usr/share/doc/app/\n` +
      'COPY app.txt /app/app.txt\nCMD ["cat", "/app/app.txt"]\n'
  )
  runner.write('tool/bin.txt', TOOL)
  runner.write('docs/readme.txt', DOCS)
  runner.write('app.txt', `${app}\n`)
}

/**
 * An engine as a fresh runner has it: no build cache, none of the built images, no memory of
 * what it pushed (the base image stays: it stands for a pull from Docker Hub).
 */
function coldEngine(image: string): void {
  sh('docker', ['builder', 'prune', '-af'])
  const refs = sh('docker', ['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', image])
    .split('\n')
    .filter(r => r && !r.endsWith(':<none>'))
  if (refs.length) sh('docker', ['image', 'rm', '-f', ...refs])
  sh(path.join(ROOT, 'scripts/e2e-env.sh'), ['forget-pushes'])
}

/** The step's whole log; fails with it when the step failed. */
function ok(r: StepResult): string {
  const out = r.stdout + r.stderr
  if (r.exitCode !== 0) throw new Error(`step failed (${r.exitCode}):\n${out.slice(-4000)}`)
  return out
}

/** docker pull IMAGE@DIGEST by another client, and what the image prints when run. */
function pullAndRun(image: string, digest: string): string {
  client(['pull', '-q', `${image}@${digest}`])
  return client(['run', '--rm', `${image}@${digest}`]).trim()
}

/** The notices of the step, but the plan's about the runner's mixed-case owner name. */
const notices = (out: string): string[] =>
  out.split('\n').filter(l => l.startsWith('::notice') && !l.includes('was lowercased'))

describe('cache (classic engine: the classic builder)', () => {
  if (engine !== 'classic') return
  it('builds without a cache source, with the builder’s one notice, and publishes', () => {
    const name = `cache-classic-${nonce()}`
    const image = `${env.registry}/${OWNER}/${name}`
    const first = new Runner()
    project(first, 'classic one')
    ok(first.main(inputsFor(env, name)))
    const second = new Runner()
    project(second, 'classic two')
    const r = second.main(inputsFor(env, name))
    const out = ok(r)
    expect(out).toContain('Build cache: none (the classic builder reads no build cache')
    expect(notices(out)).toHaveLength(1)
    expect(notices(out)[0]).toMatch(/^::notice::Building with the classic builder/)
    expect(r.summary).toContain('none (classic builder)')
    expect(pullAndRun(image, r.outputs.digest)).toBe('classic two')
  })
})

describe(`cache (modern engine, ${store} image store)`, () => {
  if (engine === 'classic') return
  it('default inputs: a second cold build keeps the unchanged layers and uploads only the app layer', () => {
    const name = `cache-auto-${nonce()}`
    const image = `${env.registry}/${OWNER}/${name}`
    const first = new Runner()
    project(first, 'app one')
    const r1 = first.main(inputsFor(env, name))
    const out1 = ok(r1)
    expect(notices(out1).join('\n')).toMatch(/First publish of .*no earlier version/)
    expect(notices(out1)).toHaveLength(1)
    const digest1 = r1.outputs.digest
    const layers1 = layersOf(image, digest1)
    expect(pullAndRun(image, digest1)).toBe('app one')

    coldEngine(image)
    // A new commit (the first runner's is the event fixture's).
    const next = { GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567' }
    const second = new Runner('push-default-branch', next)
    project(second, 'app two')
    const r2 = second.main(inputsFor(env, name))
    const out2 = ok(r2)
    expect(out2).toContain(`Build cache: from the previous version ${image}:latest (${digest1})`)
    expect(notices(out2)).toEqual([])
    // The docker driver unpacks the cached layers it uses (the classic store all of them, the
    // containerd store those a changed step is built on) once the context is sent: the previous
    // version is pulled beside the build, then its reference is removed again.
    expect(out2).toContain(`Prefetch: docker pull ${image}@${digest1} beside the build`)
    expect(out2).toContain(
      store === 'classic' ? 'image store unpacks cached layers' : 'image store extracts the cached'
    )
    expect(out2).toMatch(/\nPrefetch(: the cache source's layers| of the cache source's layers)/)
    expect(() => sh('docker', ['image', 'inspect', `${image}@${digest1}`])).toThrow()
    const layers2 = layersOf(image, r2.outputs.digest)
    expect(layers2).toHaveLength(layers1.length)
    // Base, tool and docs: the same blobs; the app layer alone is new.
    expect(layers2.slice(0, -1)).toEqual(layers1.slice(0, -1))
    expect(layers2.at(-1)).not.toBe(layers1.at(-1))
    const n = layers1.length
    expect(r2.summary).toContain(
      `${n - 1} of ${n} layers reused from <code>latest</code>; new layers: 1,`
    )
    expect(pullAndRun(image, r2.outputs.digest)).toBe('app two')

    // A re-run of that commit on a fresh runner: on the containerd store, with an engine that
    // keeps the result packed (Docker 29.1+, by its version), nothing would be extracted, so
    // nothing is pulled beside the context; an older engine unpacks the result and takes the
    // pulled layers for it; the classic store pulls what it uses. (scripts/dockerd-unpack.sh's
    // engine keeps it packed, but says 28.5.2: the action cannot tell, and pulls.)
    coldEngine(image)
    const rerun = new Runner('push-default-branch', next)
    project(rerun, 'app two')
    const r3 = rerun.main(inputsFor(env, name))
    const out3 = ok(r3)
    if (store === 'containerd' && engineHonoursUnpack(process.env.E2E_ENGINE_VERSION ?? '')) {
      expect(out3).toContain(
        `Prefetch: none, ${image}@${r2.outputs.digest} was built from this commit (${next.GITHUB_SHA})`
      )
      expect(out3).not.toContain('Prefetch: docker pull')
    } else {
      expect(out3).toContain(`Prefetch: docker pull ${image}@${r2.outputs.digest} beside the build`)
    }
    expect(layersOf(image, r3.outputs.digest)).toEqual(layers2)
    expect(pullAndRun(image, r3.outputs.digest)).toBe('app two')
  })

  const onContainerd = store === 'containerd' ? it : it.skip
  onContainerd(
    'the engine fact the prefetch rests on: BuildKit extracts no cached layer that docker pull unpacked',
    () => {
      // docs/facts/build-cache.md: on the containerd store BuildKit skips the extraction of a
      // cached layer whose snapshot containerd holds under its chain ID, where docker pull unpacks
      // it. (The classic store's download manager skipping what its layer store holds is what
      // docker pull's "Already exists" shows.)
      const name = `cache-fact-${nonce()}`
      const image = `${env.registry}/${OWNER}/${name}`
      const runner = new Runner()
      // Layers of their own: the other tests' images, pulled and run, hold the usual ones
      // unpacked, which would spare BuildKit the extraction below too.
      const tool = randomBytes(512 * 1024).toString('base64')
      project(runner, 'fact one')
      runner.write('tool/bin.txt', tool)
      const r = runner.main(inputsFor(env, name))
      ok(r)
      const digest = r.outputs.digest
      project(runner, 'fact two')
      runner.write('tool/bin.txt', tool)
      const build = (): string => {
        const run = spawnSync(
          'docker',
          [
            'buildx',
            'build',
            '--progress=rawjson',
            '--cache-from',
            `type=registry,ref=${image}@${digest}`,
            '--tag',
            `${image}:fact`,
            runner.workspace
          ],
          { encoding: 'utf8', env: { ...process.env, DOCKER_CONFIG: client.config } }
        )
        if (run.status !== 0) throw new Error(`buildx build failed: ${run.stderr}`)
        return run.stderr
      }
      // BuildKit's progress as JSON (every status, however short): the unchanged steps came from
      // the cache source, and the layers it extracted.
      const cached = /"cached":true/
      const extracting = /"id":"extracting sha256:/
      // Without the pull BuildKit extracts the cached layers under the changed step itself: the
      // check below can fail.
      coldEngine(image)
      const alone = build()
      expect(alone).toMatch(cached)
      expect(alone).toMatch(extracting)
      coldEngine(image)
      client(['pull', '-q', `${image}@${digest}`])
      const pulled = build()
      expect(pulled).toMatch(cached)
      expect(pulled).not.toMatch(extracting)
      client(['image', 'rm', `${image}@${digest}`, `${image}:fact`])
    }
  )

  it('a first publish: one notice, published', () => {
    const name = `cache-first-${nonce()}`
    const runner = new Runner()
    project(runner, 'first')
    const r = runner.main(inputsFor(env, name))
    const out = ok(r)
    expect(notices(out)).toHaveLength(1)
    expect(notices(out)[0]).toMatch(/First publish of .*built without a cache source/)
    expect(r.summary).toContain('none (first publish); inline cache written')
    expect(pullAndRun(`${env.registry}/${OWNER}/${name}`, r.outputs.digest)).toBe('first')
  })

  it('a previous version pushed by another tool, without cache metadata: one notice, published', () => {
    const name = `cache-foreign-${nonce()}`
    const image = `${env.registry}/${OWNER}/${name}`
    client(['tag', env.baseImage, `${image}:latest`])
    client(['push', '-q', `${image}:latest`])
    client(['image', 'rm', `${image}:latest`])
    const runner = new Runner()
    project(runner, 'after foreign')
    const r = runner.main(inputsFor(env, name))
    const out = ok(r)
    expect(notices(out)).toHaveLength(1)
    expect(notices(out)[0]).toMatch(/previous version .*:latest carries no build cache/)
    expect(pullAndRun(image, r.outputs.digest)).toBe('after foreign')
  })

  it('a previous version whose cache BuildKit cannot use (cache-from forced on it): the build goes on', () => {
    // What buildx does with an image without cache metadata, asked directly: it warns, builds.
    const name = `cache-nometa-${nonce()}`
    const image = `${env.registry}/${OWNER}/${name}`
    client(['tag', env.baseImage, `${image}:old`])
    client(['push', '-q', `${image}:old`])
    const runner = new Runner()
    project(runner, 'forced')
    const r = runner.main({
      ...inputsFor(env, name),
      'cache-from': `type=registry,ref=${image}:old`
    })
    const out = ok(r)
    expect(out).toContain('Build cache: your cache-from / cache-to, as given')
    expect(pullAndRun(image, r.outputs.digest)).toBe('forced')
  })

  it('multi-stage with cache: registry', () => {
    const name = `cache-registry-${nonce()}`
    const image = `${env.registry}/${OWNER}/${name}`
    const write = (runner: Runner, app: string): void => {
      runner.write(
        'Dockerfile',
        `FROM ${env.baseImage} AS gen\nCOPY tool/ /src/\nRUN cat /src/bin.txt | wc -c > /size.txt\n` +
          `FROM ${env.baseImage}\nCOPY --from=gen /size.txt /size.txt\nCOPY app.txt /app.txt\n` +
          'CMD ["cat", "/app.txt"]\n'
      )
      runner.write('tool/bin.txt', TOOL)
      runner.write('app.txt', `${app}\n`)
    }
    const first = new Runner()
    write(first, 'stage one')
    const r1 = first.main({ ...inputsFor(env, name), cache: 'registry' })
    const out1 = ok(r1)
    if (store === 'classic') {
      // The docker driver exports no registry cache on the classic store: inline, one notice.
      expect(notices(out1)).toHaveLength(1)
      expect(notices(out1)[0]).toMatch(
        /cache: registry needs a builder that exports a cache, but the docker driver on the classic image store/
      )
      expect(skopeoTags(env, image)).not.toContain('buildcache')
      expect(pullAndRun(image, r1.outputs.digest)).toBe('stage one')
      return
    }
    expect(out1).toContain(
      `Build cache: every stage under ${image}:buildcache (cache: registry, mode=max)`
    )
    expect(r1.summary).toContain(`registry cache <code>${image}:buildcache</code>`)
    expect(skopeoTags(env, image)).toContain('buildcache')
    expect(pullAndRun(image, r1.outputs.digest)).toBe('stage one')

    coldEngine(image)
    const second = new Runner()
    write(second, 'stage two')
    const r2 = second.main({ ...inputsFor(env, name), cache: 'registry' })
    const out2 = ok(r2)
    // The gen stage is not in the final image: only the mode=max cache can have kept it.
    expect(out2).toMatch(/\[gen 3\/3\] RUN [^\n]*\n#\d+ CACHED/)
    expect(pullAndRun(image, r2.outputs.digest)).toBe('stage two')
  })
})
