/**
 * Odd inputs a hostile or unlucky workflow gives (issue 14), refused by the plan, before any
 * daemon or network call, with a one-line message that shows the input escaped and leaks nothing.
 */
import { describe, expect, it } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { contextFromEnv, fixtureEnv } from '../../fixtures/events.js'
import { makePlan } from '../../../src/plan/plan.js'
import { checkUsername } from '../../../src/plan/rules.js'
import { parseContext, parseKeyValues, parseTags } from '../../../src/plan/inputs.js'
import { parseMergeDigests } from '../../../src/plan/merge-digests.js'
import { parseSourceImage } from '../../../src/plan/names.js'
import { UserError } from '../../../src/util/errors.js'
import { tempDir } from '../../support/temp-dirs.js'

const workspace = tempDir('odd-inputs-')
writeFileSync(path.join(workspace, 'Dockerfile'), 'FROM scratch\n')

function plan(values: Record<string, string>, env: Record<string, string> = {}) {
  const run = contextFromEnv({ ...fixtureEnv('push-branch'), ...env })
  const all: Record<string, string> = { token: 'ghs_token', ...values }
  return makePlan(run, name => all[name] ?? '', workspace)
}

function refusal(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(UserError)
    const message = (e as Error).message
    expect(message).not.toMatch(/[\n\r\u2028\u2029]/)
    return message
  }
  throw new Error('expected a UserError, got none')
}

describe('credentials in URLs are refused, and not shown', () => {
  it('buildx-download-url with user:password@', () => {
    const m = refusal(() =>
      plan({ 'buildx-download-url': 'https://bob:hunter2@example.com/buildx/releases' })
    )
    expect(m).toMatch(
      /^buildx-download-url 'https:\/\/\*\*\*@example\.com\/buildx\/releases' holds credentials/
    )
    expect(m).not.toContain('hunter2')
    expect(m).not.toContain('bob')
  })
  it('also when the URL is not http(s) at all', () => {
    const m = refusal(() => plan({ 'buildx-download-url': 'ftp://bob:hunter2@example.com/x' }))
    expect(m).toMatch(/holds credentials/)
    expect(m).not.toContain('hunter2')
  })
  it('registry with user:password@', () => {
    for (const registry of ['bob:hunter2@ghcr.io', 'https://bob:hunter2@ghcr.io/o']) {
      const m = refusal(() => plan({ registry }))
      expect(m).toMatch(/must be a host\[:port\] without credentials .*use 'ghcr\.io'/)
      expect(m).not.toContain('hunter2')
    }
  })
  it('a context URL with credentials', () => {
    const m = refusal(() => parseContext('https://x-access-token:ghs_abc@github.com/o/r.git'))
    expect(m).toMatch(/^context 'https:\/\/\*\*\*@github\.com\/o\/r\.git' holds credentials/)
    expect(m).not.toContain('ghs_abc')
    expect(refusal(() => parseContext('https://ghs_abc@github.com/o/r.git'))).not.toContain(
      'ghs_abc'
    )
    expect(refusal(() => parseContext('ssh://git:pw@github.com/o/r.git'))).toMatch(
      /holds credentials/
    )
  })
})

describe('context', () => {
  it("refuses '-', which would make docker wait for stdin until the job times out", () => {
    expect(refusal(() => plan({ context: '-' }))).toMatch(
      /^context '-' would make docker read the build context from standard input/
    )
  })
  it.each([
    [
      'file:///x',
      /uses the scheme 'file', which docker cannot build from: give the folder itself \('\/x'\)/
    ],
    ['foo://bar', /uses the scheme 'foo', which docker cannot build from: use a folder/],
    ['oci://ghcr.io/x', /uses the scheme 'oci'/]
  ])('refuses %s', (context, message) => {
    expect(refusal(() => parseContext(context))).toMatch(message)
  })
  it.each([
    '.',
    'sub/dir',
    'https://github.com/o/r.git#main:dir',
    'http://example.com/ctx.tar.gz',
    'git://example.com/r.git',
    'git@github.com:o/r.git',
    'ssh://git@github.com/o/r.git'
  ])('takes %s', context => {
    expect(parseContext(context)).toBe(context)
  })
  it("is '.' when not given", () => {
    expect(parseContext('')).toBe('.')
  })
})

describe('tags', () => {
  it.each([',,,', ' , \n ,', ', ,'])('refuses a list of separators only: %j', tags => {
    expect(refusal(() => parseTags(tags))).toMatch(/^tags '.*' holds no tag, only separators/)
    expect(refusal(() => plan({ tags }))).toMatch(/holds no tag/)
  })
  it('an empty or blank input still means: derive them from the event', () => {
    expect(parseTags('')).toEqual([])
    expect(parseTags('   ')).toEqual([])
    expect(plan({ tags: '' }).names.tags.length).toBeGreaterThan(0)
  })
})

describe('owner and repository, as GitHub spells them, checked before lowercasing', () => {
  it('refuses the Kelvin sign, which lowercases to an ASCII k (another account)', () => {
    const m = refusal(() => plan({ owner: '\u212aelvin-org' }))
    expect(m).toMatch(
      /^owner '\u212aelvin-org' \(input owner\) is not a GitHub user or organization name: it contains '\u212a' \(U\+212A\)/
    )
  })
  it.each([
    ['octo\u200borg', /contains '\\u200b' \(U\+200B\)/],
    ['octo org', /contains ' '/],
    ['octo_org', /contains '_'/],
    ['ｏcto', /contains 'ｏ' \(U\+FF4F\)/]
  ])('refuses owner %j', (owner, message) => {
    expect(refusal(() => plan({ owner }))).toMatch(message)
  })
  it('refuses an owner with a newline, shown escaped on one line', () => {
    expect(refusal(() => plan({ owner: 'octo\norg' }))).toMatch(/^owner 'octo\\norg'/)
  })
  it('refuses a repository with non-ASCII letters, from the input or the context', () => {
    expect(
      refusal(() => plan({ repository: 're\u0440o', 'registry-type': 'docker', 'image-name': 'x' }))
    ).toMatch(
      /^repository 're\u0440o' \(input repository\) is not a GitHub repository name: it contains '\u0440' \(U\+0440\)/
    )
    expect(refusal(() => plan({}, { GITHUB_REPOSITORY: 'octo-org/h\u00e9llo' }))).toMatch(
      /repository name from the workflow context/
    )
  })
  it('still lowercases ASCII names, with a notice', () => {
    const p = plan({ owner: 'Octo-Org' })
    expect(p.names.owner).toBe('octo-org')
    expect(p.notices.join('\n')).toMatch(
      /owner 'Octo-Org' \(input owner\) was lowercased to 'octo-org'/
    )
  })
})

describe('image-name', () => {
  it.each(['İmage', 'Ünïcode'])('refuses %s without suggesting an invalid lowercase', name => {
    const m = refusal(() => plan({ 'image-name': name }))
    expect(m).toMatch(/is not a valid image path: it contains/)
    expect(m).not.toMatch(/use '/)
  })
  it('suggests the lowercase of an ASCII name', () => {
    expect(refusal(() => plan({ 'image-name': 'My-App' }))).toMatch(
      /must be lowercase: use 'my-app'/
    )
  })
})

describe('username', () => {
  it.each([
    ['octo\ncat', /^username 'octo\\ncat' contains '\\n'/],
    ['octo:cat', /contains ':'/],
    ['octo cat', /contains ' '/],
    ['octo\u200bcat', /contains '\\u200b' \(U\+200B\)/]
  ])('refuses %j for any registry, without blaming the token', (username, message) => {
    const m = refusal(() => checkUsername(username, false))
    expect(m).toMatch(message)
    expect(m).toMatch(/no registry accepts/)
    expect(refusal(() => plan({ username, registry: '127.0.0.1:5000' }))).toMatch(message)
  })
  it('for GitHub registries, as GitHub spells user names; an app bot is fine', () => {
    expect(refusal(() => checkUsername('octo_cat', true))).toMatch(
      /^username 'octo_cat' is not a GitHub user name: it contains '_'/
    )
    expect(refusal(() => checkUsername('\u212aelvin', true))).toMatch(/'\u212a' \(U\+212A\)/)
    expect(() => checkUsername('github-actions[bot]', true)).not.toThrow()
    expect(() => checkUsername('Octocat', true)).not.toThrow()
    expect(() => checkUsername('robot$ci', false)).not.toThrow()
  })
  it('is checked only when there is a login (a token)', () => {
    expect(() => plan({ token: '', push: 'false', username: 'a:b' })).not.toThrow()
  })
})

describe('build-args and labels keys', () => {
  it.each([
    ['1A=x', /starts with a digit, \. or -/],
    ['-A=x', /starts with a digit/],
    ['A\u200bB=1', /contains '\\u200b' \(U\+200B\)/],
    ['KÉY=1', /contains 'É' \(U\+00C9\)/],
    ['A$B=1', /contains '\$'/]
  ])('refuses the build-arg %j', (entry, message) => {
    const m = refusal(() => parseKeyValues('build-args', entry))
    expect(m).toMatch(/^build-args name '.*' is not a build argument name/)
    expect(m).toMatch(message)
  })
  it('takes ARG names with _, . and - inside', () => {
    expect(parseKeyValues('build-args', 'A_B=1\n_x=2\nnode.env=3\nmy-arg=4')).toHaveLength(4)
  })
  it('refuses invisible characters in a label key', () => {
    expect(refusal(() => parseKeyValues('labels', 'org.\u200bsource=x'))).toMatch(
      /^labels key 'org\.\\u200bsource' contains '\\u200b' \(U\+200B\)/
    )
  })
})

describe('a digest without a name', () => {
  const digest = 'sha256:' + 'a'.repeat(64)
  it('merge-digests: says the name is missing (not a hint about hex case)', () => {
    const m = refusal(() => parseMergeDigests(`@${digest}`))
    expect(m).toMatch(/has no image name before '@'/)
    expect(m).not.toMatch(/lowercase/)
  })
  it('source-image', () => {
    expect(refusal(() => parseSourceImage(`@${digest}`))).toMatch(
      /^source-image '@sha256:a+…?' has no image name before '@'/
    )
  })
})

describe('a count of tags no run should publish', () => {
  it('is refused before anything runs, with the count and the cap; the cap itself passes', () => {
    const many = (n: number): string => Array.from({ length: n }, (_, i) => `t${i}`).join('\n')
    expect(refusal(() => plan({ tags: many(10_000) }))).toMatch(
      /^tags lists 10000 tags, more than the 1000 one run publishes: publish the versions that matter/
    )
    expect(plan({ tags: many(1000) }).names.tags).toHaveLength(1000)
  })
})
