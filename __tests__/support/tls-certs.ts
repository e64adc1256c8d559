/**
 * A throw-away CA and a server certificate it signed for 127.0.0.1 and localhost, made with the
 * openssl command (for the TLS tests: the CA is then put only where the test wants it trusted).
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'

export interface TestCertificates {
  dir: string
  caCert: string
  serverCert: string
  serverKey: string
  /** PEM contents. */
  ca: string
  cert: string
  key: string
}

export function makeCertificates(dir: string): TestCertificates {
  mkdirSync(dir, { recursive: true })
  const f = (name: string): string => path.join(dir, name)
  const openssl = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 })
  }
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=publish-container test CA',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt')
  ])
  openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr')
  ])
  writeFileSync(f('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  openssl([
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('san.ext'),
    '-out',
    f('server.crt')
  ])
  return {
    dir,
    caCert: f('ca.crt'),
    serverCert: f('server.crt'),
    serverKey: f('server.key'),
    ca: readFileSync(f('ca.crt'), 'utf8'),
    cert: readFileSync(f('server.crt'), 'utf8'),
    key: readFileSync(f('server.key'), 'utf8')
  }
}
