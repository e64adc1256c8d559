import { describe, expect, it } from '@jest/globals'
import { Docker, type ExecFn } from '../../../src/docker/cli.js'
import { startTagging, tagSourceImage } from '../../../src/produce/source-image.js'
import { resolveNames } from '../../../src/plan/names.js'

function recorder(): { calls: string[][]; fn: ExecFn } {
  const calls: string[][] = []
  const fn: ExecFn = async (_cmd, args) => {
    calls.push(args)
    return { exitCode: 0, stdout: '', stderr: '' }
  }
  return { calls, fn }
}

const names = (tags: string[]) =>
  resolveNames({
    registry: 'ghcr.io',
    registryType: 'auto',
    owner: 'o',
    repository: 'app',
    imageName: 'app',
    tags,
    contextRepository: 'o/app',
    serverUrl: 'https://github.com'
  })

describe('tagSourceImage', () => {
  it('tags the image by its ID under the first reference only (the rest go through the registry API)', async () => {
    const { calls, fn } = recorder()
    const tags = Array.from({ length: 50 }, (_, i) => `1.0.${i}`)
    const image = await tagSourceImage(new Docker('/c', fn), 'local:dev', 'sha256:abc', names(tags))
    expect(calls).toEqual([['tag', 'sha256:abc', 'ghcr.io/o/app:1.0.0']])
    expect(image.imageId).toBe('sha256:abc')
  })

  it('push-by-digest (no tag): no docker tag at all', async () => {
    const { calls, fn } = recorder()
    const byDigest = { ...names(['x']), references: [] }
    await tagSourceImage(new Docker('/c', fn), 'local:dev', 'sha256:abc', byDigest)
    expect(calls).toEqual([])
  })

  it('the tag started ahead (while docker logs in) is awaited, not run again; its failure fails here', async () => {
    const { calls, fn } = recorder()
    const docker = new Docker('/c', fn)
    const started = startTagging(docker, 'sha256:abc', names(['v1']))
    expect(calls).toEqual([['tag', 'sha256:abc', 'ghcr.io/o/app:v1']])
    await tagSourceImage(docker, 'local:dev', 'sha256:abc', names(['v1']), started)
    expect(calls).toHaveLength(1)
    const failing: ExecFn = async () => ({
      exitCode: 1,
      stdout: '',
      stderr: 'Error: No such image'
    })
    const broken = new Docker('/c', failing)
    // Not awaited before tagSourceImage: a failure must not be an unhandled rejection meanwhile.
    const early = startTagging(broken, 'sha256:abc', names(['v1']))
    await new Promise(resolve => setImmediate(resolve))
    await expect(
      tagSourceImage(broken, 'local:dev', 'sha256:abc', names(['v1']), early)
    ).rejects.toThrow(/No such image|docker tag/)
  })
})
