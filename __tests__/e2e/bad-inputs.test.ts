/**
 * A corpus of bad inputs, each run through the committed dist/index.js as the runner runs it. Every
 * one must fail before any daemon or network call (a recording `docker` on PATH and a recording TCP
 * listener as the registry see nothing), with a one-line message and no stack trace.
 */
import { describe, expect, it } from '@jest/globals'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { fakeDocker, Runner } from './harness.js'

type Case = [what: string, inputs: Record<string, string>, message: RegExp]

const long = (n: number, c = 'a'): string => c.repeat(n)
const cases: Case[] = [
  // image names
  ...['My-App', 'APP', 'app/Release'].map((v): Case => [
    `uppercase image-name ${v}`,
    { 'image-name': v },
    /image-name '.*' must be lowercase: use '/
  ]),
  ...[
    '-app',
    'app-',
    '_app',
    'app_',
    '.app',
    'app.',
    'a..b',
    'a___b',
    'a/-b',
    'a/b-',
    'app/',
    '/app',
    'a//b',
    'my app',
    'app:1',
    'app@x',
    'a\\b',
    'a#b',
    'a%b',
    'a+b',
    'é',
    'a*',
    'a?b',
    'a~b',
    'a,b'
  ].map((v): Case => [
    `invalid image-name ${JSON.stringify(v)}`,
    { 'image-name': v },
    /image-name '.*' is not a valid image path/
  ]),
  [
    'image-name too long',
    { 'image-name': long(260) },
    /is \d+ characters long; registries accept at most 255/
  ],
  // tags
  ...['sha256:' + long(64, 'a'), long(64, 'f'), 'v1@sha256:abc', '@latest'].map((v): Case => [
    `digest-like tag ${v.slice(0, 20)}`,
    { tags: v },
    /looks like a digest: images are pushed as IMAGE_NAME:VERSION/
  ]),
  ...[
    '.hidden',
    '-rc',
    'a+b',
    'v1 2',
    'ü',
    'a!',
    'a$b',
    'a*',
    "a'b",
    'a"b',
    'a;b',
    'a|b',
    'a&b',
    'tag(1)',
    'a=b',
    'a%20'
  ].map((v): Case => [
    `invalid tag ${JSON.stringify(v)}`,
    { tags: `ok,${v}` },
    /tag '.*' is not valid: /
  ]),
  ...['ghcr.io/o/i:1.0', 'name:1.0', 'o/i:latest', 'a/b'].map((v): Case => [
    `reference as tag ${v}`,
    { tags: v },
    /must be only the tag, not an image reference/
  ]),
  ['tag too long', { tags: long(129) }, /is not valid: it is 129 characters long \(at most 128\)/],
  ...['merge', 'add', 'REPLACE-ALL'].map((v): Case => [
    `tags-mode ${v}`,
    { 'tags-mode': v },
    /tags-mode '.*' is not one of replace, append/
  ]),
  // registries
  ...['https://ghcr.io', 'http://localhost:5000', 'oci://ghcr.io'].map((v): Case => [
    `registry with scheme ${v}`,
    { registry: v },
    /must be a host\[:port\] without a scheme: use '/
  ]),
  ...['ghcr.io/octo-org', 'ghcr.io/', 'docker.pkg.github.com/o/r'].map((v): Case => [
    `registry with path ${v}`,
    { registry: v },
    /must be only the host\[:port\]/
  ]),
  ...[
    'ghcr_io',
    'ghcr.io:99999',
    'ghcr.io:0',
    'ghcr.io:',
    '-ghcr.io',
    'ghcr-.io',
    'a..b',
    'host:port',
    'ghcr.io:80:80',
    'exa mple.com',
    '[::1',
    '.ghcr.io',
    'ghcr.io.',
    '[:]:5000',
    '[::g]:5000',
    `${'a'.repeat(64)}.example.com`,
    `${'a'.repeat(60)}.`.repeat(5) + 'com'
  ].map((v): Case => [
    `malformed registry ${JSON.stringify(v)}`,
    { registry: v },
    /registry '.*' is not a valid host\[:port\]/
  ]),
  ...['ghcr', 'containers', 'Docker2', 'auto-detect', 'oci', '1'].map((v): Case => [
    `registry-type ${JSON.stringify(v)}`,
    { 'registry-type': v },
    /registry-type '.*' is not one of auto, container, docker/
  ]),
  ...['docker.pkg.github.com', 'DOCKER.PKG.GITHUB.COM', 'docker.pkg.github.com:443'].map(
    (v): Case => [
      `closed registry ${v}`,
      { registry: v, 'image-name': 'app' },
      /docker\.pkg\.github\.com was closed on 2025-02-24 .*publish to ghcr\.io\/octo-org\/app instead/
    ]
  ),
  // media types
  ...['v2', 'schema2', 'OCI1'].map((v): Case => [
    `media-types ${v}`,
    { 'media-types': v },
    /media-types '.*' is not one of oci, docker/
  ]),
  [
    'platforms on the docker scheme',
    { 'registry-type': 'docker', platforms: 'linux/amd64,linux/arm64' },
    /platforms \(linux\/amd64,linux\/arm64\) cannot be used with .*never accepted image indexes/
  ],
  [
    'merge-digests on the docker scheme',
    { 'registry-type': 'docker', 'merge-digests': `sha256:${'c'.repeat(64)}` },
    /merge-digests cannot be used with .*never accepted image indexes/
  ],
  [
    'media-types oci on the docker scheme',
    { 'registry-type': 'docker', 'media-types': 'oci' },
    /media-types oci cannot be used with .*labelled as Docker v2/
  ],
  [
    'provenance with media-types docker',
    { 'media-types': 'docker', platforms: 'linux/amd64', provenance: 'true' },
    /provenance cannot be used with media-types docker: attestations are OCI manifests/
  ],
  // owners and repositories
  ...['octo/org', 'octo org', '-octo', 'octo-', 'oct@', 'o#', 'é'].map((v): Case => [
    `owner ${JSON.stringify(v)}`,
    { owner: v },
    /owner '.*' (must be a single user or organization name|is not a valid image path|\(input owner\) is not a GitHub user or organization name)/
  ]),
  ...['a/b', 'my repo', '.github', 'r-', 'r!'].map((v): Case => [
    `repository ${JSON.stringify(v)} (docker scheme)`,
    { repository: v, 'registry-type': 'docker', 'image-name': 'x' },
    /repository '.*' (must be a single repository name|is not a valid image path|\(input repository\) is not a GitHub repository name)/
  ]),
  // issue 14: odd inputs, refused up front, shown escaped on one line, credentials never shown
  [
    'buildx-download-url with user:password@',
    { 'buildx-download-url': 'https://bob:hunter2@example.com/releases' },
    /^::error::buildx-download-url 'https:\/\/\*\*\*@example\.com\/releases' holds credentials \(user:password@\): they are not used/
  ],
  [
    'registry with user:password@',
    { registry: 'bob:hunter2@ghcr.io' },
    /^::error::registry '\*\*\*@ghcr\.io' must be a host\[:port\] without credentials .*use 'ghcr\.io'/
  ],
  ['registry ex@mple.com', { registry: 'ex@mple.com' }, /without credentials .*use 'mple\.com'/],
  [
    'context URL with a token',
    { context: 'https://x-access-token:ghs_abc@github.com/o/r.git' },
    /^::error::context 'https:\/\/\*\*\*@github\.com\/o\/r\.git' holds credentials/
  ],
  [
    "context '-'",
    { context: '-' },
    /^::error::context '-' would make docker read the build context from standard input/
  ],
  ...['file:///x', 'foo://bar', 'oci://ghcr.io/x', 'ftp://example.com/ctx.tar'].map((v): Case => [
    `context ${v}`,
    { context: v },
    /^::error::context '.*' uses the scheme '.*', which docker cannot build from/
  ]),
  ...[',,,', ' , ', ',\n,'].map((v): Case => [
    `tags of separators only ${JSON.stringify(v)}`,
    { tags: v },
    /^::error::tags '.*' holds no tag, only separators/
  ]),
  [
    'owner with the Kelvin sign',
    { owner: '\u212aelvin' },
    /^::error::owner '\u212aelvin' \(input owner\) is not a GitHub user or organization name: it contains '\u212a' \(U\+212A\)/
  ],
  [
    'owner with a zero-width space',
    { owner: 'octo\u200borg' },
    /^::error::owner 'octo\\u200borg' .* it contains '\\u200b' \(U\+200B\)/
  ],
  [
    'owner with a newline (one annotation, not two)',
    { owner: 'octo\norg' },
    /^::error::owner 'octo\\norg' .*is not a GitHub user or organization name/
  ],
  [
    'repository with Cyrillic',
    { repository: 're\u0440o', 'registry-type': 'docker', 'image-name': 'x' },
    /^::error::repository 're\u0440o' \(input repository\) is not a GitHub repository name/
  ],
  ...['İmage', 'Ünïcode', 'app\u200b'].map((v): Case => [
    `non-ASCII image-name ${JSON.stringify(v)}`,
    { 'image-name': v },
    /^::error::image-name '.*' is not a valid image path: it contains .*\(U\+[0-9A-F]{4}\): only lowercase ASCII/
  ]),
  ...['octo\ncat', 'octo:cat', 'octo cat', 'octo\u200bcat'].map((v): Case => [
    `username ${JSON.stringify(v)}`,
    { username: v },
    /^::error::username '.*' contains .*, which no registry accepts in a user name/
  ]),
  ...['1A=x', 'A$B=1', 'K\u00c9Y=1', 'A\u200bB=1'].map((v): Case => [
    `build-arg name ${JSON.stringify(v)}`,
    { 'build-args': v },
    /^::error::build-args name '.*' is not a build argument name/
  ]),
  [
    'merge-digests @sha256 without a name',
    { 'merge-digests': `@sha256:${'a'.repeat(64)}` },
    /^::error::merge-digests entry '@sha256:a+' is not a digest: it has no image name before '@'/
  ],
  [
    'source-image @sha256 without a name',
    { 'source-image': `@sha256:${'a'.repeat(64)}` },
    /^::error::source-image '@sha256:a+' has no image name before '@'/
  ],
  // build-args and labels
  ...['=value', 'NOEQUALS', 'A B=1', ' =x', 'KEY WITH SPACE=1'].map((v): Case => [
    `build-arg ${JSON.stringify(v)}`,
    { 'build-args': `OK=1\n${v}` },
    /build-args entry '.*' is not KEY=VALUE/
  ]),
  ...['=v', 'NOPE', 'a b=c'].map((v): Case => [
    `label ${JSON.stringify(v)}`,
    { labels: v },
    /labels entry '.*' is not KEY=VALUE/
  ]),
  ...['a b', '-stage', 'st@ge'].map((v): Case => [
    `target ${JSON.stringify(v)}`,
    { target: v },
    /target '.*' is not a build stage name/
  ]),
  // booleans
  ...(['push', 'pull', 'no-cache'] as const).flatMap(name =>
    ['yes', 'no', '1', '0', 'on', 'off', 'treu', 'y'].map((v): Case => [
      `${name}: ${v}`,
      { [name]: v },
      new RegExp(`${name} '${v}' is not a boolean: use true or false\\.`)
    ])
  ),
  // multi-platform: platforms, attestations, push-by-digest, merge-digests
  ...['linux/x86_64', 'amd64', 'Linux/AMD64', 'linux amd64', 'linux/arm/v7/x'].map((v): Case => [
    `platforms ${JSON.stringify(v)}`,
    { platforms: v },
    /platforms entry '.*' is not a platform: .*os\/architecture\[\/variant\]/
  ]),
  [
    'platforms twice the same',
    { platforms: 'linux/arm64,linux/arm64/v8' },
    /platforms lists the same platform twice/
  ],
  [
    'platforms with buildx: false',
    { platforms: 'linux/amd64,linux/arm64', buildx: 'false' },
    /builds with docker buildx, but buildx is false: .*push-by-digest: true .*merge-digests/
  ],
  ...['yes', 'mode=full', 'max'].map((v): Case => [
    `provenance ${v}`,
    { platforms: 'linux/amd64', provenance: v },
    /provenance '.*' is not one of false, true, mode=min, mode=max/
  ]),
  ...(['provenance', 'sbom'] as const).map((name): Case => [
    `${name} with buildx: false`,
    { [name]: 'true', buildx: 'false' },
    new RegExp(
      `^::error::${name} is an attestation that BuildKit attaches .*buildx is false: set buildx to auto or true`
    )
  ]),
  ...(['sbom', 'push-by-digest'] as const).flatMap(name =>
    ['yes', '1', 'on'].map((v): Case => [
      `${name}: ${v}`,
      { [name]: v },
      new RegExp(`${name} '${v}' is not a boolean: use true or false\\.`)
    ])
  ),
  [
    'push-by-digest with push: false',
    { 'push-by-digest': 'true', push: 'false' },
    /push-by-digest pushes the image without a tag, but push is false/
  ],
  [
    'push-by-digest with tags',
    { 'push-by-digest': 'true', tags: 'latest' },
    /push-by-digest pushes no tag, so tags \('latest'\) would have no effect/
  ],
  ...[
    'latest',
    'a'.repeat(64),
    'sha256:abc',
    `sha256:${'A'.repeat(64)}`,
    `sha256:${'a'.repeat(64)} sha384:x`
  ].map((v): Case => [
    `merge-digests ${JSON.stringify(v.slice(0, 20))}`,
    { 'merge-digests': v },
    /merge-digests entry '.*' is not a digest: /
  ]),
  [
    'merge-digests twice the same',
    { 'merge-digests': `sha256:${'b'.repeat(64)}\nsha256:${'b'.repeat(64)}` },
    /merge-digests lists sha256:b{64} twice/
  ],
  [
    'merge-digests of another image',
    { 'merge-digests': `ghcr.io/other/app@sha256:${'b'.repeat(64)}`, 'image-name': 'app' },
    /is an image of 'ghcr.io\/other\/app', but the index is pushed to .*\/octo-org\/app/
  ],
  ...(
    [
      { context: '.' },
      { platforms: 'linux/amd64' },
      { 'source-image': 'app:1' },
      { 'push-by-digest': 'true' },
      { 'build-args': 'A=1', target: 'prod' }
    ] as Record<string, string>[]
  ).map((extra): Case => [
    `merge-digests with ${Object.keys(extra).join(', ')}`,
    { 'merge-digests': `sha256:${'c'.repeat(64)}`, ...extra },
    /merge-digests merges images that are already pushed, so nothing is built and .* no effect: remove/
  ]),
  [
    'merge-digests with push: false',
    { 'merge-digests': `sha256:${'c'.repeat(64)}`, push: 'false' },
    /merge-digests pushes an index under the tags, but push is false/
  ],
  // credentials and files
  [
    'missing token',
    { token: '' },
    /token is empty, so the image cannot be pushed: pass `token: \$\{\{ secrets.GITHUB_TOKEN \}\}`/
  ],
  ['missing username', { username: '' }, /username is empty and GITHUB_ACTOR is not set/],
  ['missing context', { context: 'no-such-dir' }, /context 'no-such-dir' is not a directory/],
  [
    'missing Dockerfile',
    { file: 'nope/Dockerfile' },
    /Dockerfile not found at '.*nope\/Dockerfile'/
  ]
]

/** A registry address for one case: a listener that only counts who connects. */
async function recordingRegistry(): Promise<{
  address: string
  connections: () => number
  close: () => Promise<void>
}> {
  let connections = 0
  const server: Server = createServer(socket => {
    connections++
    socket.destroy()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    connections: () => connections,
    close: () => new Promise(resolve => server.close(() => resolve()))
  }
}

describe('bad input fails before any daemon or network call', () => {
  it(`has a corpus of at least 100 cases (${cases.length})`, () => {
    expect(cases.length).toBeGreaterThanOrEqual(100)
  })

  it('every case: exit 1, one ::error:: line with the expected message, no stack, no docker, no connection', async () => {
    const failures: string[] = []
    const queue = [...cases]
    const worker = async (): Promise<void> => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const [what, inputs, message] = c
        const runner = new Runner()
        runner.write('Dockerfile', 'FROM scratch\n')
        const marker = fakeDocker(runner, calls => `echo "$@" >> '${calls}'\nexit 1\n`)
        const listener = await recordingRegistry()
        if (inputs.username === '') delete runner.env.GITHUB_ACTOR
        const { code, out } = await runner.mainAsync({
          registry: listener.address,
          token: 'not-a-real-token',
          username: 'octocat',
          ...inputs
        })
        await listener.close()
        const errors = out.split('\n').filter(l => l.startsWith('::error::'))
        const problems = [
          code !== 1 && `exit code ${code}`,
          errors.length !== 1 && `${errors.length} error lines`,
          errors[0] &&
            !message.test(errors[0]) &&
            `message ${JSON.stringify(errors[0])} does not match ${message}`,
          errors[0]?.includes('%0A') && 'message spans several lines',
          /\n\s+at .+:\d+:\d+/.test(out) && 'stack trace in the output',
          existsSync(marker) && `docker was called: ${readFileSync(marker, 'utf8').trim()}`,
          listener.connections() !== 0 && 'the registry was contacted',
          /hunter2|ghs_abc/.test(out.replace(/^::add-mask::.*$/gm, '')) &&
            'a credential of the inputs is in the output'
        ].filter(Boolean)
        if (problems.length) failures.push(`${what}: ${problems.join('; ')}`)
      }
    }
    await Promise.all([worker(), worker(), worker()])
    expect(failures).toEqual([])
  }, 900_000) // 100+ runs of the action: generous for a loaded machine
})
