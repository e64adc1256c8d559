/**
 * The test environment's own commands other checks rely on (scripts/e2e-env.sh), on whichever
 * engine runs: forget-pushes (a fresh GitHub-hosted runner for the benchmark: the engine no
 * longer knows which registry has which layer, and keeps its images), new-engine (the benchmark's
 * cold cases: a new engine with only the base image, the registries kept) and restart-registry
 * (for fault tests: same port, same data). Checked through a real docker client.
 */
import { describe, expect, it } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { e2eClient, nonce, ROOT, sh, skopeoInspect } from './harness.js'
import { tempDir } from '../support/temp-dirs.js'

const { env, client } = e2eClient()
const e2eEnvScript = (command: string): string =>
  sh('bash', [path.join(ROOT, 'scripts/e2e-env.sh'), command])

/** A local image with a fresh layer, under a local name. */
function buildImage(): string {
  const dir = tempDir('e2e-env-ctx-')
  writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY word.txt /word.txt\n')
  writeFileSync(path.join(dir, 'word.txt'), `${nonce()}\n`)
  const local = `e2e-env-local:${nonce()}`
  client(['build', '--quiet', '--tag', local, dir])
  return local
}

/** docker push of the local image under REGISTRY/REPOSITORY:1: docker's progress output. */
function push(local: string, repository: string): string {
  const ref = `${env.registry}/${repository}:1`
  client(['tag', local, ref])
  return client(['push', ref])
}

describe(`scripts/e2e-env.sh on the ${process.env.E2E_ENGINE ?? 'classic'} engine`, () => {
  it('forget-pushes: the engine no longer mounts layers from where it pushed them, and keeps its images', () => {
    const local = buildImage()
    const id = client(['image', 'inspect', '--format', '{{.Id}}', local]).trim()
    push(local, `forget/a-${nonce()}`)
    // With its push history, docker mounts the layer from the first repository.
    expect(push(local, `forget/b-${nonce()}`)).toMatch(/Mounted from forget\/a-/)

    e2eEnvScript('forget-pushes')
    expect(client(['image', 'inspect', '--format', '{{.Id}}', local]).trim()).toBe(id)
    // Without it, the layer is uploaded (or found by a HEAD request), never mounted.
    expect(push(local, `forget/c-${nonce()}`)).not.toContain('Mounted from')
  }, 120_000)

  it('new-engine: nothing but the base image (the same image ID), and the registry keeps what was pushed', () => {
    const base = process.env.E2E_BASE_IMAGE ?? 'e2e/busybox:latest'
    const baseId = client(['image', 'inspect', '--format', '{{.Id}}', base]).trim()
    const local = buildImage()
    const repository = `new-engine/n-${nonce()}`
    push(local, repository)
    const pushed = JSON.parse(skopeoInspect(env, `${env.registry}/${repository}:1`)).Digest

    e2eEnvScript('new-engine')
    expect(client(['image', 'ls', '--quiet', '--no-trunc']).trim().split('\n')).toEqual([baseId])
    expect(client(['image', 'inspect', '--format', '{{.Id}}', base]).trim()).toBe(baseId)
    expect(JSON.parse(skopeoInspect(env, `${env.registry}/${repository}:1`)).Digest).toBe(pushed)
    // The new engine builds and pushes; it has no push history, so nothing is mounted.
    expect(push(buildImage(), `new-engine/m-${nonce()}`)).not.toContain('Mounted from')
  }, 180_000)

  it('restart-registry: the registry comes back on the same port with the same content', () => {
    const local = buildImage()
    const repository = `restart/r-${nonce()}`
    push(local, repository)
    const before = JSON.parse(skopeoInspect(env, `${env.registry}/${repository}:1`)).Digest
    const pidFile = path.join(process.env.E2E_DIR ?? '', 'registry.pid')
    const pidBefore = sh('cat', [pidFile]).trim()

    e2eEnvScript('restart-registry')
    expect(sh('cat', [pidFile]).trim()).not.toBe(pidBefore)
    expect(JSON.parse(skopeoInspect(env, `${env.registry}/${repository}:1`)).Digest).toBe(before)
  }, 120_000)
})
