/**
 * TLS to a registry the way the docker daemon does it, for any transport (fetch with an undici
 * Agent, or node:https): the decisions live here, the transports take what registryTls and
 * chooseTransport return.
 *
 * Trusted: Node's bundled roots, the OS store (Node 24: tls.getCACertificates('system'); Node 20:
 * /etc/ssl/certs/ca-certificates.crt when present), the file NODE_EXTRA_CA_CERTS names (Node drops
 * it once a `ca` is given, so it is added here), and for a registry HOST[:PORT] the *.crt files in
 * CERTS_D/HOST[:PORT]/ (CERTS_D: /etc/docker/certs.d, as the daemon reads it). A client
 * certificate there (NAME.cert with NAME.key) is presented too.
 *
 * Scheme: HTTPS, verified. An insecure registry (loopback: 127.0.0.0/8, localhost, [::1]; or one
 * listed in the daemon's insecure-registries) is tried over HTTPS first and spoken to over plain
 * HTTP when it does not speak TLS, as docker does. Docker also accepts any certificate from an
 * insecure registry; so does this, with a warning, unless the certificate verifies (e.g. with the
 * CA in certs.d), in which case it is verified as for any registry.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { BlockList, isIPv4, isIPv6 } from 'node:net'
import * as path from 'node:path'
import * as tls from 'node:tls'

export const DEFAULT_CERTS_D = '/etc/docker/certs.d'
export const DEFAULT_DAEMON_JSON = '/etc/docker/daemon.json'
const OS_BUNDLE = '/etc/ssl/certs/ca-certificates.crt'

/** Where the TLS settings come from (github/context.ts reads them from the environment). */
export interface TlsSources {
  /** Root of the per-registry folders (HOST[:PORT]/*.crt, *.cert, *.key). */
  certsDir: string
  /** NODE_EXTRA_CA_CERTS: a PEM file of further CAs. */
  extraCaFile?: string
  /** The docker daemon's config, for its insecure-registries. */
  daemonJson?: string
}

export const DEFAULT_TLS_SOURCES: TlsSources = {
  certsDir: DEFAULT_CERTS_D,
  daemonJson: DEFAULT_DAEMON_JSON
}

/**
 * What a transport needs to speak TLS to one registry: node:https and undici take these as is
 * (or, faster, secureContext(settings) made from them once).
 */
export interface RegistryTls {
  /** PEM certificates to trust, each once (replacing Node's default set, which they include). */
  ca: string[]
  /** A client certificate and its key, from certs.d. */
  cert?: string
  key?: string
  /** The registry's own certs.d folder, for messages. */
  certsDir: string
  /** The files read from it (for the log). */
  files: string[]
}

/** Registries on loopback: the daemon counts them as insecure without configuration. */
export function isLoopback(registry: string): boolean {
  const host = hostOf(registry)
  return host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '[::1]'
}

/** HOST of HOST[:PORT] ([v6] kept in brackets). */
function hostOf(registry: string): string {
  return registry.toLowerCase().replace(/:\d+$/, '')
}

function readIfThere(file: string | undefined): string | undefined {
  if (!file) return undefined
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** The OS trust store: Node 24 reads it itself; on Node 20, Debian/Ubuntu's bundle file. */
function systemCertificates(): string[] {
  const get = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates
  if (get) {
    try {
      return get('system')
    } catch {
      // fall through to the file
    }
  }
  const bundle = readIfThere(OS_BUNDLE)
  return bundle ? [bundle] : []
}

/**
 * The TLS settings for `registry` (HOST[:PORT]): every CA it trusts, and a client certificate
 * when certs.d has one. Docker reads CERTS_D/HOST:PORT for a registry with a port.
 */
export function registryTls(
  registry: string,
  sources: TlsSources = DEFAULT_TLS_SOURCES
): RegistryTls {
  const dir = path.join(sources.certsDir, registry.toLowerCase())
  const ca = [...tls.rootCertificates, ...systemCertificates()]
  const extra = readIfThere(sources.extraCaFile)
  if (extra) ca.push(extra)
  const files: string[] = []
  let cert: string | undefined
  let key: string | undefined
  let names: string[] = []
  try {
    names = readdirSync(dir).sort()
  } catch {
    names = []
  }
  for (const name of names) {
    const file = path.join(dir, name)
    if (name.endsWith('.crt')) {
      const pem = readIfThere(file)
      if (pem) {
        ca.push(pem)
        files.push(file)
      }
    } else if (name.endsWith('.cert') && !cert) {
      // docker pairs NAME.cert with NAME.key
      const keyFile = path.join(dir, name.replace(/\.cert$/, '.key'))
      const pair = [readIfThere(file), readIfThere(keyFile)]
      if (pair[0] && pair[1]) {
        ;[cert, key] = pair
        files.push(file, keyFile)
      }
    }
  }
  return { ca: uniqueCertificates(ca), cert, key, certsDir: dir, files }
}

const PEM = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/**
 * Every certificate once, told apart by its content whatever the line breaks (the OS bundle
 * mostly repeats Node's roots: 288 PEM blocks, 166 certificates here), so fewer are parsed.
 */
function uniqueCertificates(bundles: string[]): string[] {
  const seen = new Map<string, string>()
  for (const bundle of bundles) {
    for (const pem of bundle.match(PEM) ?? []) {
      const key = pem.replace(/\s+/g, '')
      if (!seen.has(key)) seen.set(key, pem.replace(/\r/g, '').trim())
    }
  }
  return [...seen.values()]
}

const contexts = new WeakMap<RegistryTls, tls.SecureContext>()

/**
 * One SecureContext for these settings, made once: parsing a few hundred CAs takes 0.1-0.2 s, too
 * long to repeat for every connection (node:tls and undici make one per connection from `ca`).
 */
export function secureContext(settings: RegistryTls): tls.SecureContext {
  let context = contexts.get(settings)
  if (!context) {
    context = tls.createSecureContext({ ca: settings.ca, cert: settings.cert, key: settings.key })
    contexts.set(settings, context)
  }
  return context
}

/** insecure-registries of the daemon's config: names (HOST[:PORT]) and CIDRs. */
function daemonInsecure(daemonJson: string | undefined): string[] {
  const text = readIfThere(daemonJson)
  if (!text) return []
  try {
    const list = (JSON.parse(text) as { 'insecure-registries'?: unknown })['insecure-registries']
    return Array.isArray(list) ? list.filter((e): e is string => typeof e === 'string') : []
  } catch {
    return []
  }
}

/**
 * Whether docker would count `registry` insecure: loopback, or named in the daemon's
 * insecure-registries (by HOST[:PORT], or a CIDR holding its IP literal; names are not resolved).
 */
export function isInsecureRegistry(
  registry: string,
  sources: TlsSources = DEFAULT_TLS_SOURCES
): boolean {
  if (isLoopback(registry)) return true
  const name = registry.toLowerCase()
  const ip = hostOf(registry).replace(/^\[|\]$/g, '')
  for (const entry of daemonInsecure(sources.daemonJson)) {
    const e = entry
      .toLowerCase()
      .replace(/^https?:\/\//, '')
      .replace(/\/+$/, '')
    if (e === name) return true
    const cidr = /^(.+)\/(\d+)$/.exec(e)
    if (cidr && (isIPv4(ip) || isIPv6(ip))) {
      const family = isIPv4(cidr[1]) ? 'ipv4' : isIPv6(cidr[1]) ? 'ipv6' : undefined
      if (!family) continue
      const block = new BlockList()
      try {
        block.addSubnet(cidr[1], Number(cidr[2]), family)
        if (block.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6')) return true
      } catch {
        // not a subnet
      }
    }
  }
  return false
}

/** What a TLS handshake with the registry showed. */
export type Handshake =
  | { result: 'verified' }
  | { result: 'untrusted'; code: string }
  | { result: 'not-tls'; code: string }
  | { result: 'unreachable'; code: string }

/** Certificate problems (OpenSSL's verify codes and Node's host-name check). */
export function isCertificateError(code: string): boolean {
  return /CERT|ISSUER|SELF_SIGNED|SIGNATURE|ALTNAME|UNABLE_TO_VERIFY/.test(code)
}

/** No answer to tell TLS from plain HTTP (a reset may be a fault on the way): asked again later. */
const UNREACHABLE =
  /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|TimeoutError)$/

/**
 * What a TLS handshake with the registry shows (no HTTP request), bounded by `timeoutMs`. The first
 * handshake uses Node's own roots and does not stop at an untrusted certificate, so a registry
 * that does not speak TLS, or whose certificate Node trusts anyway, costs no parsing of the whole
 * trust store; only an untrusted certificate is checked again against every CA of `settings`.
 */
export async function tlsHandshake(
  registry: string,
  settings: RegistryTls,
  timeoutMs = 5000
): Promise<Handshake> {
  const first = await handshakeOnce(registry, undefined, timeoutMs)
  if (first.result !== 'untrusted' || !first.code) return first
  const second = await handshakeOnce(registry, secureContext(settings), timeoutMs)
  return second.result === 'untrusted' ? { result: 'untrusted', code: second.code } : second
}

async function handshakeOnce(
  registry: string,
  context: tls.SecureContext | undefined,
  timeoutMs: number
): Promise<Handshake & { code?: string }> {
  const host = hostOf(registry).replace(/^\[|\]$/g, '')
  const port = Number(/:(\d+)$/.exec(registry)?.[1] ?? 443)
  return new Promise(resolve => {
    let settled = false
    const done = (h: Handshake): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve(h)
    }
    const socket = tls.connect({
      host,
      port,
      servername: isIPv4(host) || isIPv6(host) ? undefined : host,
      ...(context ? { secureContext: context } : { rejectUnauthorized: false }),
      ALPNProtocols: ['http/1.1']
    })
    // A port that takes the connection but never answers the hello does not speak TLS (a plain
    // HTTP server waiting for a request line): that is an answer, final for the run. Only a
    // connection that was never made is "unreachable" (asked again later).
    let connected = false
    socket.once('connect', () => (connected = true))
    const timer = setTimeout(
      () =>
        done(
          connected
            ? { result: 'not-tls', code: `no answer to a TLS hello in ${timeoutMs / 1000} s` }
            : { result: 'unreachable', code: 'TimeoutError' }
        ),
      timeoutMs
    )
    socket.once('secureConnect', () => {
      if (socket.authorized) return done({ result: 'verified' })
      const code = String(socket.authorizationError ?? 'UNABLE_TO_VERIFY_LEAF_SIGNATURE')
      done({ result: 'untrusted', code })
    })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? error.message
      if (isCertificateError(code)) done({ result: 'untrusted', code })
      else if (UNREACHABLE.test(code)) done({ result: 'unreachable', code })
      else done({ result: 'not-tls', code })
    })
    socket.once('close', () => done({ result: 'not-tls', code: 'closed during the handshake' }))
  })
}

/** How to speak to a registry. */
export interface Transport {
  scheme: 'https' | 'http'
  /** false: an insecure registry's certificate is accepted unverified, as docker does. */
  verify: boolean
  tls: RegistryTls
  /** For the log: why this scheme (insecure registries only). */
  note?: string
  /** false when the registry could not be reached: ask again next time. */
  final: boolean
}

/**
 * The scheme and TLS settings for `registry`: HTTPS, verified, for any registry; for an insecure
 * one, what a handshake shows (HTTPS verified; HTTPS unverified with a note, as docker accepts
 * it; or plain HTTP when it does not speak TLS, or cannot be reached: asked again next time).
 */
export async function chooseTransport(
  registry: string,
  sources: TlsSources = DEFAULT_TLS_SOURCES,
  handshake: typeof tlsHandshake = tlsHandshake
): Promise<Transport> {
  const settings = registryTls(registry, sources)
  if (!isInsecureRegistry(registry, sources)) {
    return { scheme: 'https', verify: true, tls: settings, final: true }
  }
  const h = await handshake(registry, settings)
  switch (h.result) {
    case 'verified':
      return { scheme: 'https', verify: true, tls: settings, final: true }
    case 'untrusted':
      return {
        scheme: 'https',
        verify: false,
        tls: settings,
        final: true,
        note:
          `${registry} speaks TLS with a certificate that does not verify (${h.code}); accepted ` +
          'as docker accepts it from an insecure registry. To have it verified, put the CA ' +
          `that signed it in ${path.join(settings.certsDir, 'ca.crt')}.`
      }
    case 'not-tls':
      return { scheme: 'http', verify: true, tls: settings, final: true }
    case 'unreachable':
      return { scheme: 'http', verify: true, tls: settings, final: false }
  }
}

/** For an error message: what to do about a certificate the client does not trust. */
export function certificateAdvice(code: string, settings: RegistryTls): string {
  if (!isCertificateError(code)) return ''
  return (
    `: its TLS certificate is not trusted. Put the CA that signed it in ` +
    `${path.join(settings.certsDir, 'ca.crt')} (as for the docker daemon), or in a PEM file ` +
    'named by NODE_EXTRA_CA_CERTS, or in the runner’s OS trust store'
  )
}
