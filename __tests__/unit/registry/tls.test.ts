/**
 * TLS like the docker daemon (registry/tls.ts): which CAs are trusted, which registries are
 * insecure, what a handshake shows, and the client over HTTPS with a CA found only in certs.d.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import * as path from 'node:path'
import * as tls from 'node:tls'
import { RegistryClient } from '../../../src/registry/client.js'
import {
  chooseTransport,
  isInsecureRegistry,
  isLoopback,
  registryTls,
  tlsHandshake,
  type Handshake,
  type TlsSources
} from '../../../src/registry/tls.js'
import { makeCertificates, type TestCertificates } from '../../support/tls-certs.js'
import { tempDir } from '../../support/temp-dirs.js'

const tmp = tempDir('tls-test-')
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
let certs: TestCertificates
let httpsServer: Server
let httpServer: Server
let tlsRegistry = ''
let plainRegistry = ''
const requests: string[] = []

const listen = (server: Server): Promise<string> =>
  new Promise(resolve =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`127.0.0.1:${(server.address() as AddressInfo).port}`)
    )
  )

beforeAll(async () => {
  certs = makeCertificates(path.join(tmp, 'pki'))
  const handler = (
    req: { method?: string; url?: string },
    res: import('node:http').ServerResponse
  ) => {
    requests.push(`${req.method} ${req.url}`)
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Docker-Distribution-API-Version': 'registry/2.0'
    })
    res.end('{}')
  }
  httpsServer = createHttpsServer({ cert: certs.cert, key: certs.key }, handler)
  httpServer = createHttpServer(handler)
  tlsRegistry = await listen(httpsServer)
  plainRegistry = await listen(httpServer)
}, 60_000)
afterAll(async () => {
  await new Promise(r => httpsServer.close(r))
  await new Promise(r => httpServer.close(r))
})

/** A certs.d root holding the test CA for `registry` only. */
function certsD(registry: string): string {
  const root = mkdtempSync(path.join(tmp, 'certs.d-'))
  mkdirSync(path.join(root, registry))
  writeFileSync(path.join(root, registry, 'ca.crt'), certs.ca)
  return root
}
const emptyCertsD = (): string => mkdtempSync(path.join(tmp, 'empty-certs.d-'))

describe('what is trusted', () => {
  it('Node’s roots, the OS store, NODE_EXTRA_CA_CERTS and certs.d/HOST:PORT/*.crt, with a client certificate', () => {
    const root = certsD('registry.example:5000')
    writeFileSync(path.join(root, 'registry.example:5000', 'client.cert'), 'CERT')
    writeFileSync(path.join(root, 'registry.example:5000', 'client.key'), 'KEY')
    writeFileSync(path.join(root, 'registry.example:5000', 'notes.txt'), 'ignored')
    const extra = path.join(tmp, 'extra.pem')
    // NODE_EXTRA_CA_CERTS: a bundle of another CA and one Node already has (not repeated).
    const extraPem = makeCertificates(path.join(tmp, 'extra-pki')).ca
    writeFileSync(extra, extraPem + '\n' + tls.rootCertificates[0] + '\n')
    const t = registryTls('Registry.Example:5000', { certsDir: root, extraCaFile: extra })
    // Each certificate once: Node's roots first, then what the OS and the files add.
    expect(t.ca.slice(0, tls.rootCertificates.length)).toEqual(
      tls.rootCertificates.map(c => c.trim())
    )
    expect(new Set(t.ca.map(c => c.replace(/\s+/g, ''))).size).toBe(t.ca.length)
    expect(t.ca).toContain(extraPem.trim())
    expect(t.ca[t.ca.length - 1]).toBe(certs.ca.trim())
    expect(t).toMatchObject({ cert: 'CERT', key: 'KEY' })
    expect(t.files.map(f => path.basename(f))).toEqual(['ca.crt', 'client.cert', 'client.key'])
    expect(t.ca.filter(c => c === tls.rootCertificates[0].trim())).toHaveLength(1)
    // Another port is another folder; nothing there.
    expect(registryTls('registry.example:5001', { certsDir: root }).files).toEqual([])
  })

  it('the OS store too (Node 24: tls.getCACertificates; Node 20: the Debian bundle file)', () => {
    const t = registryTls('ghcr.io', { certsDir: emptyCertsD() })
    expect(t.ca.length).toBeGreaterThan(tls.rootCertificates.length)
  })
})

describe('insecure registries', () => {
  it('loopback, and the daemon’s insecure-registries (names and CIDRs of IP literals)', () => {
    expect(['127.0.0.1:5000', 'localhost:1', '[::1]:5000', '127.9.9.9'].every(isLoopback)).toBe(
      true
    )
    expect(['ghcr.io', '127.example.com', 'localhost.example.com'].some(isLoopback)).toBe(false)
    const daemonJson = path.join(tmp, 'daemon.json')
    writeFileSync(
      daemonJson,
      JSON.stringify({ 'insecure-registries': ['reg.corp:5000', '10.1.0.0/16', 'not a cidr/x'] })
    )
    const sources: TlsSources = { certsDir: tmp, daemonJson }
    expect(isInsecureRegistry('reg.corp:5000', sources)).toBe(true)
    expect(isInsecureRegistry('reg.corp:5001', sources)).toBe(false)
    expect(isInsecureRegistry('10.1.2.3:5000', sources)).toBe(true)
    expect(isInsecureRegistry('10.2.0.1', sources)).toBe(false)
    expect(isInsecureRegistry('ghcr.io', sources)).toBe(false)
    expect(isInsecureRegistry('localhost:5000', { certsDir: tmp })).toBe(true)
  })
})

describe('a TLS handshake with the registry', () => {
  it('verified with the CA in certs.d; untrusted without it; not TLS; unreachable', async () => {
    expect(
      await tlsHandshake(tlsRegistry, registryTls(tlsRegistry, { certsDir: certsD(tlsRegistry) }))
    ).toEqual({
      result: 'verified'
    })
    const untrusted = await tlsHandshake(
      tlsRegistry,
      registryTls(tlsRegistry, { certsDir: emptyCertsD() })
    )
    expect(untrusted).toMatchObject({ result: 'untrusted' })
    expect((untrusted as { code: string }).code).toMatch(/CERT|SIGN|ISSUER/)
    expect(
      await tlsHandshake(plainRegistry, registryTls(plainRegistry, { certsDir: tmp }))
    ).toMatchObject({
      result: 'not-tls'
    })
    const closed = createHttpServer()
    const gone = await listen(closed)
    await new Promise(r => closed.close(r))
    expect(await tlsHandshake(gone, registryTls(gone, { certsDir: tmp }))).toMatchObject({
      result: 'unreachable',
      code: 'ECONNREFUSED'
    })
  })
})

describe('choosing the transport', () => {
  const fake = (h: Handshake) => async () => h

  it('a secure registry: HTTPS, verified, without any handshake', async () => {
    let asked = false
    const t = await chooseTransport('ghcr.io', { certsDir: tmp }, async () => {
      asked = true
      return { result: 'verified' }
    })
    expect(t).toMatchObject({ scheme: 'https', verify: true, final: true })
    expect(asked).toBe(false)
  })

  it('an insecure one: HTTPS first; unverified with a note, as docker; HTTP when it does not speak TLS', async () => {
    const r = '127.0.0.1:5000'
    expect(await chooseTransport(r, { certsDir: tmp }, fake({ result: 'verified' }))).toMatchObject(
      {
        scheme: 'https',
        verify: true
      }
    )
    const unverified = await chooseTransport(
      r,
      { certsDir: '/etc/docker/certs.d' },
      fake({ result: 'untrusted', code: 'SELF_SIGNED_CERT_IN_CHAIN' })
    )
    expect(unverified).toMatchObject({ scheme: 'https', verify: false, final: true })
    expect(unverified.note).toMatch(
      /SELF_SIGNED_CERT_IN_CHAIN.*put the CA that signed it in \/etc\/docker\/certs\.d\/127\.0\.0\.1:5000\/ca\.crt/
    )
    expect(
      await chooseTransport(r, { certsDir: tmp }, fake({ result: 'not-tls', code: 'EPROTO' }))
    ).toMatchObject({
      scheme: 'http',
      final: true
    })
    expect(
      await chooseTransport(
        r,
        { certsDir: tmp },
        fake({ result: 'unreachable', code: 'ECONNREFUSED' })
      )
    ).toMatchObject({
      scheme: 'http',
      final: false
    })
  })
})

describe('the registry client over TLS on loopback', () => {
  it('speaks HTTPS, verified, to a TLS registry whose CA is only in certs.d (no longer 400 Bad Request)', async () => {
    requests.length = 0
    const notes: string[] = []
    const client = new RegistryClient({
      registry: tlsRegistry,
      tls: { certsDir: certsD(tlsRegistry) },
      onTransport: n => notes.push(n)
    })
    await client.ping()
    expect(client.baseUrl).toBe(`https://${tlsRegistry}`)
    expect(notes).toEqual([])
    expect(requests).toEqual(['GET /v2/'])
  })

  it('accepts it unverified without the CA, saying so, as docker does for an insecure registry', async () => {
    const notes: string[] = []
    const client = new RegistryClient({
      registry: tlsRegistry,
      tls: { certsDir: emptyCertsD() },
      onTransport: n => notes.push(n)
    })
    await client.ping()
    expect(client.baseUrl).toBe(`https://${tlsRegistry}`)
    expect(notes).toEqual([
      expect.stringMatching(/does not verify .*accepted as docker accepts it/)
    ])
  })

  it('falls back to plain HTTP for a registry that does not speak TLS', async () => {
    const client = new RegistryClient({ registry: plainRegistry, tls: { certsDir: tmp } })
    await client.ping()
    expect(client.baseUrl).toBe(`http://${plainRegistry}`)
  })
})
