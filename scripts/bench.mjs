#!/usr/bin/env node
/**
 * npm run bench: what users pay on a real registry, measured on loopback.
 *
 * A proxy of our own sits in front of the real registry (the htpasswd one of scripts/e2e-env.sh)
 * and delays every chunk by DELAY_MS in each direction, pipelined (chunks keep flowing; each is
 * held back by the same delay, so throughput is kept). It parses the HTTP/1.1 framing of what the
 * clients send (Content-Length and chunked bodies) to count requests and blob-upload bytes exactly.
 *
 * Compared, in one run, same daemon, same Dockerfile, fresh layer content every time, medians of
 * RUNS runs:
 *   1. the action (main + post step, run as the runner runs dist/index.js) publishing 1, 5, 20 tags,
 *      against the plain docker CLI doing the same work (login, build -t per tag, push per tag, logout);
 *   2. publishing the same unchanged image a second time: blob bytes uploaded;
 *   3. cold start: `node dist/index.js` with no work to do, against `node -e ''`.
 * Prints a table with the targets, and writes the figures to bench-results.json.
 *
 * Env: BENCH_RUNS (default 3), BENCH_DELAY_MS (default 50), BENCH_TAGS (default "1,5,20").
 */
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const DIST = path.join(ROOT, 'dist', 'index.js')
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const DELAY_MS = Number(process.env.BENCH_DELAY_MS ?? 50)
const TAG_COUNTS = (process.env.BENCH_TAGS ?? '1,5,20').split(',').map(Number)
const LAYER_BYTES = 512 * 1024
const EVENT = {
  ref: 'refs/heads/main',
  head_commit: {
    id: 'a9993e364706816aba3e25717850c26c9cd0d89d',
    timestamp: new Date().toISOString()
  },
  repository: {
    full_name: 'octo-org/bench',
    default_branch: 'main',
    html_url: 'https://github.com/octo-org/bench'
  }
}

// ---------------------------------------------------------------------------------------------
// Environment: reuse a running one, or start (and later stop) our own.

/** Runs a command without blocking the event loop (the proxy lives in this process). */
function run(cmd, args, { input, ...opts } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', d => (stdout += d))
    child.stderr.on('data', d => (stderr += d))
    child.on('error', reject)
    child.on('close', status => resolve({ status, stdout, stderr }))
    child.stdin.end(input ?? '')
  })
}

async function runOk(cmd, args, opts = {}) {
  const r = await run(cmd, args, opts)
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}${r.stdout}`)
  return r
}

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts })
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr}${r.stdout}`)
  return r.stdout
}

const envScript = path.join(ROOT, 'scripts', 'e2e-env.sh')
const startedHere = spawnSync(envScript, ['status'], { stdio: 'ignore' }).status !== 0
const envFile = sh(envScript, ['start'], { stdio: ['ignore', 'pipe', 'inherit'] })
  .trim()
  .split('\n')
  .pop()
const E2E = {}
for (const line of readFileSync(envFile, 'utf8').split('\n')) {
  const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line)
  if (m) E2E[m[1]] = m[2].replace(/^'(.*)'$/, '$1')
}
process.env.DOCKER_HOST = E2E.DOCKER_HOST

// ---------------------------------------------------------------------------------------------
// The delaying, counting proxy.

/** Follows HTTP/1.1 request framing on one connection: counts requests and their body bytes. */
class RequestCounter {
  constructor(stats) {
    this.stats = stats
    this.buf = Buffer.alloc(0)
    this.state = 'head'
    this.remaining = 0
    this.current = undefined
  }
  push(chunk) {
    this.buf = Buffer.concat([this.buf, chunk])
    for (;;) {
      if (this.state === 'head') {
        const end = this.buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = this.buf.subarray(0, end).toString('latin1')
        this.buf = this.buf.subarray(end + 4)
        const [requestLine, ...headerLines] = head.split('\r\n')
        const [method, target] = requestLine.split(' ')
        const headers = {}
        for (const l of headerLines) {
          const i = l.indexOf(':')
          if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
        }
        this.current = { method, path: (target ?? '').split('?')[0], body: 0 }
        this.stats.requests.push(this.current)
        if (/chunked/i.test(headers['transfer-encoding'] ?? '')) this.state = 'chunk-size'
        else if (Number(headers['content-length'] ?? 0) > 0) {
          this.state = 'body'
          this.remaining = Number(headers['content-length'])
        }
      } else if (this.state === 'body') {
        const n = Math.min(this.remaining, this.buf.length)
        if (n === 0) return
        this.current.body += n
        this.remaining -= n
        this.buf = this.buf.subarray(n)
        if (this.remaining === 0) this.state = 'head'
      } else if (this.state === 'chunk-size') {
        const eol = this.buf.indexOf('\r\n')
        if (eol < 0) return
        const size = parseInt(this.buf.subarray(0, eol).toString('latin1').split(';')[0], 16)
        this.buf = this.buf.subarray(eol + 2)
        if (size === 0) this.state = 'trailer'
        else {
          this.state = 'chunk-data'
          this.remaining = size
        }
      } else if (this.state === 'chunk-data') {
        const n = Math.min(this.remaining, this.buf.length)
        if (n === 0) return
        this.current.body += n
        this.remaining -= n
        this.buf = this.buf.subarray(n)
        if (this.remaining === 0) this.state = 'chunk-end'
      } else if (this.state === 'chunk-end') {
        if (this.buf.length < 2) return
        this.buf = this.buf.subarray(2)
        this.state = 'chunk-size'
      } else if (this.state === 'trailer') {
        const eol = this.buf.indexOf('\r\n')
        if (eol < 0) return
        const empty = eol === 0
        this.buf = this.buf.subarray(eol + 2)
        if (empty) this.state = 'head'
      }
    }
  }
}

function startProxy(target) {
  const [host, port] = [
    target.slice(0, target.lastIndexOf(':')),
    Number(target.slice(target.lastIndexOf(':') + 1))
  ]
  const stats = { requests: [] }
  const delayed = (from, to) => {
    from.on('data', chunk => setTimeout(() => to.destroyed || to.write(chunk), DELAY_MS))
    from.on('end', () => setTimeout(() => to.destroyed || to.end(), DELAY_MS))
  }
  const server = createServer(client => {
    const upstream = createConnection({ host, port })
    const counter = new RequestCounter(stats)
    client.on('data', chunk => counter.push(chunk))
    delayed(client, upstream)
    delayed(upstream, client)
    const close = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', close)
    upstream.on('error', close)
    client.on('close', () => setTimeout(() => upstream.destroy(), DELAY_MS * 2))
    upstream.on('close', () => setTimeout(() => client.destroy(), DELAY_MS * 2))
  })
  return new Promise(resolve =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, stats, address: `127.0.0.1:${server.address().port}` })
    )
  )
}

function uploadBytes(requests) {
  return requests
    .filter(r => /\/blobs\/uploads\//.test(r.path) && ['PATCH', 'PUT', 'POST'].includes(r.method))
    .reduce((n, r) => n + r.body, 0)
}

// ---------------------------------------------------------------------------------------------
// The two ways of publishing.

function project(content) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-'))
  mkdirSync(path.join(dir, 'workspace'))
  writeFileSync(
    path.join(dir, 'workspace', 'Dockerfile'),
    'FROM scratch\nCOPY layer.bin /layer.bin\n'
  )
  writeFileSync(path.join(dir, 'workspace', 'layer.bin'), content ?? randomBytes(LAYER_BYTES))
  return dir
}

function parseFileCommands(text) {
  const out = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^=<]+)<<(.+)$/.exec(lines[i])
    if (!m) continue
    const value = []
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i])
    out[m[1]] = value.join('\n')
  }
  return out
}

async function runAction(dir, registry, tags) {
  const files = Object.fromEntries(['output', 'state', 'summary'].map(n => [n, path.join(dir, n)]))
  Object.values(files).forEach(f => writeFileSync(f, ''))
  mkdirSync(path.join(dir, 'temp'), { recursive: true })
  mkdirSync(path.join(dir, 'home'), { recursive: true })
  // A push of one commit to the default branch, as in a workflow run (the same for every run: a
  // republish is a re-run on the same commit).
  writeFileSync(path.join(dir, 'event.json'), JSON.stringify(EVENT))
  const base = {
    GITHUB_EVENT_NAME: 'push',
    GITHUB_EVENT_PATH: path.join(dir, 'event.json'),
    GITHUB_REF: 'refs/heads/main',
    GITHUB_SHA: EVENT.head_commit.id,
    PATH: process.env.PATH,
    DOCKER_HOST: E2E.DOCKER_HOST,
    HOME: path.join(dir, 'home'),
    RUNNER_TEMP: path.join(dir, 'temp'),
    GITHUB_REPOSITORY: 'octo-org/bench',
    GITHUB_ACTOR: E2E.E2E_REGISTRY_USER,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_OUTPUT: files.output,
    GITHUB_STATE: files.state,
    GITHUB_STEP_SUMMARY: files.summary
  }
  const inputs = {
    INPUT_REGISTRY: registry,
    'INPUT_REGISTRY-TYPE': 'auto',
    INPUT_USERNAME: E2E.E2E_REGISTRY_USER,
    INPUT_TOKEN: E2E.E2E_REGISTRY_PASSWORD,
    'INPUT_IMAGE-NAME': 'bench/app',
    INPUT_TAGS: tags.join(','),
    INPUT_CONTEXT: '.',
    INPUT_PUSH: 'true',
    INPUT_PULL: 'false',
    'INPUT_NO-CACHE': 'false'
  }
  const cwd = path.join(dir, 'workspace')
  await runOk(process.execPath, [DIST], { cwd, env: { ...base, ...inputs } })
  const state = Object.fromEntries(
    Object.entries(parseFileCommands(readFileSync(files.state, 'utf8'))).map(([k, v]) => [
      `STATE_${k}`,
      v
    ])
  )
  await runOk(process.execPath, [DIST], { cwd, env: { ...base, ...state } })
  const outputs = parseFileCommands(readFileSync(files.output, 'utf8'))
  return { digest: outputs.digest, labels: JSON.parse(outputs.metadata).labels }
}

/**
 * The plain docker CLI doing the same work: login, build with every tag (and the same labels the
 * action put on its image, so both build the same image), push per tag, logout.
 */
async function runPlainCli(dir, registry, tags, labels = {}) {
  const config = path.join(dir, 'docker-config')
  mkdirSync(config, { recursive: true })
  const docker = (args, input) => runOk('docker', ['--config', config, ...args], { input })
  const image = `${registry}/octo-org/bench/cli`
  await docker(
    ['login', registry, '--username', E2E.E2E_REGISTRY_USER, '--password-stdin'],
    E2E.E2E_REGISTRY_PASSWORD
  )
  await docker([
    'build',
    ...tags.flatMap(t => ['-t', `${image}:${t}`]),
    ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    path.join(dir, 'workspace')
  ])
  for (const t of tags) await docker(['push', `${image}:${t}`])
  await docker(['logout', registry])
}

// ---------------------------------------------------------------------------------------------

const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const tagsOf = n => Array.from({ length: n }, (_, i) => (i === 0 ? 'latest' : `v${i}`))

async function measure(proxy, fn) {
  proxy.stats.requests.length = 0
  const t0 = process.hrtime.bigint()
  await fn()
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  await new Promise(r => setTimeout(r, DELAY_MS * 3)) // let delayed bytes drain into the counter
  const requests = proxy.stats.requests.length
  return { seconds, requests, uploadBytes: uploadBytes(proxy.stats.requests) }
}

async function main() {
  const proxy = await startProxy(E2E.E2E_REGISTRY)
  const results = {
    delayMs: DELAY_MS,
    runs: RUNS,
    layerBytes: LAYER_BYTES,
    publish: {},
    republish: {},
    coldStart: {}
  }
  console.error(
    `bench: proxy ${proxy.address} → ${E2E.E2E_REGISTRY}, ${DELAY_MS} ms each way, ${RUNS} runs each`
  )

  // Warm the daemon and the registry once, outside the figures.
  {
    const d = project()
    await runPlainCli(d, proxy.address, ['warmup'])
    rmSync(d, { recursive: true, force: true })
  }

  // 1. Interleaved: each action run, then the plain CLI with the labels that run put on its image.
  for (const n of TAG_COUNTS) {
    const samples = { action: [], cli: [] }
    for (let i = 0; i < RUNS; i++) {
      let labels = {}
      for (const who of ['action', 'cli']) {
        const dir = project()
        const sample = await measure(proxy, async () => {
          if (who === 'action') labels = (await runAction(dir, proxy.address, tagsOf(n))).labels
          else await runPlainCli(dir, proxy.address, tagsOf(n), labels)
        })
        samples[who].push(sample)
        rmSync(dir, { recursive: true, force: true })
        console.error(
          `bench: ${who} ${n} tag(s) run ${i + 1}: ${sample.seconds.toFixed(2)} s, ${sample.requests} requests`
        )
      }
    }
    for (const who of ['action', 'cli']) {
      results.publish[`${who}-${n}`] = {
        tags: n,
        seconds: median(samples[who].map(s => s.seconds)),
        requests: median(samples[who].map(s => s.requests)),
        samples: samples[who]
      }
    }
  }

  // 2. The same unchanged image, published a second time.
  for (const [who, fn] of [
    ['action', runAction],
    ['cli', runPlainCli]
  ]) {
    const content = randomBytes(LAYER_BYTES)
    const first = project(content)
    const second = project(content)
    const a = await measure(proxy, () => fn(first, proxy.address, ['1.0']))
    const b = await measure(proxy, () => fn(second, proxy.address, ['1.0']))
    results.republish[who] = {
      firstUploadBytes: a.uploadBytes,
      secondUploadBytes: b.uploadBytes,
      secondRequests: b.requests
    }
    for (const d of [first, second]) rmSync(d, { recursive: true, force: true })
  }

  // 3. Cold start: the post step with nothing to clean up, against an empty node.
  const coldDir = mkdtempSync(path.join(os.tmpdir(), 'bench-cold-'))
  const time = (args, env) => {
    const samples = []
    for (let i = 0; i < Math.max(RUNS, 10); i++) {
      const t0 = process.hrtime.bigint()
      const r = spawnSync(process.execPath, args, { env, encoding: 'utf8' })
      if (r.status !== 0) throw new Error(r.stderr)
      samples.push(Number(process.hrtime.bigint() - t0) / 1e9)
    }
    return median(samples)
  }
  const noWork = {
    PATH: process.env.PATH,
    STATE_isPost: 'true',
    GITHUB_STATE: path.join(coldDir, 's')
  }
  writeFileSync(noWork.GITHUB_STATE, '')
  results.coldStart = {
    action: time([DIST], noWork),
    node: time(['-e', ''], { PATH: process.env.PATH })
  }
  rmSync(coldDir, { recursive: true, force: true })
  proxy.server.close()

  // Report.
  const p = results.publish
  const lo = Math.min(...TAG_COUNTS)
  const hi = Math.max(...TAG_COUNTS)
  const perExtraTag = (p[`action-${hi}`].requests - p[`action-${lo}`].requests) / (hi - lo)
  const cliPerExtraTag = (p[`cli-${hi}`].requests - p[`cli-${lo}`].requests) / (hi - lo)
  const targets = [
    ['registry requests per extra tag (action)', perExtraTag, '≤ 1', perExtraTag <= 1],
    [
      `wall time ${hi} tags / ${lo} tag (action)`,
      p[`action-${hi}`].seconds / p[`action-${lo}`].seconds,
      '≤ 1.3',
      p[`action-${hi}`].seconds / p[`action-${lo}`].seconds <= 1.3
    ],
    [
      `action / plain CLI, ${lo} tag`,
      p[`action-${lo}`].seconds / p[`cli-${lo}`].seconds,
      '≤ 1.1',
      p[`action-${lo}`].seconds / p[`cli-${lo}`].seconds <= 1.1
    ],
    [
      `action / plain CLI, ${hi} tags`,
      p[`action-${hi}`].seconds / p[`cli-${hi}`].seconds,
      '≤ 0.5',
      p[`action-${hi}`].seconds / p[`cli-${hi}`].seconds <= 0.5
    ],
    [
      'unchanged republish: blob bytes uploaded (action)',
      results.republish.action.secondUploadBytes,
      '= 0',
      results.republish.action.secondUploadBytes === 0
    ]
  ]
  results.targets = targets.map(([name, value, target, met]) => ({ name, value, target, met }))
  results.cliRequestsPerExtraTag = cliPerExtraTag

  const rows = [['', 'tags', 'median s', 'requests']]
  for (const n of TAG_COUNTS)
    for (const who of ['action', 'cli']) {
      const r = p[`${who}-${n}`]
      rows.push([
        who === 'cli' ? 'plain docker CLI' : 'action',
        String(n),
        r.seconds.toFixed(2),
        String(r.requests)
      ])
    }
  const table = rows.map(
    r => `| ${r.map((c, i) => (i === 0 ? c.padEnd(16) : c.padStart(8))).join(' | ')} |`
  )
  console.log(`\nPublishing through a proxy adding ${DELAY_MS} ms each way (medians of ${RUNS}):\n`)
  console.log(table.join('\n'))
  console.log(
    `\nRequests per extra tag: action ${perExtraTag.toFixed(2)}, plain CLI ${cliPerExtraTag.toFixed(2)}`
  )
  console.log(
    `Unchanged republish, blob bytes uploaded: action ${results.republish.action.secondUploadBytes} (first publish ${results.republish.action.firstUploadBytes}), plain CLI ${results.republish.cli.secondUploadBytes}`
  )
  console.log(
    `Cold start: node dist/index.js with no work ${(results.coldStart.action * 1000).toFixed(0)} ms, node -e '' ${(results.coldStart.node * 1000).toFixed(0)} ms (×${(results.coldStart.action / results.coldStart.node).toFixed(2)})\n`
  )
  console.log('| target | value | wanted | met |')
  for (const t of results.targets)
    console.log(`| ${t.name} | ${t.value.toFixed(3)} | ${t.target} | ${t.met ? 'yes' : 'NO'} |`)
  writeFileSync(path.join(ROOT, 'bench-results.json'), JSON.stringify(results, null, 2) + '\n')
  console.log('\nFigures written to bench-results.json')
}

try {
  await main()
} finally {
  if (startedHere) spawnSync(envScript, ['stop'], { stdio: 'inherit' })
}
