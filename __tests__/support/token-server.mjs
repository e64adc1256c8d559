#!/usr/bin/env node
/**
 * Test code: a token server that behaves like ghcr.io's, in front of the CNCF distribution
 * registry running in `token` auth mode. Loopback only.
 *
 *   GET /token?service=…&scope=repository:NAME:pull,push  (HTTP Basic: username + token)
 *
 * - A token holding write:packages may pull and push; one holding only read:packages may pull.
 * - Bad or missing credentials: 401 `unauthorized: unauthenticated: User cannot be authenticated
 *   with the token provided.` (docs/facts/github-registries.md, "Error strings").
 * - Push asked without write access: 403 `denied: permission_denied: write_package`.
 * Issued tokens are JWTs signed with ES256, with the signing certificate in the `x5c` header,
 * which the registry checks against its `rootcertbundle`.
 *
 * Usage: node token-server.mjs CONFIG.json   (written by scripts/e2e-env.sh)
 *   { "port": 0, "keyFile": "...", "certFile": "...", "issuer": "...", "service": "...",
 *     "portFile": "...", "users": { "NAME": { "token": "...", "scopes": ["read:packages", "write:packages"] } } }
 */
import { createPrivateKey, randomUUID, sign, timingSafeEqual, X509Certificate } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const key = createPrivateKey(readFileSync(config.keyFile))
const certDer = new X509Certificate(readFileSync(config.certFile)).raw.toString('base64')

const b64url = data => Buffer.from(data).toString('base64url')

function jwt(claims) {
  const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', x5c: [certDer] }))
  const payload = b64url(JSON.stringify(claims))
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), {
    key,
    dsaEncoding: 'ieee-p1363'
  })
  return `${header}.${payload}.${b64url(signature)}`
}

function same(a, b) {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function authenticate(header) {
  const m = /^Basic\s+(.+)$/i.exec(header ?? '')
  if (!m) return undefined
  const decoded = Buffer.from(m[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return undefined
  const name = decoded.slice(0, colon)
  const user = config.users[name]
  return user && same(decoded.slice(colon + 1), user.token) ? { name, ...user } : undefined
}

/** `repository:NAME:a,b` scopes (several per parameter allowed, space-separated). */
function parseScopes(params) {
  return params
    .flatMap(s => s.split(' '))
    .filter(Boolean)
    .map(s => {
      const parts = s.split(':')
      return {
        type: parts[0],
        name: parts.slice(1, -1).join(':'),
        actions: parts.at(-1).split(',')
      }
    })
}

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' })
  res.end(JSON.stringify(body))
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://token')
  if (url.pathname !== '/token' || req.method !== 'GET')
    return send(res, 404, { errors: [{ code: 'NOT_FOUND' }] })
  const user = authenticate(req.headers.authorization)
  if (!user) {
    return send(res, 401, {
      errors: [
        {
          code: 'UNAUTHORIZED',
          message: 'unauthenticated: User cannot be authenticated with the token provided.'
        }
      ]
    })
  }
  const canWrite = user.scopes.includes('write:packages')
  const canRead = canWrite || user.scopes.includes('read:packages')
  const access = []
  for (const scope of parseScopes(url.searchParams.getAll('scope'))) {
    if (scope.type !== 'repository') continue
    if (scope.actions.includes('push') && !canWrite) {
      return send(res, 403, {
        errors: [{ code: 'DENIED', message: 'permission_denied: write_package' }]
      })
    }
    const granted = scope.actions.filter(
      a => (a === 'pull' && canRead) || (a === 'push' && canWrite)
    )
    access.push({ type: 'repository', name: scope.name, actions: granted })
  }
  const now = Math.floor(Date.now() / 1000)
  const token = jwt({
    iss: config.issuer,
    sub: user.name,
    aud: config.service,
    exp: now + 300,
    nbf: now - 10,
    iat: now,
    jti: randomUUID(),
    access
  })
  send(res, 200, {
    token,
    access_token: token,
    expires_in: 300,
    issued_at: new Date(now * 1000).toISOString()
  })
})

server.listen(config.port ?? 0, '127.0.0.1', () => {
  if (config.portFile) writeFileSync(config.portFile, String(server.address().port))
})
for (const signal of ['SIGTERM', 'SIGINT'])
  process.on(signal, () => server.close(() => process.exit(0)))
