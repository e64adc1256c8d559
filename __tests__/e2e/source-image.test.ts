/**
 * End to end: `source-image` publishes an image built outside the action (by ID and by name),
 * with no Dockerfile in the workspace, and the digest pulls back with a real client.
 */
import { describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import * as path from 'node:path'
import {
  buildKitPushes,
  enginePushesBuilds,
  configDigest,
  e2eClient,
  inputsFor,
  loginInputs,
  nonce,
  Runner,
  skopeoInspect
} from './harness.js'
import { tempDir } from '../support/temp-dirs.js'

const { env, client } = e2eClient()

/** Builds an image with the docker CLI, outside the action, as an earlier step would; returns its ID. */
function buildElsewhere(tag: string): string {
  const dir = tempDir('e2e-elsewhere-')
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY made.txt /made.txt\n')
  writeFileSync(path.join(dir, 'made.txt'), `built outside the action ${nonce()}\n`)
  client(['build', '--quiet', '--tag', tag, dir])
  return client(['image', 'inspect', '--format', '{{.Id}}', tag]).trim()
}

/**
 * Removes the local copies, pulls IMAGE@DIGEST from the registry and returns the pulled image's
 * config digest (configDigest: the image ID on the classic store only).
 */
function pullBack(reference: string, ...localNames: string[]): string {
  client(['image', 'rm', '--force', ...localNames])
  const pulled = client(['pull', reference])
  expect(pulled).toMatch(/Pull complete|Downloaded newer image/)
  return configDigest(reference)
}

/** A local image `tag` of one 6 MB layer of random bytes (it does not compress); returns `tag`. */
function buildBase(tag: string): string {
  const dir = tempDir('e2e-base-')
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY base.bin /base.bin\n')
  writeFileSync(path.join(dir, 'base.bin'), randomBytes(6 * 1024 * 1024))
  client(['build', '--quiet', '--tag', tag, dir])
  return tag
}

describe('source-image: publish an image that is already there', () => {
  it('by its short image ID, with no Dockerfile in the workspace', () => {
    const local = `hello_docker:${nonce()}`
    const id = buildElsewhere(local)
    const runner = new Runner()
    const main = runner.main({
      ...inputsFor(env, 'from-id'),
      tags: 'v1\nlatest',
      'source-image': id.replace('sha256:', '').slice(0, 12)
    })
    expect(main.stderr).toBe('')
    expect(main.exitCode).toBe(0)
    const image = `${env.registry}/octo-org/from-id`
    expect(main.outputs.imageid).toBe(id)
    expect(main.outputs.digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(main.stdout).not.toMatch(/docker build|Build /)
    for (const tag of ['v1', 'latest']) {
      expect(JSON.parse(skopeoInspect(env, `${image}:${tag}`)).Digest).toBe(main.outputs.digest)
    }
    expect(main.summary).toContain(`none: published the local image ${id.slice(7, 19)}`)
    // What the registry serves under the digest is the image built outside: same config.
    const config = configDigest(local)
    expect(pullBack(main.outputs['image-ref'], local, `${image}:v1`, `${image}:latest`)).toBe(
      config
    )
    expect(runner.post().exitCode).toBe(0)
  })

  it('by its local name (NAME:TAG), and by its full sha256: ID', () => {
    const local = `hello_docker:${nonce()}`
    const id = buildElsewhere(local)
    const byName = new Runner()
    const main = byName.main({
      ...inputsFor(env, 'from-name'),
      tags: '2.0.0',
      'source-image': local
    })
    expect(main.exitCode).toBe(0)
    expect(main.outputs.imageid).toBe(id)
    const image = `${env.registry}/octo-org/from-name`
    expect(main.outputs['image-ref']).toBe(`${image}@${main.outputs.digest}`)
    expect(JSON.parse(skopeoInspect(env, `${image}:2.0.0`)).Digest).toBe(main.outputs.digest)
    expect(byName.post().exitCode).toBe(0)

    const byFullId = new Runner()
    const again = byFullId.main({
      ...inputsFor(env, 'from-name'),
      tags: '2.0.1',
      'source-image': id
    })
    expect(again.exitCode).toBe(0)
    // The same image pushed again under another tag: the registry serves the same manifest.
    expect(again.outputs.digest).toBe(main.outputs.digest)
    expect(byFullId.post().exitCode).toBe(0)
    const config = configDigest(local)
    expect(pullBack(main.outputs['image-ref'], local, `${image}:2.0.0`, `${image}:2.0.1`)).toBe(
      config
    )
  })

  it('an image the engine does not have fails clearly, before logging in', () => {
    const runner = new Runner()
    const main = runner.main({
      ...loginInputs(env),
      'source-image': `not-built-here:${nonce()}`
    })
    expect(main.exitCode).toBe(1)
    expect(main.stdout).toMatch(
      /::error::source-image 'not-built-here:[0-9a-f]+' is not an image on this runner's Docker engine: build, load or pull it in an earlier step/
    )
    expect(main.stdout).not.toContain('Log in to')
    expect(main.stdout).not.toMatch(/\n\s+at /)
    expect(runner.post().exitCode).toBe(0)
  })
})

describe('a base image pulled from the same registry', () => {
  it('is found among the local images, and its layers are mounted into the new repository, not uploaded', () => {
    // The base: one 6 MB layer of random bytes (it does not compress), pushed to octo-org/base-*
    // by a real client, so the engine records where it is (RepoDigests) as a pull would.
    const base = buildBase(`${env.registry}/octo-org/base-${nonce()}:1`)
    client(['push', base])
    const baseDigest = client(['image', 'inspect', '--format', '{{index .RepoDigests 0}}', base])
      .trim()
      .split('@')[1]

    const runner = new Runner()
    runner.write('Dockerfile', `FROM ${base}\nCOPY app.txt /app.txt\n`)
    runner.write('app.txt', `app ${nonce()}\n`)
    const imageName = `on-base-${nonce()}`
    const main = runner.main({
      ...inputsFor(env, imageName),
      tags: 'v1'
    })
    expect(main.exitCode).toBe(0)
    const image = `${env.registry}/octo-org/${imageName}`
    const manifest = JSON.parse(skopeoInspect(env, `${image}@${main.outputs.digest}`, true))
    expect(manifest.layers).toHaveLength(2)
    if (buildKitPushes || enginePushesBuilds) {
      // BuildKit pushes the build (produce/way.ts) and reuses the base's blob as pulled: the
      // published base layer is the very blob of the base image, not compressed again. (On the
      // classic store the engine pushes it, and knows the base layer from its pull.)
      // (skopeo's Layers: those of the base's linux/amd64 image, should its digest be an index.)
      const baseLayer = JSON.parse(
        skopeoInspect(env, `${base.slice(0, base.lastIndexOf(':'))}@${baseDigest}`)
      ).Layers[0]
      expect(manifest.layers[0].digest).toBe(baseLayer)
    } else {
      expect(main.stdout).toContain(
        `learnt from ${base.split('/').slice(1).join('/').split(':')[0]}:${baseDigest}`
      )
      expect(main.stdout).toMatch(/1 of 2 layer\(s\) already in /)
      const uploaded = Number(/blob\(s\) uploaded \((\d+) bytes\)/.exec(main.stdout)?.[1])
      expect(uploaded).toBeLessThan(1024 * 1024) // the app layer and the config, not the base
    }
    // The mounted layer is really there: a real client pulls the image by its digest.
    client(['image', 'rm', '--force', `${image}:v1`])
    expect(client(['pull', `${image}@${main.outputs.digest}`])).toMatch(/Digest: sha256:/)
    expect(runner.post().exitCode).toBe(0)
  })
})

describe('a new version published under a new tag only, on a fresh runner', () => {
  it('learns the base layers from the previous version in the tag list: not compressed, not uploaded', () => {
    const base = buildBase(`local-base-${nonce()}:1`)
    const version = (n: number): string => {
      const app = tempDir('e2e-version-')
      writeFileSync(path.join(app, 'Dockerfile'), `FROM ${base}\nCOPY app.txt /app.txt\n`)
      writeFileSync(path.join(app, 'app.txt'), `version ${n} ${nonce()}\n`)
      const tag = `local-app-${nonce()}:${n}`
      client(['build', '--quiet', '--tag', tag, app])
      return tag
    }
    const imageName = `versions-${nonce()}`
    const publishVersion = (source: string, tag: string) => {
      const runner = new Runner() // a fresh runner each time: no local layer cache
      const main = runner.main({
        ...inputsFor(env, imageName),
        tags: tag,
        'source-image': source
      })
      expect(main.exitCode).toBe(0)
      expect(runner.post().exitCode).toBe(0)
      return main
    }
    const first = publishVersion(version(1), '1.0.0')
    if (process.env.E2E_IMAGE_STORE === 'classic') {
      // A first publish on the classic store: the engine compresses as it uploads, then the
      // OCI manifest over it (publish/route.ts).
      expect(first.stdout).toMatch(/^Route: docker push, then the OCI manifest \(/m)
    } else {
      const uploaded = /blob\(s\) uploaded \((\d+) bytes\)/.exec(first.stdout)?.[1]
      expect(Number(uploaded)).toBeGreaterThan(6 * 1024 * 1024)
    }
    const second = publishVersion(version(2), '1.0.1')
    expect(second.stdout).toContain(`learnt from octo-org/${imageName}:1.0.0`)
    expect(second.stdout).toMatch(/1 of 2 layer\(s\) already in /)
    expect(Number(/blob\(s\) uploaded \((\d+) bytes\)/.exec(second.stdout)?.[1])).toBeLessThan(
      1024 * 1024
    )
    const image = `${env.registry}/octo-org/${imageName}`
    expect(JSON.parse(skopeoInspect(env, `${image}:1.0.1`)).Digest).toBe(second.outputs.digest)
  })
})
