/**
 * What only buildx does in the build step, through dist/index.js, on either engine of
 * scripts/e2e-env.sh:
 *   - modern (E2E_ENGINE=modern: Docker 28.5, buildx), containerd image store (BuildKit pushes
 *     the build, produce/way.ts): a cache exported
 *     with cache-to type=local is read back by a second build (its steps CACHED after the
 *     engine's build cache was pruned), and build-contexts gives the build a second folder;
 *   - modern, classic image store (ubuntu-24.04's): buildx's default builder refuses to export
 *     that cache and to make attestations; the step fails saying what to do;
 *   - classic (Docker 20.10, no buildx): the same inputs fail before anything is built, saying
 *     that they need buildx.
 * The gha cache service cannot be reached here: its argv and environment are unit-tested
 * (__tests__/unit/plan/build-options.test.ts).
 */
import { describe, expect, it } from '@jest/globals'
import { createHash } from 'node:crypto'
import { existsSync, rmSync } from 'node:fs'
import * as path from 'node:path'
import { e2eClient, freshLayerProject, inputsFor, nonce, Runner, skopeoInspect } from './harness.js'
import { tempDir } from '../support/temp-dirs.js'

const { env, client } = e2eClient()
const modern = process.env.E2E_ENGINE === 'modern'
// buildx's docker driver exports a cache (type=local) and builds for platforms only on the
// containerd image store; on the classic store buildx itself refuses both.
const containerdStore = process.env.E2E_IMAGE_STORE === 'containerd'
const onContainerdStore = containerdStore ? it : it.skip
const onClassicStore = containerdStore ? it.skip : it

/**
 * A runner whose docker finds the engine's buildx (modern: the harness links the engine's plugins
 * into the runner's ~/.docker/cli-plugins) or none (classic).
 */
function runner(): Runner {
  const r = new Runner()
  const linked = existsSync(path.join(r.dockerConfig, 'cli-plugins', 'docker-buildx'))
  if (modern && !linked)
    throw new Error('the harness linked no buildx plugin for the modern engine')
  return r
}

function project(r: Runner, content: string): void {
  r.write(
    'Dockerfile',
    `FROM ${env.baseImage}\nCOPY data.txt /data.txt\nCOPY --from=shared s.txt /s.txt\n` +
      'RUN sha256sum /data.txt /s.txt > /sum && sleep 1\n'
  )
  r.write('data.txt', content)
  r.write('shared/s.txt', `shared ${content}`)
}

const inputs = (tag: string): Record<string, string> => ({
  ...inputsFor(env, 'build-step/buildx'),
  tags: tag,
  'build-contexts': 'shared=./shared'
})

describe(`buildx-only inputs on the ${modern ? 'modern' : 'classic'} engine`, () => {
  if (modern) {
    onContainerdStore(
      'cache-to type=local is read back by cache-from type=local; build-contexts reach the build',
      () => {
        const cache = tempDir('e2e-buildx-cache-')
        try {
          const content = nonce()
          const first = runner()
          project(first, content)
          const tag = `b${nonce()}`
          const built = first.main({
            ...inputs(tag),
            'cache-to': `type=local,dest=${cache},mode=max`
          })
          expect(built.exitCode).toBe(0)
          // BuildKit pushes the build itself (no --load, no docker save).
          expect(built.stdout).toContain('(docker buildx build, pushed by BuildKit)')
          expect(built.stdout + built.stderr).toMatch(/exporting cache to client directory/)
          expect(first.post().exitCode).toBe(0)
          const image = `${env.registry}/octo-org/build-step/buildx:${tag}`
          expect(client(['run', '--rm', image, 'cat', '/s.txt'])).toBe(`shared ${content}`)
          // The engine forgets its build cache: only the exported one is left.
          client(['builder', 'prune', '--all', '--force'])

          const second = runner()
          project(second, content)
          const again = second.main({
            ...inputs(`${tag}-2`),
            'cache-from': `type=local,src=${cache}`
          })
          expect(again.exitCode).toBe(0)
          const log = again.stdout + again.stderr
          expect(log).toMatch(/importing cache manifest from local/)
          expect(log).toMatch(/#(\d+) \[stage-0 4\/4\] RUN sha256sum[\s\S]*?#\1 CACHED/)
          expect(second.post().exitCode).toBe(0)
        } finally {
          rmSync(cache, { recursive: true, force: true })
        }
      }
    )

    it('secrets and build-args reach a buildx build; the secret is not in the history or config', () => {
      const r = runner()
      const secret = `s3cret-${nonce()}`
      const arg = `arg-${nonce()}`
      r.write(
        'Dockerfile',
        `FROM ${env.baseImage}\nARG MY_ARG\n` +
          'RUN --mount=type=secret,id=tok sh -c "sha256sum /run/secrets/tok > /sum; echo $MY_ARG > /arg"\n'
      )
      const tag = `s${nonce()}`
      const main = r.main({
        ...inputsFor(env, 'build-step/buildx-secret'),
        tags: tag,
        secrets: `tok=${secret}`,
        'build-args': `MY_ARG=${arg}`
      })
      expect(main.exitCode).toBe(0)
      expect(main.stdout).toMatch(
        containerdStore
          ? /\[command\]docker buildx build .*push=true.*--build-arg MY_ARG --secret id=tok,env=PUBLISH_CONTAINER_SECRET_0/
          : /\[command\]docker buildx build --load .*--build-arg MY_ARG --secret id=tok,env=PUBLISH_CONTAINER_SECRET_0/
      )
      // On the containerd store BuildKit pushes: no --load (classic store + OCI: the own path loads).
      if (containerdStore)
        expect(main.stdout).not.toMatch(/\[command\]docker buildx build .*--load/)
      expect(main.stdout).not.toMatch(new RegExp(`\\[command\\].*(${secret}|${arg})`))
      const image = `${env.registry}/octo-org/build-step/buildx-secret:${tag}`
      const sha = createHash('sha256').update(secret).digest('hex')
      expect(client(['run', '--rm', image, 'cat', '/sum'])).toContain(sha)
      expect(client(['run', '--rm', image, 'cat', '/arg'])).toBe(`${arg}\n`)
      expect(client(['history', '--no-trunc', image])).not.toContain(secret)
      expect(client(['image', 'inspect', image])).not.toContain(secret)
      expect(r.post().exitCode).toBe(0)
    })

    onContainerdStore(
      'annotations go on the manifest and the index buildx pushes for platforms',
      () => {
        const r = runner()
        freshLayerProject(r)
        const tag = `p${nonce()}`
        const main = r.main({
          ...inputsFor(env, 'build-step/buildx-annotated'),
          tags: tag,
          platforms: 'linux/amd64',
          provenance: 'mode=min',
          annotations: 'org.example.both=1\nindex:org.example.index-only=2'
        })
        expect(main.exitCode).toBe(0)
        const ref = `${env.registry}/octo-org/build-step/buildx-annotated:${tag}`
        const index = JSON.parse(skopeoInspect(env, ref, true))
        expect(index.annotations).toMatchObject({
          'org.example.both': '1',
          'org.example.index-only': '2'
        })
        const amd64 = index.manifests.find(
          (m: { platform?: { architecture?: string } }) => m.platform?.architecture === 'amd64'
        )
        const manifest = JSON.parse(
          skopeoInspect(
            env,
            `${env.registry}/octo-org/build-step/buildx-annotated@${amd64.digest}`,
            true
          )
        )
        expect(manifest.annotations).toMatchObject({ 'org.example.both': '1' })
        expect(manifest.annotations).not.toHaveProperty('org.example.index-only')
        expect(r.post().exitCode).toBe(0)
      }
    )
    // What users of ubuntu-24.04 (Docker 28, classic store) meet with buildx's default builder.
    onClassicStore(
      'on the classic store: cache-to type=local and provenance fail with buildx’s reason and what to do',
      () => {
        const cached = runner()
        project(cached, nonce())
        // Never written: buildx refuses before it exports anything.
        const cache = path.join(cached.temp, 'cache')
        const refused = cached.main({
          ...inputs(`c${nonce()}`),
          'cache-to': `type=local,dest=${cache}`
        })
        expect(refused.exitCode).toBe(1)
        const errors = refused.stdout.split('\n').filter(l => l.startsWith('::error::'))
        expect(errors).toEqual([
          expect.stringMatching(
            /^::error::docker buildx build failed \(exit code 1\): .*exports no cache but type=inline: add a docker\/setup-buildx-action step/
          )
        ])
        expect(cached.post().exitCode).toBe(0)

        const r = runner()
        freshLayerProject(r)
        const main = r.main({
          ...inputsFor(env, 'build-step/buildx-attested'),
          tags: `a${nonce()}`,
          platforms: 'linux/amd64',
          provenance: 'mode=min'
        })
        expect(main.exitCode).toBe(1)
        expect(main.stdout).toMatch(
          /::error::docker buildx build failed \(exit code 1\): .*provenance and sbom need a builder that makes attestations/
        )
        expect(r.post().exitCode).toBe(0)
      }
    )
  } else {
    it.each([
      ['build-contexts', {}],
      ['cache-from type=local', { 'build-contexts': '', 'cache-from': 'type=local,src=/tmp' }]
    ])('%s fails before anything is built, saying it needs buildx', (what, extra) => {
      const r = runner()
      project(r, nonce())
      const main = r.main({ ...inputs(`b${nonce()}`), ...extra })
      expect(main.exitCode).toBe(1)
      expect(main.stdout).toContain(
        `::error::${what} needs the docker buildx plugin, which this runner does not have: set buildx: true`
      )
      expect(main.stdout).not.toMatch(/\[command\]docker (buildx )?build/)
      expect(r.post().exitCode).toBe(0)
    })
  }
})
