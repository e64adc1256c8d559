import { afterEach, beforeEach, describe, expect, it } from '@jest/globals'
import * as core from '@actions/core'
import { readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { resolveNames } from '../../../src/plan/names.js'
import { formatBytes, writeSummary } from '../../../src/report/summary.js'
import { metadataJson, type PublishResult } from '../../../src/report/outputs.js'
import { tempDir } from '../../support/temp-dirs.js'

const digest = 'sha256:' + 'ab'.repeat(32)
function result(overrides: Partial<PublishResult> = {}): PublishResult {
  return {
    names: resolveNames({
      registry: 'ghcr.io',
      registryType: 'auto',
      owner: '',
      repository: '',
      imageName: 'app/release',
      tags: ['1.2.3', '1.2', 'latest'],
      contextRepository: 'octo-org/hello-world',
      serverUrl: 'https://github.com'
    }),
    imageId: 'sha256:' + 'cd'.repeat(32),
    digest,
    builder: 'classic',
    version: '1.2.3',
    labels: { 'org.opencontainers.image.version': '1.2.3', 'com.example.note': '<b>&</b>' },
    size: 3_456_789,
    platform: 'linux/amd64',
    packageUrl: 'https://github.com/orgs/octo-org/packages/container/package/app%2Frelease',
    ...overrides
  }
}

describe('metadata output', () => {
  it('is one JSON object with image, tags, labels, digest, size and platform', () => {
    expect(JSON.parse(metadataJson(result()))).toEqual({
      image: 'ghcr.io/octo-org/app/release',
      tags: ['1.2.3', '1.2', 'latest'],
      labels: { 'org.opencontainers.image.version': '1.2.3', 'com.example.note': '<b>&</b>' },
      digest,
      size: 3456789,
      platform: 'linux/amd64'
    })
  })
  it('has null digest and size when nothing was pushed', () => {
    const json = JSON.parse(metadataJson(result({ digest: '', size: null, localSize: 5 })))
    expect(json).toMatchObject({ digest: null, size: null, platform: 'linux/amd64' })
  })
})

describe('job summary', () => {
  // @actions/core remembers the summary file's path after the first write: one file, emptied per test.
  const file = path.join(tempDir('summary-'), 'summary.md')
  beforeEach(() => {
    writeFileSync(file, '')
    process.env.GITHUB_STEP_SUMMARY = file
    core.summary.emptyBuffer()
  })
  afterEach(() => {
    delete process.env.GITHUB_STEP_SUMMARY
  })

  it('shows every tag, the digest, size, platform, pinned pull and the package page', async () => {
    await writeSummary(result(), true)
    const text = readFileSync(file, 'utf8')
    for (const tag of ['1.2.3', '1.2', 'latest']) expect(text).toContain(`<code>${tag}</code>`)
    expect(text).toContain(`<code>${digest}</code>`)
    expect(text).toContain('3.3 MiB compressed (3,456,789 bytes)')
    expect(text).toContain('<code>linux/amd64</code>')
    expect(text).toContain(`<code>docker pull ghcr.io/octo-org/app/release@${digest}</code>`)
    expect(text).toContain(
      '<a href="https://github.com/orgs/octo-org/packages/container/package/app%2Frelease">'
    )
    // Label values are escaped, never raw HTML.
    expect(text).toContain('&lt;b&gt;&amp;&lt;/b&gt;')
    expect(text).not.toContain('<b>&</b>')
  })

  it('when not pushed: the local uncompressed size, no pull command', async () => {
    await writeSummary(
      result({ digest: '', size: null, localSize: 2048, packageUrl: undefined }),
      true
    )
    const text = readFileSync(file, 'utf8')
    expect(text).toContain('Built ghcr.io/octo-org/app/release (not pushed)')
    expect(text).toContain('2.0 KiB uncompressed (local image')
    expect(text).not.toContain('docker pull')
    expect(text).toContain('no package page on GitHub for <code>ghcr.io</code>')
  })

  it('pushed by digest: no tags; a merged index: no image ID, the labels shown as index annotations', async () => {
    const byDigest = result()
    byDigest.names = { ...byDigest.names, tags: [], references: [] }
    await writeSummary(byDigest, true)
    expect(readFileSync(file, 'utf8')).toContain('<td>Tags</td><td>none: pushed by digest</td>')
    writeFileSync(file, '')
    core.summary.emptyBuffer()
    await writeSummary(
      result({ imageId: '', labelsAre: 'annotations', platform: 'linux/amd64,linux/arm64' }),
      true
    )
    const text = readFileSync(file, 'utf8')
    expect(text).toContain('<td>Image ID</td><td>none (no single local image)</td>')
    expect(text).toContain('Index annotations (2)')
    expect(text).toContain('<th>Annotation</th>')
    expect(text).toContain('<code>linux/amd64,linux/arm64</code>')
  })

  it('formats sizes', () => {
    expect(formatBytes(512)).toBe('512 bytes')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GiB')
  })
})
