import { describe, expect, it } from '@jest/globals'
import { gitHub, runContextFrom, type RunContext } from '../../../src/github/context.js'
import { UserError } from '../../../src/util/errors.js'
import { createdTimestamp, imageLabels, truncate } from '../../../src/plan/labels.js'
import { repositoryInfoFromPayload } from '../../../src/github/repository-info.js'
import {
  deriveTags,
  isForkPullRequest,
  resolvePush,
  resolveTags,
  sanitizeTag
} from '../../../src/plan/tags.js'
import { packagePageUrl, runnerServer } from '../../../src/github/hosts.js'
import { resolveNames, validateTags } from '../../../src/plan/names.js'
import {
  EVENT_FIXTURES,
  fixtureEnv,
  type EventFixtureName,
  contextFromEnv
} from '../../fixtures/events.js'
import { itMaps } from '../../support/table.js'

/** The context the action reads for a fixture (through the real file + env edge). */
function context(name: EventFixtureName, edit?: Parameters<typeof fixtureEnv>[2]): RunContext {
  return contextFromEnv(fixtureEnv(name, undefined, edit))
}

describe('tags derived from each kind of event (fixtures in __tests__/fixtures/events)', () => {
  it.each<[EventFixtureName, string[], boolean]>([
    ['push-tag-semver', ['1.2.3', '1.2', '1', 'latest'], true],
    ['push-tag-prerelease', ['1.2.3-rc.1'], true],
    ['push-tag-not-semver', ['deploy-prod-eu'], true],
    ['push-default-branch', ['latest', 'sha-a9993e3'], true],
    ['push-branch', ['feature-login', 'sha-c1dfd96'], true],
    ['pull-request', ['pr-42'], true],
    ['pull-request-fork', ['pr-42'], false],
    ['schedule', ['nightly'], true],
    ['workflow-dispatch', ['release-2.x', 'sha-fe5dbbc'], true]
  ])('%s → %j, push %s', (name, tags, push) => {
    const ctx = context(name)
    const derived = resolveTags([], 'replace', ctx)
    expect(derived).toEqual({ tags, notices: [] })
    expect(validateTags(derived.tags)).toEqual(tags)
    expect(resolvePush(undefined, ctx).push).toBe(push)
  })

  it('covers every fixture', () => {
    expect(EVENT_FIXTURES).toHaveLength(9)
  })

  it('workflow_dispatch on a tag follows the tag rules', () => {
    const ctx = context('workflow-dispatch')
    ctx.ref = 'refs/tags/v2.0.0'
    expect(deriveTags(ctx).tags).toEqual(['2.0.0', '2.0', '2', 'latest'])
  })

  it('a release event (GITHUB_REF refs/tags/…) follows the tag rules', () => {
    const ctx = context('push-tag-semver')
    ctx.eventName = 'release'
    expect(deriveTags(ctx).tags).toEqual(['1.2.3', '1.2', '1', 'latest'])
  })

  it('0.y.z moves no "0" tag (initial development, semver §4)', () => {
    const ctx = context('push-tag-semver')
    ctx.ref = 'refs/tags/v0.4.1'
    expect(deriveTags(ctx).tags).toEqual(['0.4.1', '0.4', 'latest'])
  })

  it('drops build metadata, which cannot be in a tag', () => {
    const ctx = context('push-tag-semver')
    ctx.ref = 'refs/tags/1.2.3+build.7'
    expect(deriveTags(ctx).tags).toEqual(['1.2.3', '1.2', '1', 'latest'])
    ctx.ref = 'refs/tags/v1.2.3-RC.1+build.7'
    expect(deriveTags(ctx).tags).toEqual(['1.2.3-rc.1'])
  })

  it('a branch is not "latest" when the payload does not name the default branch, with a notice', () => {
    const ctx = context('push-default-branch', f => {
      delete (f.event.repository as Record<string, unknown>).default_branch
    })
    const derived = deriveTags(ctx)
    expect(derived.tags).toEqual(['main', 'sha-a9993e3'])
    expect(derived.notices[0]).toMatch(/does not name the default branch/)
  })

  it('says what to do when the event gives nothing to derive tags from', () => {
    const ctx = contextFromEnv({ GITHUB_EVENT_NAME: 'repository_dispatch', GITHUB_REF: '' })
    expect(() => resolveTags([], 'replace', ctx)).toThrow(
      "tags is empty and no tag can be derived from the repository_dispatch event (GITHUB_REF ''): set the tags input"
    )
    // ... but the user's tags need no derivation.
    expect(resolveTags(['edge'], 'replace', ctx).tags).toEqual(['edge'])
  })

  it('a git tag with nothing usable falls back to the commit, with a notice', () => {
    const ctx = context('push-tag-semver')
    ctx.ref = 'refs/tags/リリース'
    const derived = deriveTags(ctx)
    expect(derived.tags).toEqual(['sha-3f78685'])
    expect(derived.notices[0]).toMatch(/no characters usable/)
  })
})

describe('tags-mode', () => {
  const ctx = (): RunContext => context('push-tag-semver')
  it('replace (default): the user’s tags replace the derived ones', () => {
    expect(resolveTags(['stable', 'v1'], 'replace', ctx()).tags).toEqual(['stable', 'v1'])
  })
  it('append: the user’s tags come after the derived ones, without duplicates', () => {
    expect(resolveTags(['stable', 'latest'], 'append', ctx()).tags).toEqual([
      '1.2.3',
      '1.2',
      '1',
      'latest',
      'stable'
    ])
  })
  it('append without user tags is the derived tags', () => {
    expect(resolveTags([], 'append', ctx()).tags).toEqual(['1.2.3', '1.2', '1', 'latest'])
  })
})

describe('sanitising names into tags', () => {
  itMaps('%s → %s', sanitizeTag, [
    ['feature/Login', 'feature-login'],
    ['fix//double--dash', 'fix-double-dash'],
    ['...hidden', 'hidden'],
    ['--leading-dashes', 'leading-dashes'],
    ['.-.-mixed', 'mixed'],
    ['trailing/', 'trailing'],
    ['Über/Café', 'uber-cafe'],
    ['İstanbul', 'istanbul'],
    ['emoji-🚀-rocket', 'emoji-rocket'],
    ['日本語', ''],
    ['under_score.dot', 'under_score.dot']
  ])
  it('cuts a very long branch to 128 characters and keeps it valid', () => {
    const branch = 'feature/' + 'a-'.repeat(200)
    const tag = sanitizeTag(branch)
    expect(tag.length).toBeLessThanOrEqual(128)
    expect(tag).toMatch(/^feature-a-a/)
    expect(tag).not.toMatch(/-$/)
    expect(validateTags([tag])).toEqual([tag])
  })
  it('derived branch tags always pass the tag grammar of plan/names.ts', () => {
    const names = [
      'x'.repeat(300),
      '-.-' + 'Ä'.repeat(140),
      'a/b/c/D/E/F',
      '__init__',
      'v1.2.3-rc.1+build',
      'release/2024.05 (EU)',
      '\u200bzero-width'
    ]
    for (const branch of names) {
      const ctx = context('push-branch')
      ctx.ref = `refs/heads/${branch}`
      const { tags } = deriveTags(ctx)
      expect(validateTags(tags)).toEqual(tags)
    }
  })
})

describe('push default on pull requests from forks (github-registries facts, Credentials: read-only token)', () => {
  it('is false with a notice that says how to push anyway', () => {
    const ctx = context('pull-request-fork')
    expect(isForkPullRequest(ctx)).toBe(true)
    const result = resolvePush(undefined, ctx)
    expect(result.push).toBe(false)
    expect(result.notice).toMatch(
      /comes from a fork \(contributor\/Hello-World\), where GITHUB_TOKEN is read-only.*Set `push: true`/
    )
  })
  it('an explicit push wins', () => {
    expect(resolvePush(true, context('pull-request-fork'))).toEqual({ push: true })
    expect(resolvePush(false, context('push-tag-semver'))).toEqual({ push: false })
  })
  it('a pull request from the same repository is not a fork (case-insensitive names)', () => {
    const ctx = context('pull-request', f => {
      const pr = f.event.pull_request as { head: { repo: { full_name: string } } }
      pr.head.repo.full_name = 'octo-org/hello-world'
    })
    expect(isForkPullRequest(ctx)).toBe(false)
  })
  it('a pull request whose fork was deleted (head.repo null) counts as a fork', () => {
    const ctx = context('pull-request-fork', f => {
      ;(f.event.pull_request as { head: { repo: unknown } }).head.repo = null
    })
    expect(resolvePush(undefined, ctx)).toMatchObject({ push: false })
  })
})

describe('labels', () => {
  const ctx = (): RunContext => context('push-tag-semver')
  const created = '2025-05-14T09:30:00Z'
  const repo = (c: RunContext) => repositoryInfoFromPayload(c.payload.repository).info
  const labels = (userLabels: string[] = [], c = ctx()) =>
    imageLabels({ ctx: c, version: '1.2.3', created, repo: repo(c), userLabels })

  it('adds the OCI labels GitHub reads, the source linking the package to the repository', () => {
    expect(labels().all).toEqual({
      'org.opencontainers.image.source': 'https://github.com/Octo-Org/Hello-World',
      'org.opencontainers.image.url': 'https://github.com/Octo-Org/Hello-World',
      'org.opencontainers.image.revision': '3f786850e387550fdab836ed7e6dc881de23001b',
      'org.opencontainers.image.created': created,
      'org.opencontainers.image.version': '1.2.3',
      'org.opencontainers.image.title': 'Hello-World',
      'org.opencontainers.image.description': 'A small web service, published as a container image',
      'org.opencontainers.image.licenses': 'Apache-2.0'
    })
  })
  it('the source is on GITHUB_SERVER_URL (GHES)', () => {
    const c = ctx()
    c.serverUrl = 'https://ghe.example.com'
    expect(labels([], c).all['org.opencontainers.image.source']).toBe(
      'https://ghe.example.com/Octo-Org/Hello-World'
    )
  })
  it('the user’s labels win on the same key, and are kept as given', () => {
    const result = labels([
      'org.opencontainers.image.title=Hello service',
      'org.opencontainers.image.licenses=MIT OR Apache-2.0',
      'com.example.team=web=frontend'
    ])
    expect(result.added.some(l => l.startsWith('org.opencontainers.image.title='))).toBe(false)
    expect(result.added.some(l => l.startsWith('org.opencontainers.image.licenses='))).toBe(false)
    expect(result.added).toContain('org.opencontainers.image.version=1.2.3')
    expect(result.all).toMatchObject({
      'org.opencontainers.image.title': 'Hello service',
      'org.opencontainers.image.licenses': 'MIT OR Apache-2.0',
      'com.example.team': 'web=frontend'
    })
  })
  it('cuts the description to 512 characters, as GitHub shows it (github-registries facts, labels)', () => {
    const c = context('push-tag-semver', f => {
      ;(f.event.repository as Record<string, unknown>).description = 'ü'.repeat(600)
    })
    const description = labels([], c).all['org.opencontainers.image.description']
    expect(Array.from(description)).toHaveLength(512)
    expect(description.endsWith('…')).toBe(true)
    expect(truncate('short', 512)).toBe('short')
  })
  it('leaves out a missing description and an unidentified licence (NOASSERTION)', () => {
    const c = context('push-tag-semver', f => {
      const r = f.event.repository as Record<string, unknown>
      r.description = null
      r.license = { key: 'other', spdx_id: 'NOASSERTION' }
    })
    const all = labels([], c).all
    expect(all).not.toHaveProperty(['org.opencontainers.image.description'])
    expect(all).not.toHaveProperty(['org.opencontainers.image.licenses'])
    expect(repositoryInfoFromPayload(c.payload.repository).complete).toBe(true)
  })
  it('knows when the payload does not carry description and licence (API needed)', () => {
    expect(repositoryInfoFromPayload(undefined).complete).toBe(false)
    expect(repositoryInfoFromPayload({ name: 'x' }).complete).toBe(false)
  })
  it('created is RFC 3339 in UTC, or SOURCE_DATE_EPOCH when set', () => {
    expect(createdTimestamp(undefined, new Date('2025-05-14T09:30:00.123Z'))).toBe(
      '2025-05-14T09:30:00Z'
    )
    expect(createdTimestamp('1700000000', new Date())).toBe('2023-11-14T22:13:20Z')
    expect(createdTimestamp('not a number', new Date(0))).toBe('1970-01-01T00:00:00Z')
    // The commit's time, so a run repeated on the same commit builds the same image.
    expect(createdTimestamp(undefined, new Date(), '2025-05-14T11:30:00+02:00')).toBe(
      '2025-05-14T09:30:00Z'
    )
    expect(createdTimestamp('1700000000', new Date(), '2025-05-14T11:30:00+02:00')).toBe(
      '2023-11-14T22:13:20Z'
    )
    expect(createdTimestamp(undefined, new Date(0), 'garbage')).toBe('1970-01-01T00:00:00Z')
  })
})

describe('package page link', () => {
  const names = (registry: string, owner = 'octo-org', imageName = 'hello-world') =>
    resolveNames({
      registry,
      registryType: 'auto',
      owner,
      repository: '',
      imageName,
      tags: ['x'],
      contextRepository: 'Octo-Org/Hello-World',
      serverUrl: 'https://github.com'
    })
  it('ghcr.io, organization owner', () => {
    expect(page(names('ghcr.io'), context('push-tag-semver'))).toBe(
      'https://github.com/orgs/octo-org/packages/container/package/hello-world'
    )
  })
  it('ghcr.io, user owner, "/" in the image name encoded', () => {
    const ctx = context('push-tag-semver', f => {
      ;(f.event.repository as { owner: { type: string } }).owner.type = 'User'
    })
    expect(page(names('ghcr.io', '', 'app/release'), ctx)).toBe(
      'https://github.com/users/octo-org/packages/container/package/app%2Frelease'
    )
  })
  it('another owner than the repository’s: its packages tab', () => {
    expect(page(names('ghcr.io', 'someone-else'), context('push-tag-semver'))).toBe(
      'https://github.com/someone-else?tab=packages'
    )
  })
  it('GHES container registry links to the GHES server', () => {
    const ctx = context('push-tag-semver')
    ctx.serverUrl = 'https://ghe.example.com'
    ctx.server = runnerServer(ctx.serverUrl)
    const n = resolveNames({
      registry: '',
      registryType: 'auto',
      owner: '',
      repository: '',
      imageName: '',
      tags: ['x'],
      contextRepository: 'Octo-Org/Hello-World',
      serverUrl: 'https://ghe.example.com'
    })
    expect(n.registry).toBe('containers.ghe.example.com')
    expect(page(n, ctx)).toBe(
      'https://ghe.example.com/orgs/octo-org/packages/container/package/hello-world'
    )
  })
  it('legacy Docker registry: the owner’s packages tab', () => {
    expect(page(names('docker.pkg.github.com'), context('push-tag-semver'))).toBe(
      'https://github.com/octo-org?tab=packages'
    )
  })
  it('no link for a registry that is not GitHub’s', () => {
    expect(page(names('127.0.0.1:5000'), context('push-tag-semver'))).toBeUndefined()
    expect(page(names('registry.example.com'), context('push-tag-semver'))).toBeUndefined()
  })
})

function page(n: Parameters<typeof packagePageUrl>[0], ctx: RunContext): string | undefined {
  return packagePageUrl(n, ctx.server, ctx.payload.repository?.owner)
}

describe('reading the run context', () => {
  it('a missing payload file is an empty payload; the server defaults to github.com', () => {
    const ctx = contextFromEnv({ GITHUB_EVENT_PATH: '/nonexistent/event.json' })
    expect(ctx.payload).toEqual({})
    expect(ctx.serverUrl).toBe('https://github.com')
    expect(ctx.server).toEqual({
      url: 'https://github.com',
      host: 'github.com',
      apiUrl: 'https://api.github.com'
    })
  })
  it('a payload that is not an object is an empty payload', () => {
    expect(runContextFrom({}, { payload: [1, 2] }).payload).toEqual({})
  })
  it('an unreadable payload fails the step with a message that says so', async () => {
    const err = await gitHub(() =>
      Promise.reject(new SyntaxError('Unexpected token n in JSON'))
    ).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UserError)
    expect((err as Error).message).toMatch(
      /^the event payload at GITHUB_EVENT_PATH could not be read \(Unexpected token n in JSON\)/
    )
  })
})
