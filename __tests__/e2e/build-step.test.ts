/**
 * The build step through dist/index.js on the classic engine (Docker 20.10): the engine's
 * built-in BuildKit without buildx, a secret read in RUN --mount=type=secret that is in no layer
 * and not in the history, build-arg values that are in no process's command line, an inline cache
 * read back from the registry, annotations on the pushed manifest, and keep-login (a step between
 * main and post pulls the image with the runner's Docker config; the post step restores the file).
 *
 * The built-in BuildKit needs a docker CLI older than 23.0 (newer ones run BuildKit only through
 * buildx): the Debian docker.io CLI (/usr/bin/docker) is put first on the runner's PATH.
 */
import { afterAll, describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync
} from 'node:fs'
import * as path from 'node:path'
import {
  buildKitRunner,
  e2eClient,
  filesContaining,
  freshLayerProject,
  inputsFor,
  loginInputs,
  nonce,
  Runner,
  sh,
  skopeoInspect
} from './harness.js'
import { tempDir } from '../support/temp-dirs.js'

const { env, client } = e2eClient()
const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

const scratch = tempDir('e2e-build-step-')
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** docker save of `image`, unpacked with each layer unpacked too: every byte of the image. */
function savedImage(image: string): string {
  const dir = mkdtempSync(path.join(scratch, 'saved-'))
  const tar = path.join(dir, 'image.tar')
  client(['save', '--output', tar, image])
  sh('tar', ['-xf', tar, '-C', dir])
  rmSync(tar)
  for (const entry of readdirSync(dir, { recursive: true }) as string[]) {
    if (entry.endsWith('.tar')) {
      const out = path.join(dir, `${entry}.d`)
      mkdirSync(out)
      sh('tar', ['-xf', path.join(dir, entry), '-C', out])
    }
  }
  return dir
}

describe('secrets and build-args with the built-in BuildKit (no buildx)', () => {
  it('a secret is read in RUN --mount=type=secret, and is in no layer, not in the history, not in the log', () => {
    const runner = buildKitRunner()
    const value = `s3cret-${nonce()}`
    const fromEnv = `envsecret-${nonce()}`
    const fromFile = `filesecret-${nonce()}`
    runner.write(
      'Dockerfile',
      // The echo of a nonce makes the step new to the engine: BuildKit leaves secrets out of its
      // cache key, so an engine that ran this file before would reuse its old sums.
      `FROM ${env.baseImage}\n` +
        'RUN --mount=type=secret,id=tok --mount=type=secret,id=viaenv --mount=type=secret,id=viafile ' +
        `sh -c "echo ${nonce()} >/dev/null; sha256sum /run/secrets/tok /run/secrets/viaenv /run/secrets/viafile > /sums"\n`
    )
    runner.write('secret.txt', fromFile)
    const tag = `t${nonce()}`
    // The step's env, as `env:` in the workflow sets it.
    runner.env.MY_SECRET_ENV = fromEnv
    const main = runner.main({
      ...inputsFor(env, 'build-step/secret'),
      tags: tag,
      secrets: `tok=${value}`,
      'secret-envs': 'viaenv=MY_SECRET_ENV',
      'secret-files': 'viafile=secret.txt',
      labels: 'org.example.one=1\norg.example.two=2'
    })
    expect(main.exitCode).toBe(0)
    expect(main.stdout).toContain("building with the engine's built-in BuildKit")
    expect(main.stdout).toMatch(/Build .* \(docker build with BuildKit\)/)
    expect(main.stdout).toContain(`::add-mask::${value}`)
    expect(main.stdout).toContain(`::add-mask::${fromEnv}`)
    // The secrets reached the build: the image holds their hashes.
    const image = `${env.registry}/octo-org/build-step/secret:${tag}`
    const sums = client(['run', '--rm', image, 'cat', '/sums'])
    expect(sums).toContain(`${sha256(value)}  /run/secrets/tok`)
    expect(sums).toContain(`${sha256(fromEnv)}  /run/secrets/viaenv`)
    expect(sums).toContain(`${sha256(fromFile)}  /run/secrets/viafile`)
    // …and are nowhere in the image, its history or config, nor in the step's output.
    const saved = savedImage(image)
    const history = client(['history', '--no-trunc', image])
    const inspect = client(['image', 'inspect', image])
    for (const secret of [value, fromEnv]) {
      expect(filesContaining(saved, secret)).toEqual([])
      expect(history).not.toContain(secret)
      expect(inspect).not.toContain(secret)
      expect(main.stdout.replace(`::add-mask::${secret}`, '')).not.toContain(secret)
      expect(main.stderr).not.toContain(secret)
    }
    expect(filesContaining(saved, fromFile)).toEqual([])
    // The check can fail: the hashes the layer holds are found.
    expect(filesContaining(saved, sha256(value)).length).toBeGreaterThan(0)
    // BuildKit makes no build step of a label: 2 RUN + FROM, whatever the labels.
    expect(main.stdout).not.toMatch(/LABEL org\.example/)
    const post = runner.post()
    expect(post.exitCode).toBe(0)
    // No file with the secret is left under the runner, nor in the OS temp folder's build dirs.
    expect(filesContaining(runner.root, value)).toEqual([])
  })

  it('a build-arg value is in no process command line while the step runs, and reaches the build', async () => {
    const runner = buildKitRunner()
    const value = `argvalue-${nonce()}`
    runner.write(
      'Dockerfile',
      `FROM ${env.baseImage}\nARG MY_ARG\nRUN echo "$MY_ARG" | sha256sum > /arg.sha && sleep 2\n`
    )
    const tag = `t${nonce()}`
    // Sample every process's command line while the step runs.
    let samples = 0
    let sawBuild = false
    const found: string[] = []
    const sample = (): void => {
      samples++
      for (const pid of readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
        let cmdline = ''
        try {
          cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
        } catch {
          continue // gone meanwhile
        }
        if (/docker build .*--build-arg MY_ARG/.test(cmdline)) sawBuild = true
        if (cmdline.includes(value)) found.push(`${pid}: ${cmdline}`)
      }
    }
    const timer = setInterval(sample, 25)
    const main = await runner.mainAsync({
      ...inputsFor(env, 'build-step/arg'),
      tags: tag,
      push: 'false',
      'build-args': `MY_ARG=${value}`
    })
    clearInterval(timer)
    expect(main.code).toBe(0)
    expect(samples).toBeGreaterThan(20)
    expect(sawBuild).toBe(true) // the sampling saw the build running
    expect(found).toEqual([])
    expect(main.out).toMatch(/\[command\]docker build .*--build-arg MY_ARG --/)
    expect(main.out).not.toMatch(new RegExp(`\\[command\\].*${value}`))
    const image = `${env.registry}/octo-org/build-step/arg:${tag}`
    expect(client(['run', '--rm', image, 'cat', '/arg.sha'])).toContain(sha256(`${value}\n`))
  }, 240_000)
})

describe('cache and annotations with the built-in BuildKit', () => {
  it('cache-to type=inline pushes the cache in the image; a cold engine reads it back with cache-from type=registry', () => {
    const first = buildKitRunner()
    const content = nonce()
    const dockerfile =
      `FROM ${env.baseImage}\nCOPY data.txt /data.txt\n` +
      'RUN sha256sum /data.txt > /sum && sleep 1\n'
    first.write('Dockerfile', dockerfile)
    first.write('data.txt', content)
    const image = `${env.registry}/octo-org/build-step/cache`
    const tag = `c${nonce()}`
    const inputs = {
      ...inputsFor(env, 'build-step/cache')
    }
    const built = first.main({ ...inputs, tags: tag, 'cache-to': 'type=inline' })
    expect(built.exitCode).toBe(0)
    expect(built.stdout).toMatch(/--build-arg BUILDKIT_INLINE_CACHE/)
    expect(first.post().exitCode).toBe(0)
    // The engine forgets the image and its build cache: only the registry has it.
    client(['rmi', '--force', `${image}:${tag}`])
    client(['builder', 'prune', '--all', '--force'])

    const second = buildKitRunner()
    second.write('Dockerfile', dockerfile)
    second.write('data.txt', content)
    const again = second.main({
      ...inputs,
      tags: `${tag}-again`,
      'cache-from': `type=registry,ref=${image}:${tag}`
    })
    expect(again.exitCode).toBe(0)
    // BuildKit's progress (docker's stderr) is in the step's log.
    const log = again.stdout + again.stderr
    expect(log).toMatch(/importing cache manifest from/)
    // The RUN step is cached with layers pulled from the registry (the engine had none).
    expect(log).toMatch(/#(\d+) \[3\/3\] RUN sha256sum[\s\S]*?#\1 pulling sha256:/)
    expect(log).toMatch(/#(\d+) \[3\/3\] RUN sha256sum[\s\S]*?#\1 CACHED/)
    expect(second.post().exitCode).toBe(0)
  })

  it('refuses a cache only buildx writes, before anything runs, when the runner has no buildx', () => {
    const runner = buildKitRunner()
    runner.write('Dockerfile', 'FROM scratch\n')
    const main = runner.main({
      ...loginInputs(env),
      'cache-to': `type=local,dest=${path.join(runner.temp, 'cache')}`
    })
    expect(main.exitCode).toBe(1)
    expect(main.stdout).toMatch(
      /::error::cache-to type=local needs the docker buildx plugin, which this runner does not have: set buildx: true/
    )
    expect(main.stdout).not.toContain('[command]docker build')
  })

  it('annotations go on the manifest the action pushes', () => {
    const runner = buildKitRunner()
    freshLayerProject(runner)
    const tag = `a${nonce()}`
    const main = runner.main({
      ...inputsFor(env, 'build-step/annotated'),
      tags: tag,
      annotations:
        'org.opencontainers.image.description=Annotated, with a comma\nmanifest:org.example.k=v'
    })
    expect(main.exitCode).toBe(0)
    const manifest = JSON.parse(
      skopeoInspect(env, `${env.registry}/octo-org/build-step/annotated:${tag}`, true)
    )
    expect(manifest.annotations).toEqual({
      'org.opencontainers.image.description': 'Annotated, with a comma',
      'org.example.k': 'v'
    })
    expect(runner.post().exitCode).toBe(0)
  })
})

describe('keep-login', () => {
  /** The runner's config.json, written with formatting docker would not write itself. */
  const ORIGINAL =
    '{\n  "auths": {"other.example.com": {"auth": "b3RoZXI6cGFzcw=="}},\n' +
    '    "psFormat": "table {{.ID}}",   "detachKeys": "ctrl-e,e"\n}\n'

  function publish(runner: Runner, keep: boolean): { image: string; code: number } {
    freshLayerProject(runner)
    const tag = `k${nonce()}`
    const main = runner.main({
      ...inputsFor(env, 'build-step/keep-login'),
      tags: tag,
      'keep-login': String(keep)
    })
    expect(main.exitCode).toBe(0)
    const image = `${env.registry}/octo-org/build-step/keep-login:${tag}`
    // Only the registry has it now: a pull must authenticate.
    client(['rmi', '--force', image])
    return { image, code: main.exitCode }
  }

  /** A later step of the job: `docker pull` with the runner's own Docker config. */
  function laterStepPull(runner: Runner, image: string): number {
    return spawnSync('docker', ['pull', image], {
      env: { ...runner.env, DOCKER_CONFIG: runner.dockerConfig },
      encoding: 'utf8'
    }).status!
  }

  it('a later step pulls the image with the runner config; the post step restores the file byte for byte', () => {
    const runner = new Runner()
    const file = path.join(runner.dockerConfig, 'config.json')
    writeFileSync(file, ORIGINAL)
    const { image } = publish(runner, true)
    const during = readFileSync(file, 'utf8')
    expect(JSON.parse(during).auths[env.registry]).toBeDefined()
    expect(JSON.parse(during).auths['other.example.com']).toBeDefined()
    expect(laterStepPull(runner, image)).toBe(0)
    const post = runner.post()
    expect(post.exitCode).toBe(0)
    expect(readFileSync(file, 'utf8')).toBe(ORIGINAL)
  })

  it('without keep-login, the later step cannot pull (the check can fail)', () => {
    const runner = new Runner()
    const { image } = publish(runner, false)
    expect(laterStepPull(runner, image)).not.toBe(0)
    expect(runner.post().exitCode).toBe(0)
  })

  it('a runner without a config file has none again after the post step', () => {
    const runner = new Runner()
    const file = path.join(runner.dockerConfig, 'config.json')
    const { image } = publish(runner, true)
    expect(existsSync(file)).toBe(true)
    expect(laterStepPull(runner, image)).toBe(0)
    expect(runner.post().exitCode).toBe(0)
    expect(existsSync(file)).toBe(false)
    expect(filesContaining(runner.root, env.password)).toEqual([])
  })

  it('a later step that changes the file keeps its change; only the login is taken out', () => {
    const runner = new Runner()
    const file = path.join(runner.dockerConfig, 'config.json')
    writeFileSync(file, ORIGINAL)
    publish(runner, true)
    const changed = JSON.parse(readFileSync(file, 'utf8'))
    changed.auths['third.example.com'] = { auth: 'dGhpcmQ6cGFzcw==' }
    writeFileSync(file, JSON.stringify(changed))
    expect(runner.post().exitCode).toBe(0)
    const after = JSON.parse(readFileSync(file, 'utf8'))
    expect(Object.keys(after.auths).sort()).toEqual(['other.example.com', 'third.example.com'])
    expect(after.psFormat).toBe('table {{.ID}}')
  })
})
