/**
 * The registry client against the real CNCF distribution registry, in both auth modes: htpasswd
 * (Basic) and token (Bearer, behind the ghcr.io-like token server).
 */
import { describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { MEDIA_TYPES } from '../../src/oci/media-types.js'
import { RegistryClient } from '../../src/registry/client.js'
import { RegistryError } from '../../src/registry/errors.js'
import { sha256 } from '../../src/oci/digest.js'
import { type E2EEnv, ociManifest, skopeoInspect } from './harness.js'

const need = (name: string): string => {
  const v = process.env[name]
  if (!v) throw new Error(`${name} is not set: run the e2e tests through 'npm test'`)
  return v
}
const registries = [
  {
    mode: 'htpasswd',
    registry: need('E2E_REGISTRY'),
    user: need('E2E_REGISTRY_USER'),
    password: need('E2E_REGISTRY_PASSWORD')
  },
  {
    mode: 'token',
    registry: need('E2E_TOKEN_REGISTRY'),
    user: need('E2E_TOKEN_WRITE_USER'),
    password: need('E2E_TOKEN_WRITE_TOKEN')
  }
]

/** A one-layer image made through the API: config, layer, manifest. */
function makeImage() {
  const layer = randomBytes(3000)
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [sha256(layer)] },
      config: {}
    })
  )
  const manifest = ociManifest(config, layer, 'application/vnd.oci.image.layer.v1.tar')
  return { layer, config, manifest }
}

describe.each(registries)('registry client against the $mode registry', r => {
  const repo = `client-test/${r.mode}-${randomBytes(4).toString('hex')}`
  const client = () =>
    new RegistryClient({ registry: r.registry, username: r.user, password: r.password })

  it('uploads blobs, PUTs a manifest, reads it back by tag and digest', async () => {
    const c = client()
    const img = makeImage()
    expect(await c.uploadBlob(repo, img.layer)).toBe('uploaded')
    expect(await c.uploadBlob(repo, img.config)).toBe('uploaded')
    expect(await c.uploadBlob(repo, img.config)).toBe('exists')
    expect(await c.headBlob(repo, sha256(img.layer))).toBe(img.layer.length)
    expect((await c.getBlob(repo, sha256(img.config))).equals(img.config)).toBe(true)

    const digest = sha256(img.manifest)
    expect(await c.putManifest(repo, 'v1', img.manifest, MEDIA_TYPES.ociManifest)).toBe(digest)
    const byTag = await c.getManifest(repo, 'v1')
    expect(byTag).toMatchObject({ digest, mediaType: MEDIA_TYPES.ociManifest })
    expect(byTag.bytes.equals(img.manifest)).toBe(true)
    expect(await c.headManifest(repo, digest)).toEqual({
      digest,
      mediaType: MEDIA_TYPES.ociManifest,
      size: img.manifest.length
    })
    expect(await c.headManifest(repo, 'nope')).toBeUndefined()
    // A real client agrees.
    const env = { user: r.user, password: r.password } as E2EEnv
    expect(JSON.parse(skopeoInspect(env, `${r.registry}/${repo}:v1`)).Digest).toBe(digest)
  })

  it('mounts a blob from another repository instead of uploading it', async () => {
    const c = client()
    const img = makeImage()
    expect(await c.uploadBlob(repo, img.layer)).toBe('uploaded')
    const other = `${repo}-mounted`
    expect(await c.uploadBlob(other, img.layer, { mountFrom: repo })).toBe('mounted')
    expect(await c.headBlob(other, sha256(img.layer))).toBe(img.layer.length)
  })

  it('reports an unknown manifest with the registry’s code', async () => {
    const err = await client()
      .getManifest(repo, 'missing')
      .catch(e => e)
    expect(err).toBeInstanceOf(RegistryError)
    expect(err).toMatchObject({ status: 404 })
    expect(['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']).toContain(err.code)
  })

  it('reports bad credentials as UNAUTHORIZED', async () => {
    const err = await new RegistryClient({
      registry: r.registry,
      username: r.user,
      password: 'wrong'
    })
      .getManifest(repo, 'v1')
      .catch(e => e)
    expect(err).toMatchObject({ status: 401, code: 'UNAUTHORIZED' })
    if (r.mode === 'token') {
      expect(err.message).toContain(
        'unauthenticated: User cannot be authenticated with the token provided.'
      )
    }
  })

  it('sends credentials up front once it knows the scheme (no 401 round trip per request)', async () => {
    const c = client()
    await c.authorize([`repository:${repo}:pull,push`])
    const before = c.requests
    await c.headManifest(repo, 'v1')
    await c.headBlob(repo, sha256(Buffer.from('x')))
    expect(c.requests - before).toBe(2)
  })
})

describe('token registry permissions (ghcr.io-like)', () => {
  it('a read:packages token may pull but not push: denied: permission_denied: write_package', async () => {
    const registry = need('E2E_TOKEN_REGISTRY')
    const writer = new RegistryClient({
      registry,
      username: need('E2E_TOKEN_WRITE_USER'),
      password: need('E2E_TOKEN_WRITE_TOKEN')
    })
    const reader = new RegistryClient({
      registry,
      username: need('E2E_TOKEN_READ_USER'),
      password: need('E2E_TOKEN_READ_TOKEN')
    })
    const repo = `client-test/perm-${randomBytes(4).toString('hex')}`
    const img = makeImage()
    await writer.uploadBlob(repo, img.layer)
    await writer.uploadBlob(repo, img.config)
    const digest = await writer.putManifest(repo, 'v1', img.manifest, MEDIA_TYPES.ociManifest)
    expect((await reader.getManifest(repo, 'v1')).digest).toBe(digest)
    const err = await reader
      .putManifest(repo, 'v2', img.manifest, MEDIA_TYPES.ociManifest)
      .catch(e => e)
    expect(err).toMatchObject({
      status: 403,
      code: 'DENIED',
      detail: 'permission_denied: write_package'
    })
    expect(err.message).toContain('denied: permission_denied: write_package')
  })
})
