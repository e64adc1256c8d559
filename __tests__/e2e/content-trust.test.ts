/**
 * End to end: a layer is reused only under proof (docs/facts/content-trust.md). A crafted `latest`
 * in the repository — its config claims the new image's base-layer diff_id over a manifest that
 * points at another blob — must not make the action publish that other blob: every layer of what
 * it publishes, fetched by an independent client (skopeo) and decompressed, hashes to the diff_id
 * its config names.
 */
import { describe, expect, it } from '@jest/globals'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { e2eClient, inputsFor, nonce, Runner, sh } from './harness.js'
import { tempDir } from '../support/temp-dirs.js'

const { env, client } = e2eClient()
const sha256 = (b: Buffer): string => 'sha256:' + createHash('sha256').update(b).digest('hex')
const auth = 'Basic ' + Buffer.from(`${env.user}:${env.password}`).toString('base64')

/** A blob PUT straight to the registry (POST an upload, PUT its bytes), as an attacker would. */
async function putBlob(repository: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes)
  const start = await fetch(`http://${env.registry}/v2/${repository}/blobs/uploads/`, {
    method: 'POST',
    headers: { Authorization: auth }
  })
  expect(start.status).toBe(202)
  const location = new URL(start.headers.get('location')!, `http://${env.registry}`)
  location.searchParams.set('digest', digest)
  const put = await fetch(location, {
    method: 'PUT',
    headers: { Authorization: auth, 'Content-Type': 'application/octet-stream' },
    body: bytes
  })
  expect(put.status).toBe(201)
  return digest
}

/** A tar of one file (512-byte header, content, padding, two zero blocks). */
function tarOf(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512)
  header.write(name, 0)
  header.write('0000644\0', 100)
  header.write('0000000\0', 108)
  header.write('0000000\0', 116)
  header.write(content.length.toString(8).padStart(11, '0') + '\0', 124)
  header.write('00000000000\0', 136)
  header.write('        ', 148)
  header.write('0', 156)
  header.write('ustar\0' + '00', 257)
  let sum = 0
  for (const b of header) sum += b
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148)
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512)
  return Buffer.concat([header, content, pad, Buffer.alloc(1024)])
}

/**
 * Every layer of `reference`, copied by skopeo to a dir: and gunzipped here, against the diff_ids
 * of its config: the pairs that differ (none when the image is sound).
 */
function unsoundLayers(reference: string): string[] {
  const dir = tempDir('e2e-skopeo-dir-')
  sh('skopeo', [
    'copy',
    '--src-tls-verify=false',
    '--src-creds',
    `${env.user}:${env.password}`,
    `docker://${reference}`,
    `dir:${dir}`
  ])
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as {
    config: { digest: string }
    layers: { digest: string }[]
  }
  const file = (digest: string): string => path.join(dir, digest.replace(/^sha256:/, ''))
  const config = JSON.parse(readFileSync(file(manifest.config.digest), 'utf8')) as {
    rootfs: { diff_ids: string[] }
  }
  expect(manifest.layers).toHaveLength(config.rootfs.diff_ids.length)
  return manifest.layers.flatMap((layer, i) => {
    // sha256sum of the gunzipped blob, by the system's tools (not this repository's code).
    const got =
      'sha256:' + sh('sh', ['-c', `gzip -dc < '${file(layer.digest)}' | sha256sum`]).split(' ')[0]
    const want = config.rootfs.diff_ids[i]
    return got === want ? [] : [`layer ${i + 1}: ${layer.digest} unpacks to ${got}, not ${want}`]
  })
}

describe('a crafted previous version cannot lend the new image a layer', () => {
  it('a mapping the blob does not prove is dropped with a warning naming its tag; the layer is uploaded', async () => {
    // The new image: a base layer and an app layer, built outside the action.
    const dir = tempDir('e2e-content-trust-')
    writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY base.bin /base.bin\n')
    writeFileSync(path.join(dir, 'base.bin'), randomBytes(2 * 1024 * 1024))
    const base = `trust-base-${nonce()}:1`
    client(['build', '--quiet', '--tag', base, dir])
    const app = path.join(dir, 'app')
    mkdirSync(app)
    writeFileSync(path.join(app, 'Dockerfile'), `FROM ${base}\nCOPY app.txt /app.txt\n`)
    writeFileSync(path.join(app, 'app.txt'), `the app ${nonce()}\n`)
    const source = `trust-app-${nonce()}:1`
    client(['build', '--quiet', '--tag', source, app])
    const diffIds = JSON.parse(
      client(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', source])
    ) as string[]
    expect(diffIds).toHaveLength(2)

    // The attacker's `latest`: a config claiming the base layer's diff_id, over another blob.
    const imageName = `trust-${nonce()}`
    const repository = `octo-org/${imageName}`
    const decoy = gzipSync(tarOf('decoy.txt', Buffer.from(`not the base layer ${nonce()}\n`)))
    const decoyDigest = await putBlob(repository, decoy)
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [diffIds[0]] }
      })
    )
    const configDigest = await putBlob(repository, config)
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: configDigest,
        size: config.length
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: decoyDigest,
          size: decoy.length
        }
      ]
    })
    const put = await fetch(`http://${env.registry}/v2/${repository}/manifests/latest`, {
      method: 'PUT',
      headers: {
        Authorization: auth,
        'Content-Type': 'application/vnd.oci.image.manifest.v1+json'
      },
      body: manifest
    })
    expect(put.status).toBe(201)
    expect(sha256(gunzipSync(decoy))).not.toBe(diffIds[0])

    const runner = new Runner()
    const main = await runner.mainAsync({
      ...inputsFor(env, imageName),
      tags: '1.0.0',
      'source-image': source
    })
    expect(main.code).toBe(0)
    expect(unsoundLayers(`${env.registry}/${repository}:1.0.0`)).toEqual([])
    expect(main.out).toMatch(
      new RegExp(`::warning::.*${repository}:latest.*${decoyDigest}.*not reused`)
    )
    expect(runner.post().exitCode).toBe(0)
  }, 300_000)
})
