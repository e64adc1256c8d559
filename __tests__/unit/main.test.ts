/**
 * The main step in process (src/main.ts run()), its docker and registry adapters replaced by fakes
 * (session/session.ts Adapters): the orchestration — plan, session, login, the merge of two images
 * pushed by digest, outputs, state for the post step — without an engine or a registry. The e2e
 * tier stays the proof against real ones.
 */
import { afterAll, describe, expect, it, jest } from '@jest/globals'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { Docker, type ExecFn } from '../../src/docker/cli.js'
import { run } from '../../src/main.js'
import type { RegistryClient } from '../../src/registry/client.js'
import { fixtureEnv } from '../fixtures/events.js'
import { tempDir } from '../support/temp-dirs.js'
import { OCI_GZIP_LAYER, ociManifestOf } from '../support/oci.js'

const sha = (b: Buffer | string): string => 'sha256:' + createHash('sha256').update(b).digest('hex')

/** An image manifest of one platform, and its config, as a build job pushed them by digest. */
function image(arch: string): { manifest: Buffer; config: Buffer } {
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: arch, rootfs: {} }))
  const manifest = ociManifestOf(config, [
    { mediaType: OCI_GZIP_LAYER, digest: sha(arch), size: 7 }
  ])
  return { manifest, config }
}

/** A registry adapter over an in-memory repository; records what was asked. */
function fakeRegistry(manifests: Map<string, Buffer>, blobs: Map<string, Buffer>) {
  const asked: string[] = []
  const mediaType = (b: Buffer): string => JSON.parse(b.toString()).mediaType
  const client = {
    registry: 'registry.test',
    requests: 0,
    uploadedBytes: 0,
    retrying: <T>(_what: string, op: () => Promise<T>) => op(),
    authorize: async () => undefined,
    verifyCredentials: async () => true,
    ping: async () => undefined,
    getManifest: async (repo: string, ref: string) => {
      asked.push(`GET ${repo}:${ref.slice(0, 15)}`)
      const bytes = manifests.get(ref)
      if (!bytes) throw Object.assign(new Error('manifest unknown'), { code: 'MANIFEST_UNKNOWN' })
      return { digest: sha(bytes), mediaType: mediaType(bytes), bytes }
    },
    headManifest: async (_repo: string, ref: string) => {
      const bytes = manifests.get(ref)
      return bytes
        ? { digest: sha(bytes), mediaType: mediaType(bytes), size: bytes.length }
        : undefined
    },
    putManifest: async (repo: string, ref: string, bytes: Buffer) => {
      asked.push(`PUT ${repo}:${ref.slice(0, 15)}`)
      manifests.set(ref, bytes)
      manifests.set(sha(bytes), bytes)
      return sha(bytes)
    },
    getBlob: async (_repo: string, digest: string) => blobs.get(digest)!
  }
  return { client: client as unknown as RegistryClient, asked }
}

const saved = { ...process.env }
afterAll(() => {
  process.env = saved
})

describe('run() in process, with fakes of docker and the registry', () => {
  it('merge-digests: no docker; one index of both images PUT under the tag, its digest in the outputs, no state for the post step', async () => {
    const [amd, arm] = [image('amd64'), image('arm64')]
    const manifests = new Map([
      [sha(amd.manifest), amd.manifest],
      [sha(arm.manifest), arm.manifest]
    ])
    const blobs = new Map([
      [sha(amd.config), amd.config],
      [sha(arm.config), arm.config]
    ])
    const { client, asked } = fakeRegistry(manifests, blobs)
    const commands: string[] = []
    const exec: ExecFn = async (_cmd, args, options) => {
      commands.push(args.join(' '))
      expect(Object.keys(options.env ?? {}).filter(k => k.startsWith('INPUT_'))).toEqual([])
      return { exitCode: 0, stdout: args[0] === 'version' ? '26.1.5|26.1.5|linux' : '', stderr: '' }
    }
    const dir = tempDir('main-in-process-')
    const files = { output: 'output', state: 'state', summary: 'summary' }
    for (const f of Object.values(files)) writeFileSync(path.join(dir, f), '')
    process.env = {
      PATH: saved.PATH,
      HOME: dir,
      RUNNER_TEMP: dir,
      ...fixtureEnv('push-default-branch', dir),
      GITHUB_OUTPUT: path.join(dir, files.output),
      GITHUB_STATE: path.join(dir, files.state),
      GITHUB_STEP_SUMMARY: path.join(dir, files.summary),
      INPUT_REGISTRY: 'registry.test',
      INPUT_TOKEN: 'the-token',
      INPUT_USERNAME: 'octocat',
      'INPUT_IMAGE-NAME': 'app',
      INPUT_TAGS: 'v1',
      'INPUT_MERGE-DIGESTS': `${sha(amd.manifest)}\n${sha(arm.manifest)}`
    }
    const printed: string[] = []
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(chunk => {
      printed.push(String(chunk))
      return true
    })
    try {
      await run({ docker: configDir => new Docker(configDir, exec), registry: () => client })
    } finally {
      write.mockRestore()
    }
    const log = printed.join('')
    expect(log).not.toContain('::error::')
    // merge-digests takes no docker at all: the registry adapter does everything.
    expect(commands).toEqual([])
    // One index, PUT under the tag, listing both images.
    const index = manifests.get('v1')!
    expect(JSON.parse(index.toString()).manifests.map((m: { digest: string }) => m.digest)).toEqual(
      [sha(amd.manifest), sha(arm.manifest)]
    )
    expect(asked).toContain(`PUT ${'octo-org/app'}:v1`)
    const output = readFileSync(path.join(dir, files.output), 'utf8')
    expect(output).toContain(sha(index))
    expect(output).toMatch(/^tags<<.*\nregistry\.test\/octo-org\/app:v1\n/m)
    // Nothing for the post step to undo: no Docker config was made.
    expect(readFileSync(path.join(dir, files.state), 'utf8')).toBe('')
  })
})
