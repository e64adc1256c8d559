/**
 * End to end, TLS like the daemon: a second CNCF registry (Debian's docker-registry) serving TLS on
 * loopback, with a certificate from a CA made here with openssl that is trusted ONLY through a
 * certs.d folder (PUBLISH_CONTAINER_CERTS_D points the action at it instead of the machine-wide
 * /etc/docker/certs.d). Before, the client spoke plain HTTP to every loopback registry and this
 * push failed with 400 Bad Request. The registry is started by this test on 127.0.0.1 and
 * stopped by its pid.
 *
 * The daemon side (docker login, docker pull) needs no CA: the classic dockerd counts 127.0.0.0/8
 * as insecure and accepts the certificate unverified.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { createServer } from 'node:net'
import * as path from 'node:path'
import {
  builtConfig,
  clientDocker,
  configDigest,
  e2eEnv,
  localBuild,
  nonce,
  Runner,
  sh
} from './harness.js'
import { makeCertificates, type TestCertificates } from '../support/tls-certs.js'
import { tempDir } from '../support/temp-dirs.js'

e2eEnv()
const USER = 'tls-user'
const PASSWORD = randomBytes(12).toString('hex')

let dir = ''
let certs: TestCertificates
let registry = ''
let certsD = ''
let child: ChildProcess | undefined

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

/** GET /v2/ over TLS with the test CA: the status, or 0 while the registry is not up. */
function probe(port: number): Promise<number> {
  return new Promise(resolve => {
    const req = request(
      { host: '127.0.0.1', port, path: '/v2/', ca: certs.ca, timeout: 2000, agent: false },
      res => {
        res.resume()
        resolve(res.statusCode ?? 0)
      }
    )
    req.on('error', () => resolve(0))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}

beforeAll(async () => {
  dir = tempDir('e2e-tls-registry-')
  certs = makeCertificates(path.join(dir, 'pki'))
  const port = await freePort()
  registry = `127.0.0.1:${port}`
  certsD = path.join(dir, 'certs.d')
  mkdirSync(path.join(certsD, registry), { recursive: true })
  writeFileSync(path.join(certsD, registry, 'ca.crt'), certs.ca)
  const htpasswd = spawnSync('htpasswd', ['-Bbn', USER, PASSWORD], { encoding: 'utf8' })
  expect(htpasswd.status).toBe(0)
  writeFileSync(path.join(dir, 'htpasswd'), htpasswd.stdout)
  writeFileSync(
    path.join(dir, 'registry.yml'),
    [
      'version: 0.1',
      'log:',
      '  level: warn',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir, 'data')}`,
      'http:',
      `  addr: ${registry}`,
      `  secret: ${nonce()}`,
      '  tls:',
      `    certificate: ${certs.serverCert}`,
      `    key: ${certs.serverKey}`,
      'auth:',
      '  htpasswd:',
      '    realm: tls-registry',
      `    path: ${path.join(dir, 'htpasswd')}`,
      ''
    ].join('\n')
  )
  child = spawn('docker-registry', ['serve', path.join(dir, 'registry.yml')], {
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let log = ''
  child.stderr!.on('data', d => (log += d))
  for (let i = 0; i < 100 && (await probe(port)) !== 401; i++) {
    await new Promise(r => setTimeout(r, 100))
  }
  if ((await probe(port)) !== 401) throw new Error(`the TLS registry did not start: ${log}`)
}, 60_000)

afterAll(async () => {
  if (child?.pid && child.exitCode === null) {
    const exited = new Promise(r => child!.once('exit', r))
    process.kill(child.pid, 'SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const late = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>(r => (timer = setTimeout(() => r(true), 10_000)))
    ])
    clearTimeout(timer)
    if (late && child.exitCode === null) process.kill(child.pid, 'SIGKILL')
  }
  child?.stderr?.destroy()
  rmSync(dir, { recursive: true, force: true })
})

describe('a TLS registry on loopback whose CA is only in certs.d', () => {
  const inputs = (imageName: string): Record<string, string> => ({
    registry,
    token: PASSWORD,
    username: USER,
    'image-name': imageName,
    tags: '1.0'
  })
  const project = (runner: Runner): void => {
    runner.write('Dockerfile', 'FROM scratch\nCOPY hello.txt /hello.txt\n')
    runner.write('hello.txt', `tls ${nonce()}\n`)
  }

  it('is pushed to over HTTPS, its certificate verified with the certs.d CA; docker pulls it', () => {
    const imageName = `tls/app-${nonce()}`
    const runner = new Runner()
    project(runner)
    runner.env.PUBLISH_CONTAINER_CERTS_D = certsD
    const step = runner.main(inputs(imageName))
    expect(step.stdout).not.toMatch(/::error::/)
    expect(step.exitCode).toBe(0)
    expect(step.stdout).not.toMatch(/does not verify/)
    const digest = step.outputs.digest
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/)
    // skopeo, verifying TLS with the same CA, reads the manifest the action pushed.
    const image = `${registry}/octo-org/${imageName}`
    const raw = sh('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=true',
      '--cert-dir',
      path.join(certsD, registry),
      '--creds',
      `${USER}:${PASSWORD}`,
      `docker://${image}:1.0`
    ])
    const config = builtConfig(step.outputs.imageid)
    expect(JSON.parse(raw).config.digest).toBe(config)
    const client = clientDocker({ registry, user: USER, password: PASSWORD })
    client(['image', 'rm', '--force', ...localBuild(step.outputs.imageid, [`${image}:1.0`])])
    client(['pull', `${image}@${digest}`])
    expect(configDigest(`${image}@${digest}`)).toBe(config)
    expect(runner.post().exitCode).toBe(0)
  }, 120_000)

  it('without the CA in certs.d: accepted unverified as docker does for loopback, and the log says where the CA goes', () => {
    const runner = new Runner()
    project(runner)
    const empty = path.join(dir, 'empty-certs.d')
    mkdirSync(empty, { recursive: true })
    runner.env.PUBLISH_CONTAINER_CERTS_D = empty
    const step = runner.main(inputs(`tls/unverified-${nonce()}`))
    expect(step.exitCode).toBe(0)
    expect(step.stdout).toContain(`${registry} speaks TLS with a certificate that does not verify`)
    expect(step.stdout).toContain(
      `put the CA that signed it in ${path.join(empty, registry, 'ca.crt')}`
    )
    expect(runner.post().exitCode).toBe(0)
  }, 120_000)
})
