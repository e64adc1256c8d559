/**
 * End to end: the committed dist/index.js against a real Docker engine and the CNCF distribution
 * registry (htpasswd auth), checked with real clients (skopeo, docker pull).
 */
import { describe, expect, it } from '@jest/globals'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import {
  buildKitPushes,
  enginePushesBuilds,
  clientDocker,
  e2eClient,
  filesContaining,
  inputsFor,
  localBuild,
  loginInputs,
  nonce,
  parseFileCommand,
  Runner,
  skopeoInspect,
  type StepResult,
  testRegistries
} from './harness.js'

const { env, client } = e2eClient()

/** A workspace with a FROM-scratch Dockerfile and fresh layer content. */
function scratchProject(runner: Runner): string {
  const content = `hello ${nonce()}\n`
  runner.write('Dockerfile', 'FROM scratch\nCOPY hello.txt /hello.txt\n')
  runner.write('hello.txt', content)
  return content
}

/** Files that hold the password or the base64 user:password docker writes to config.json. */
function credentialTraces(runner: Runner, reg: { user: string; password: string }): string[] {
  const auth = Buffer.from(`${reg.user}:${reg.password}`).toString('base64')
  return [...filesContaining(runner.root, reg.password), ...filesContaining(runner.root, auth)]
}

describe.each(testRegistries())('publish to the $mode registry', reg => {
  it('publishes three tags, outputs the registry digest, and leaves no credential after the post step', () => {
    const runner = new Runner()
    scratchProject(runner)
    // A credential store the runner already uses: our login must not be written into it.
    const trapLog = path.join(runner.root, 'trap.log')
    const bin = path.join(runner.root, 'bin')
    mkdirSync(bin)
    writeFileSync(
      path.join(bin, 'docker-credential-e2etrap'),
      `#!/bin/sh\n{ echo "$1"; cat; echo; } >> '${trapLog}'\n` +
        `[ "$1" = list ] && { echo '{}'; exit 0; }\necho 'credentials not found in native keychain'; exit 1\n`
    )
    chmodSync(path.join(bin, 'docker-credential-e2etrap'), 0o755)
    runner.env.PATH = `${bin}:${runner.env.PATH}`
    const runnerConfig = JSON.stringify({ credsStore: 'e2etrap', auths: {} })
    writeFileSync(path.join(runner.dockerConfig, 'config.json'), runnerConfig)

    const main = runner.main({
      ...loginInputs(reg),
      tags: '1.0.0\nlatest, edge'
    })
    expect(main.exitCode).toBe(0)

    const image = `${reg.registry}/octo-org/hello-world`
    // Owner and image name from the context Octo-Org/Hello-World, lowercased with a notice.
    expect(main.outputs.image).toBe(image)
    expect(main.stdout).toMatch(
      /::notice::owner 'Octo-Org' \(repository owner from the workflow context\) was lowercased to 'octo-org'/
    )
    expect(main.outputs.tags).toBe(`${image}:1.0.0\n${image}:latest\n${image}:edge`)
    expect(main.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(main.outputs['image-ref']).toBe(`${image}@${main.outputs.digest}`)
    expect(main.outputs.imageid).toMatch(/^sha256:[0-9a-f]{64}$/)
    // The digest is what the registry serves for both tags, as a real client sees it.
    if (buildKitPushes) {
      // The containerd store: BuildKit pushes what it built (produce/way.ts).
      expect(main.stdout).toMatch(/Publishing: BuildKit pushes the build/)
      expect(main.stdout).toMatch(/\[command\]docker buildx build .*push=true/)
      expect(main.stdout).not.toMatch(/\[command\]\S*docker push/)
      expect(main.stdout).toContain('Tag 2 more through the registry API')
    } else if (enginePushesBuilds) {
      // The classic store: the engine pushes the first tag, the action writes the OCI manifest
      // over it under every tag.
      expect(main.stdout).toContain(`[command]docker push ${image}:1.0.0`)
      expect(main.stdout).not.toMatch(/\[command\]\S*docker save/)
      expect(main.stdout).toContain(
        'Write the OCI image manifest over the pushed layers, under 3 tag(s)'
      )
      const served = JSON.parse(skopeoInspect(reg, `${image}@${main.outputs.digest}`, true))
      expect(served.mediaType).toBe('application/vnd.oci.image.manifest.v1+json')
    } else {
      // No buildx (Docker 20.10 here, the classic store): built into the engine, and a first
      // publish goes by the engine's push, with the OCI manifest written over it (route.ts).
      expect(main.stdout).toMatch(
        /Publishing: buildx is not available: built with .* into the engine/
      )
      expect(main.stdout).toMatch(
        /Route: docker push, then the OCI manifest \(classic image store, .*the registry holds none of the layers \(a first publish\)/
      )
      expect(main.stdout).toContain(`[command]docker push ${image}:1.0.0`)
      expect(main.stdout).not.toMatch(/\[command\]\S*docker save/)
      const served = JSON.parse(skopeoInspect(reg, `${image}@${main.outputs.digest}`, true))
      expect(served.mediaType).toBe('application/vnd.oci.image.manifest.v1+json')
    }
    for (const tag of ['1.0.0', 'latest', 'edge']) {
      expect(JSON.parse(skopeoInspect(reg, `${image}:${tag}`)).Digest).toBe(main.outputs.digest)
    }
    // Remove the local image, so the pull really fetches it from the registry.
    const regClient = clientDocker(reg)
    const tags = ['1.0.0', 'latest', 'edge'].map(t => `${image}:${t}`)
    regClient(['image', 'rm', '--force', ...localBuild(main.outputs.imageid, tags)])
    const pulled = regClient(['pull', `${image}@${main.outputs.digest}`])
    expect(pulled).toMatch(/Pull complete|Downloaded newer image/)
    expect(pulled).toContain(`Digest: ${main.outputs.digest}`)
    expect(main.summary).toContain(`docker pull ${image}@${main.outputs.digest}`)
    // The token went to docker on stdin and was masked; it is in no output, state or summary.
    expect(main.stdout).toContain(`::add-mask::${reg.password}`)
    for (const text of [
      main.stdout.replace(`::add-mask::${reg.password}`, ''),
      main.summary,
      readFileSync(runner.files.output, 'utf8'),
      readFileSync(runner.files.state, 'utf8')
    ]) {
      expect(text).not.toContain(reg.password)
    }
    // Logged in through the action's own config: the runner's config and credential store untouched.
    expect(readFileSync(path.join(runner.dockerConfig, 'config.json'), 'utf8')).toBe(runnerConfig)
    const trap = existsSync(trapLog) ? readFileSync(trapLog, 'utf8') : ''
    expect(trap).not.toContain('store')
    expect(trap).not.toContain(reg.password)

    // The action's config directory held the login while the job ran ...
    const configDir = parseFileCommand(readFileSync(runner.files.state, 'utf8')).configDir
    expect(path.dirname(configDir)).toBe(runner.temp)
    expect(readFileSync(path.join(configDir, 'config.json'), 'utf8')).toContain(reg.registry)
    // ... and the post step removes it: no credential for the registry is left anywhere.
    const post = runner.post()
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toMatch(/Removed the action's Docker config directory/)
    expect(existsSync(configDir)).toBe(false)
    expect(credentialTraces(runner, reg)).toEqual([])
  })
})

describe('publish to a registry with htpasswd auth', () => {
  // The GHES Docker registry takes pushes from Engine 24 and older only: the docker scheme is
  // published on the classic engine (20.10) and refused on the modern one.
  const engineMajor = Number((process.env.E2E_ENGINE_VERSION ?? '').split('.')[0])
  const dockerScheme = {
    registry: env.registry,
    'registry-type': 'docker',
    'image-name': 'app/release',
    token: env.password,
    username: env.user,
    tags: 'v1'
  }
  /** The main step with the docker scheme's inputs on a FROM-scratch workspace. */
  const dockerSchemeStep = (): { runner: Runner; main: StepResult } => {
    const runner = new Runner()
    scratchProject(runner)
    return { runner, main: runner.main(dockerScheme) }
  }
  ;(engineMajor < 25 ? it : it.skip)(
    'names images with the docker scheme (REGISTRY/OWNER/REPOSITORY/IMAGE_NAME)',
    () => {
      const { runner, main } = dockerSchemeStep()
      expect(main.exitCode).toBe(0)
      const image = `${env.registry}/octo-org/hello-world/app/release`
      expect(main.outputs.image).toBe(image)
      expect(JSON.parse(skopeoInspect(env, `${image}:v1`)).Digest).toBe(main.outputs.digest)
      expect(runner.post().exitCode).toBe(0)
    }
  )

  ;(engineMajor >= 25 ? it : it.skip)(
    'the docker scheme on Engine 25+ is refused before the build, naming the Container registry',
    () => {
      const { runner, main } = dockerSchemeStep()
      expect(main.exitCode).toBe(1)
      expect(main.stdout).toMatch(
        /::error::Docker Engine 2\d\.[^ ]+ cannot push to the GitHub Enterprise Server Docker registry \(127\.0\.0\.1:\d+\): it works with Engine 24 and older only\. Use the Container registry/
      )
      expect(main.stdout).not.toMatch(/\[command\]docker (buildx )?build/)
      expect(runner.post().exitCode).toBe(0)
    }
  )

  it('keeps the job’s existing logins: builds FROM a private image of another registry login', () => {
    // The same registry under a second name: the runner logged in to it before the action ran.
    const other = env.registry.replace('127.0.0.1', 'localhost')
    const base = `${other}/base/busybox:${nonce()}`
    client(['tag', env.baseImage, base])
    const loggedIn = new Runner()
    const otherConfig = path.join(loggedIn.root, 'other-config')
    mkdirSync(otherConfig)
    // Push the base with a separate login, then record that login in the runner's config.
    const login = { DOCKER_CONFIG: otherConfig }
    client(
      ['--config', otherConfig, 'login', other, '--username', env.user, '--password-stdin'],
      env.password
    )
    client(['--config', otherConfig, 'push', base])
    client(['rmi', base])
    writeFileSync(
      path.join(loggedIn.dockerConfig, 'config.json'),
      readFileSync(path.join(login.DOCKER_CONFIG, 'config.json'))
    )

    loggedIn.write('Dockerfile', `FROM ${base}\nRUN echo built > /built.txt\n`)
    const main = loggedIn.main({
      ...inputsFor(env, 'from-private-base'),
      pull: 'true'
    })
    expect(main.exitCode).toBe(0)
    expect(main.outputs.digest).toMatch(/^sha256:/)
    expect(loggedIn.post().exitCode).toBe(0)
  })

  it('push: false builds and tags only, without a token', () => {
    const runner = new Runner()
    scratchProject(runner)
    const main = runner.main({
      registry: env.registry,
      'image-name': 'local-only',
      tags: 'dev',
      push: 'false',
      token: ''
    })
    expect(main.exitCode).toBe(0)
    expect(main.outputs.digest).toBe('')
    expect(main.outputs.imageid).toMatch(/^sha256:/)
    expect(
      client([
        'image',
        'inspect',
        '--format',
        '{{.Id}}',
        `${env.registry}/octo-org/local-only:dev`
      ]).trim()
    ).toBe(main.outputs.imageid)
    expect(runner.post().exitCode).toBe(0)
  })
})

describe('failures', () => {
  it('a wrong password fails at login with a clear message, and the post step still cleans up', () => {
    const runner = new Runner()
    scratchProject(runner)
    const main = runner.main({
      registry: env.registry,
      token: 'wrong-password',
      username: env.user
    })
    expect(main.exitCode).toBe(1)
    expect(main.stdout).toMatch(
      /::error::docker login failed \(exit code 1\): .*401 Unauthorized\. The registry refused the credentials: the token is missing, expired or revoked/
    )
    expect(main.stdout).not.toMatch(/\n\s+at /) // no stack trace
    expect(main.outputs.digest).toBeUndefined()
    const post = runner.post()
    expect(post.exitCode).toBe(0)
    expect(filesContaining(runner.root, 'wrong-password')).toEqual([])
  })

  it('a read:packages token cannot push: the step fails with ghcr.io’s words for it', () => {
    const runner = new Runner()
    scratchProject(runner)
    const main = runner.main({
      registry: process.env.E2E_TOKEN_REGISTRY!,
      token: process.env.E2E_TOKEN_READ_TOKEN!,
      username: process.env.E2E_TOKEN_READ_USER!,
      'image-name': 'read-only'
    })
    expect(main.exitCode).toBe(1)
    expect(main.stdout).toMatch(
      buildKitPushes
        ? /::error::docker buildx build failed \(exit code 1\): .*denied: permission_denied: write_package\. The token may not write this package: /
        : enginePushesBuilds
          ? /::error::docker push failed \(exit code 1\): denied: permission_denied: write_package\. The token may not write this package: /
          : /::error::token request on [\d.:]+: 403 denied: permission_denied: write_package\. The token may not write this package: /
    )
    expect(runner.post().exitCode).toBe(0)
  })

  it('a failing build fails the step with docker’s last error line', () => {
    const runner = new Runner()
    runner.write('Dockerfile', 'FROM scratch\nCOPY missing.txt /\n')
    const main = runner.main({
      ...inputsFor(env, 'broken')
    })
    expect(main.exitCode).toBe(1)
    // docker build (Engine 20.10 without buildx), or buildx's (the modern engine).
    expect(main.stdout).toMatch(
      /::error::docker (buildx )?build failed \(exit code 1\): .*missing\.txt/
    )
    expect(runner.post().exitCode).toBe(0)
  })

  it.each([
    [{ 'image-name': 'My-App' }, "image-name 'My-App' must be lowercase: use 'my-app'."],
    [{ tags: 'v1, sha256:abc' }, "tag 'sha256:abc' looks like a digest"],
    [
      { registry: 'https://ghcr.io' },
      "registry 'https://ghcr.io' must be a host[:port] without a scheme: use 'ghcr.io'."
    ],
    [{ token: '' }, 'token is empty, so the image cannot be pushed'],
    [{ push: 'yes' }, "push 'yes' is not a boolean: use true or false."],
    [{ 'tags-mode': 'merge' }, "tags-mode 'merge' is not one of replace, append"],
    [
      { 'source-image': 'app:1', context: 'app' },
      "source-image 'app:1' publishes an existing image, so nothing is built and context has no effect"
    ],
    [{ 'source-image': '--help' }, "source-image '--help' is neither an image ID"]
  ])('bad input %j fails before any docker call', (inputs, message) => {
    const runner = new Runner()
    scratchProject(runner)
    // A docker that records any call: it must never be reached.
    const bin = path.join(runner.root, 'bin')
    mkdirSync(bin)
    const marker = path.join(runner.root, 'docker-was-called')
    writeFileSync(path.join(bin, 'docker'), `#!/bin/sh\necho "$@" >> '${marker}'\nexit 1\n`)
    chmodSync(path.join(bin, 'docker'), 0o755)
    runner.env.PATH = `${bin}:${runner.env.PATH}`
    const main = runner.main({ registry: env.registry, token: 'x', ...inputs })
    expect(main.exitCode).toBe(1)
    expect(main.stdout).toContain(`::error::${message}`)
    expect(main.stdout + main.stderr).not.toMatch(/\n\s+at /)
    expect(existsSync(marker)).toBe(false)
    expect(runner.post().exitCode).toBe(0)
  })
})
