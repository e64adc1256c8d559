import { describe, expect, it } from '@jest/globals'
import { Docker, type ExecFn } from '../../../src/docker/cli.js'
import { tagSourceImage } from '../../../src/produce/source-image.js'
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
})
