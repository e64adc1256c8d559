/**
 * End to end: tags and labels derived from the workflow's event (fixtures in
 * __tests__/fixtures/events), the version and metadata outputs and the job summary, with the
 * committed dist/index.js against the real engine and registry, checked with skopeo and docker.
 */
import { describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { e2eClient, inputsFor, Runner, sh } from './harness.js'
import { loadFixture } from '../fixtures/events.js'

const { env, client } = e2eClient()

/** skopeo against the plain-HTTP loopback registry, with the test credentials. */
function skopeo(...args: string[]): string {
  return sh('skopeo', [
    'inspect',
    '--tls-verify=false',
    '--creds',
    `${env.user}:${env.password}`,
    ...args
  ])
}

function project(runner: Runner): void {
  runner.write('Dockerfile', 'FROM scratch\nCOPY hello.txt /hello.txt\n')
  runner.write('hello.txt', `hello ${randomBytes(8).toString('hex')}\n`)
}

const OCI = 'org.opencontainers.image'

describe('tags and labels from the event', () => {
  it('a tag push (v1.2.3) publishes 1.2.3, 1.2, 1, latest with OCI labels on the image config', () => {
    const fixture = loadFixture('push-tag-semver')
    const runner = new Runner('push-tag-semver')
    project(runner)
    const main = runner.main({
      ...inputsFor(env, 'derived-tags'),
      // The user's label wins over the action's on the same key; others are added as given.
      labels: `${OCI}.title=Hello service\ncom.example.team=web`
    })
    expect(main.exitCode).toBe(0)

    const image = `${env.registry}/octo-org/derived-tags`
    const tags = ['1.2.3', '1.2', '1', 'latest']
    expect(main.outputs.tags).toBe(tags.map(t => `${image}:${t}`).join('\n'))
    expect(main.outputs.version).toBe('1.2.3')
    const digest = main.outputs.digest
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    for (const tag of tags) {
      expect(JSON.parse(skopeo(`docker://${image}:${tag}`)).Digest).toBe(digest)
    }

    // The labels, as stored in the pushed image's config blob.
    const config = JSON.parse(skopeo('--config', `docker://${image}@${digest}`)) as {
      os: string
      architecture: string
      variant?: string
      config: { Labels: Record<string, string> }
    }
    const labels = config.config.Labels
    expect(labels).toMatchObject({
      [`${OCI}.source`]: 'https://github.com/Octo-Org/Hello-World',
      [`${OCI}.url`]: 'https://github.com/Octo-Org/Hello-World',
      [`${OCI}.revision`]: fixture.env.GITHUB_SHA,
      [`${OCI}.version`]: '1.2.3',
      [`${OCI}.title`]: 'Hello service',
      [`${OCI}.description`]: 'A small web service, published as a container image',
      [`${OCI}.licenses`]: 'Apache-2.0',
      'com.example.team': 'web'
    })
    // created is the pushed commit's time (the payload's head_commit), not the time of the run:
    // a re-run on the same commit builds the same image.
    expect(labels[`${OCI}.created`]).toBe('2025-05-14T09:21:37Z')

    // metadata: what the registry serves, as skopeo sees it.
    const manifest = JSON.parse(skopeo('--raw', `docker://${image}@${digest}`)) as {
      layers: { size: number }[]
    }
    const size = manifest.layers.reduce((sum, l) => sum + l.size, 0)
    const platform = [config.os, config.architecture, config.variant].filter(Boolean).join('/')
    const metadata = JSON.parse(main.outputs.metadata)
    expect(metadata).toEqual({
      image,
      tags,
      labels: expect.objectContaining({ [`${OCI}.title`]: 'Hello service' }),
      digest,
      size,
      platform
    })
    // Every label the metadata reports is on the image.
    expect(labels).toMatchObject(metadata.labels)

    // The summary: every tag, digest, size, platform, the pinned pull; no package page for a
    // registry that is not GitHub's.
    for (const tag of tags) expect(main.summary).toContain(`<code>${tag}</code>`)
    expect(main.summary).toContain(`<code>${digest}</code>`)
    expect(main.summary).toContain(`(${size.toLocaleString('en-US')} bytes)`)
    expect(main.summary).toContain(`<code>${platform}</code>`)
    expect(main.summary).toContain(`<code>docker pull ${image}@${digest}</code>`)
    expect(main.summary).toContain(`no package page on GitHub for <code>${env.registry}</code>`)
    expect(main.summary).toContain('Hello service')
    expect(runner.post().exitCode).toBe(0)
  })

  it('a pull request from a fork builds without pushing (read-only token), tags-mode append', () => {
    const runner = new Runner('pull-request-fork')
    project(runner)
    const main = runner.main({
      registry: env.registry,
      token: '',
      'image-name': 'from-fork',
      tags: 'ci',
      'tags-mode': 'append'
    })
    expect(main.exitCode).toBe(0)
    expect(main.stdout).toMatch(
      /::notice::This pull request comes from a fork \(contributor\/Hello-World\), where GITHUB_TOKEN is read-only/
    )
    const image = `${env.registry}/octo-org/from-fork`
    expect(main.outputs.tags).toBe(`${image}:pr-42\n${image}:ci`)
    expect(main.outputs.version).toBe('pr-42')
    expect(main.outputs.digest).toBe('')
    // Nothing reached the registry.
    expect(() => skopeo(`docker://${image}:pr-42`)).toThrow(/manifest unknown|not found/i)

    // The local image has the labels; platform and size come from the local image.
    const local = JSON.parse(
      client(['image', 'inspect', '--format', '{{json .}}', `${image}:pr-42`])
    ) as {
      Os: string
      Architecture: string
      Size: number
      Config: { Labels: Record<string, string> }
    }
    expect(local.Config.Labels).toMatchObject({
      [`${OCI}.version`]: 'pr-42',
      [`${OCI}.revision`]: loadFixture('pull-request-fork').env.GITHUB_SHA,
      [`${OCI}.source`]: 'https://github.com/Octo-Org/Hello-World'
    })
    const metadata = JSON.parse(main.outputs.metadata)
    expect(metadata).toMatchObject({
      image,
      tags: ['pr-42', 'ci'],
      digest: null,
      size: null,
      platform: `${local.Os}/${local.Architecture}`
    })
    expect(main.summary).toContain(`Built ${image} (not pushed)`)
    expect(main.summary).toContain('uncompressed (local image')
    expect(main.summary).not.toContain('docker pull')
    expect(runner.post().exitCode).toBe(0)
  })

  it('a push to the default branch publishes latest and sha-<7>', () => {
    const runner = new Runner('push-default-branch')
    project(runner)
    const main = runner.main({
      ...inputsFor(env, 'main-branch')
    })
    expect(main.exitCode).toBe(0)
    const image = `${env.registry}/octo-org/main-branch`
    expect(main.outputs.tags).toBe(`${image}:latest\n${image}:sha-a9993e3`)
    expect(JSON.parse(skopeo(`docker://${image}:sha-a9993e3`)).Digest).toBe(main.outputs.digest)
    expect(runner.post().exitCode).toBe(0)
  })
})
