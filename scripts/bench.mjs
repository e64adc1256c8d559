#!/usr/bin/env node
/**
 * npm run bench: what users pay on a real registry, measured on loopback.
 *
 * A proxy of our own sits in front of the real registry (the htpasswd one of scripts/e2e-env.sh)
 * and delays every chunk by DELAY_MS in each direction, pipelined (chunks keep flowing; each is
 * held back by the same delay, so throughput is kept). It parses the HTTP/1.1 framing of what the
 * clients send (Content-Length and chunked bodies) to count requests and blob-upload bytes exactly.
 *
 * Modes (first argument, or BENCH_MODE):
 *
 *   realistic (default)  An image made on the fly from real files of this machine (a toolchain, its
 *     documentation, a node_modules tree: three base layers, ~400 MB; loaded once into the engine
 *     and reused) plus a small app layer that changes every run. The action (main and post step,
 *     publishing it as its source-image) against `docker login` + `docker push` + `docker logout`,
 *     same engine and registry, interleaved, medians of RUNS:
 *       A        first publish to an empty repository (an engine that forgot its pushes);
 *       B fresh  app layer changed, engine that forgot its pushes (every GitHub-hosted job);
 *       C        nothing changed since the last push, on the machine that made it (docker
 *                remembers it; the action keeps that job's tool cache);
 *       B remembered  app layer changed, engine that remembers its pushes (self-hosted runner;
 *                the action keeps HOME and RUNNER_TOOL_CACHE between its runs too).
 *     "Forgot": dockerd restarted without its image/*\/distribution folder
 *     (scripts/e2e-env.sh forget-pushes when it has it, else the same steps here).
 *     Per case: wall time; CPU (action: node and the docker CLI it ran, from this process's
 *     children times; docker push: the CLI; both: the engine's, dockerd and its containerd, from
 *     /proc); blob bytes uploaded and requests (proxy); peak memory (action: node's max RSS;
 *     docker push: the engine's RSS growth); peak size of RUNNER_TEMP (action); where the
 *     action's time went, from the time each line of its log came (phasesOf). And the floor of B
 *     remembered: `docker save` of the same image read to the end (time, first byte, CPU).
 *     docker push reaches the proxy as localhost:PORT, the action as 127.0.0.1:PORT: the action
 *     never mounts layers from the repositories docker push filled.
 *   dockerfile  The whole step (build + publish) of a Dockerfile with default inputs: a fixture made
 *     once from real files of this machine (a toolchain, documentation, a node_modules tree: three
 *     COPY layers, ~400 MB; 8 MB each with --quick) over the engine's base image, plus a small app
 *     layer that changes every run. Each action of --action-dir (this checkout by default), run
 *     as the runner runs it (__tests__/support/action-runner.js), against (b) `docker buildx build
 *     --push` and (c) `docker build` + `docker push`, and (d) `docker buildx build --push` with the
 *     build cache a user would set up (containerd store: --cache-to/--cache-from
 *     type=registry,ref=IMAGE:buildcache,mode=max; classic store, where the docker driver exports
 *     no registry cache: --cache-to type=inline, --cache-from IMAGE:latest), each with its own
 *     login and logout and its own repository, interleaved (the order rotates every run), medians
 *     of RUNS:
 *       A        empty build cache, no push history, new repository;
 *       B fresh  the same but the repository holds the previous version (a GitHub-hosted job);
 *       B warm   app layer changed on a self-hosted runner: build cache, push history, ~/.docker
 *                (the action: HOME and the tool cache) kept;
 *       C        the same context again on that self-hosted runner.
 *     Per case and contender: wall time, CPU, bytes and requests, node's peak RSS, the engine's
 *     RSS growth, RUNNER_TEMP's peak, the layers whose digests the previous version had, the load
 *     average, and which way the action went (its log); every digest is checked against what the
 *     registry serves.
 *   big-layer  One image with a single ~1 GB layer of real files, published once by the action:
 *     node's peak memory (target ≤ 300 MB) and RUNNER_TEMP's peak.
 *   tags  The earlier comparison: 1, 5, 20 tags of a tiny image built by the action against the
 *     plain CLI building and pushing the same; an unchanged republish; cold start.
 *
 * Prints tables with the targets, and writes the figures under the mode's name in
 * bench-results.json (gitignored).
 *
 * Env: BENCH_RUNS (default 3), BENCH_DELAY_MS (default 50), BENCH_TAGS (tags mode, "1,5,20"),
 * BENCH_ENGINE (classic, modern or modern-classic: the engine scripts/e2e-env.sh starts; without
 * it, E2E_ENGINE / E2E_IMAGE_STORE as they are), BENCH_LOG_DIR (keep the action's timed logs),
 * BENCH_SOURCE=built (realistic mode: the source image built by BuildKit, stored compressed on the
 * containerd store, instead of docker-loaded from uncompressed tars), BENCH_PHASES (dockerfile mode: "warm,cold" by default; "cold" runs only A and B fresh, "warm"
 * only B warm and C), BENCH_RESULTS_FILE (instead of bench-results.json), BENCH_QUICK=1 (as
 * --quick), BENCH_CLI_TAGS
 * (dockerfile mode: "one" makes (b) and (c) push latest only, not the action's two default tags),
 * BENCH_WITH_CACHE=0 (dockerfile mode: without contender (d), buildx --push with a build cache),
 * BENCH_COLD (dockerfile mode: "new", the default, starts a new engine for every cold case;
 * "reset" keeps the engine and resets it, as every result up to 3f8be0f did),
 * E2E_DIR (the environment's folder; one started here is stopped at the end).
 */
import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import {
  copyFileSync,
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  rmSync,
  writeFileSync
} from 'node:fs'
import { lstat, readdir } from 'node:fs/promises'
import { createConnection, createServer } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
// The runner simulation, shared with the e2e harness.
import * as sim from '../__tests__/support/action-runner.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const DIST = path.join(ROOT, 'dist', 'index.js')
/**
 * The Node.js that runs the action: the runner's (action.yml says node24): E2E_NODE, else the one
 * scripts/test.sh installs into the cache, else this one.
 */
const ACTION_NODE = (() => {
  const cached = path.join(
    process.env.E2E_CACHE || '/var/cache/publish-container',
    'node24/node_modules/node/bin/node'
  )
  return process.env.E2E_NODE || (existsSync(cached) ? cached : process.execPath)
})()
const USAGE =
  'usage: npm run bench -- [realistic|dockerfile|big-layer|tags] [--mode MODE] [--quick] [--action-dir [NAME=]DIR ...]'
/** Command line: the mode (first word or --mode), --quick, --action-dir (repeatable). */
const ARGS = (() => {
  const out = { mode: undefined, quick: false, actionDirs: [] }
  const argv = process.argv.slice(2)
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = () => {
      if (a.includes('=') && a.startsWith('--')) return a.slice(a.indexOf('=') + 1)
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value\n${USAGE}`)
      return argv[++i]
    }
    if (a === '--quick') out.quick = true
    else if (a === '--mode' || a.startsWith('--mode=')) out.mode = value()
    else if (a === '--action-dir' || a.startsWith('--action-dir=')) out.actionDirs.push(value())
    else if (!a.startsWith('-') && out.mode === undefined) out.mode = a
    else {
      console.error(`unknown argument '${a}'\n${USAGE}`)
      process.exit(2)
    }
  }
  return out
})()
const MODE = ARGS.mode ?? process.env.BENCH_MODE ?? 'realistic'
const QUICK = ARGS.quick || process.env.BENCH_QUICK === '1'
const RUNS = Number(process.env.BENCH_RUNS ?? (QUICK ? 1 : 3))
const DELAY_MS = Number(process.env.BENCH_DELAY_MS ?? 50)
/** Dockerfile mode: which cases run (warm: B warm and C; cold: A and B fresh). */
const PHASES = (process.env.BENCH_PHASES ?? 'warm,cold').split(',')
/**
 * Dockerfile mode: contender (d), buildx --push with the build cache a user would set up (a
 * registry cache on the containerd store, inline on the classic one); BENCH_WITH_CACHE=0 leaves it out.
 */
const WITH_CACHE = process.env.BENCH_WITH_CACHE !== '0'
const TAG_COUNTS = (process.env.BENCH_TAGS ?? '1,5,20').split(',').map(Number)
const LAYER_BYTES = 512 * 1024
const MB = 1024 * 1024
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
/**
 * The tags (b) and (c) push in the Dockerfile mode: those the action pushes with default inputs
 * (latest and sha-<7> of the run's commit), unless BENCH_CLI_TAGS=one (latest only).
 */
const cliTags = sha =>
  process.env.BENCH_CLI_TAGS === 'one' ? ['latest'] : ['latest', `sha-${sha.slice(0, 7)}`]
/**
 * The commit a version of the Dockerfile fixture's app stands for: a changed app is a new commit
 * (its own sha-<7> tag and revision label), the same app the same commit (a re-run).
 */
const commitOf = app => createHash('sha1').update(`app ${app}`).digest('hex')
if (!['realistic', 'dockerfile', 'big-layer', 'tags'].includes(MODE)) {
  console.error(`${USAGE}   (got mode '${MODE}')`)
  process.exit(2)
}
/**
 * The actions measured in dockerfile mode: --action-dir [NAME=]DIR, each a checkout with its own
 * action.yml and built dist/index.js; this checkout's by default.
 */
const ACTIONS = (ARGS.actionDirs.length ? ARGS.actionDirs : [`action=${ROOT}`]).map(spec => {
  const eq = spec.indexOf('=')
  const dir = path.resolve(eq > 0 ? spec.slice(eq + 1) : spec)
  const name = eq > 0 ? spec.slice(0, eq) : path.basename(dir)
  if (
    !existsSync(path.join(dir, 'dist', 'index.js')) ||
    !existsSync(path.join(dir, 'action.yml'))
  ) {
    console.error(`--action-dir ${spec}: no action.yml and dist/index.js in ${dir}`)
    process.exit(2)
  }
  const git = args => spawnSync('git', ['-C', dir, ...args], { encoding: 'utf8' }).stdout.trim()
  const dirty = git(['status', '--porcelain', '--', 'dist', 'action.yml']) !== ''
  return { name, dir, commit: git(['rev-parse', '--short', 'HEAD']) + (dirty ? '+dirty' : '') }
})

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
    // A command that exits without reading its input: its status tells, not an EPIPE.
    child.stdin.on('error', () => undefined)
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
/** How a cold case's engine is made fresh: "new" (a new engine) or "reset" (see coldEngine). */
const COLD =
  process.env.BENCH_COLD === 'reset' || !/new-engine\)/.test(readFileSync(envScript, 'utf8'))
    ? 'reset'
    : 'new'

/**
 * BENCH_ENGINE picks the engine scripts/e2e-env.sh starts: classic (Debian 12's Docker 20.10, vfs),
 * modern (forky's Docker 28.5, containerd image store) or modern-classic (Docker 28.5, classic
 * image store: what Docker 25–28 users run). Without it, E2E_ENGINE / E2E_IMAGE_STORE as they are.
 */
const ENGINES = {
  classic: { E2E_ENGINE: 'classic' },
  modern: { E2E_ENGINE: 'modern', E2E_IMAGE_STORE: 'containerd' },
  'modern-classic': { E2E_ENGINE: 'modern', E2E_IMAGE_STORE: 'classic' }
}
if (process.env.BENCH_ENGINE) {
  const pick = ENGINES[process.env.BENCH_ENGINE]
  if (!pick) {
    console.error(
      `BENCH_ENGINE must be one of ${Object.keys(ENGINES).join(', ')}, not '${process.env.BENCH_ENGINE}'`
    )
    process.exit(2)
  }
  delete process.env.E2E_IMAGE_STORE
  Object.assign(process.env, pick)
}
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
// The modern engine's env file points DOCKER_CONFIG at a folder with its buildx plugin.
if (E2E.DOCKER_CONFIG) process.env.DOCKER_CONFIG = E2E.DOCKER_CONFIG
const ENGINE_NAME = `Docker ${E2E.E2E_ENGINE_VERSION} (${E2E.E2E_ENGINE} engine, ${E2E.E2E_IMAGE_STORE} image store${E2E.E2E_STORAGE_DRIVER ? `, ${E2E.E2E_STORAGE_DRIVER}` : ''})`

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
// What a run costs, beyond the proxy's counts: CPU, memory, temporary disk.

const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/** Fields of /proc/PID/stat after the command name: [0] is field 3 (state). */
function statFields(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  return text.slice(text.lastIndexOf(')') + 2).split(' ')
}
/** CPU seconds (user + sys) of a process itself. */
const ownCpu = pid => (Number(statFields(pid)[11]) + Number(statFields(pid)[12])) / TICK
/** CPU seconds of this process's children that have exited (and their waited-for children). */
const childrenCpu = () => {
  const f = statFields('self')
  return (Number(f[13]) + Number(f[14])) / TICK
}
const rssBytes = pid => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) * 1024 : 0
}
const childrenOf = pid => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
  } catch {
    return []
  }
}
const exeOf = pid => {
  try {
    return readlinkSync(`/proc/${pid}/exe`)
  } catch {
    return ''
  }
}
/** Every process under `pid`, itself included. */
const treeOf = pid => [pid, ...childrenOf(pid).flatMap(treeOf)]
/**
 * The engine's processes, whose CPU and memory count as the engine's: dockerd and what it runs
 * (the modern engine's containerd), and the classic engine's own containerd.
 */
const enginePids = () => {
  const pids = treeOf(dockerdPid())
  const ctr = path.join(E2E.E2E_DIR, 'containerd.pid')
  if (existsSync(ctr)) pids.push(Number(readFileSync(ctr, 'utf8').trim()))
  return pids
}
/** CPU seconds of each of `pids` that is still there. */
const cpuOf = pids =>
  Object.fromEntries(
    pids.flatMap(p => {
      try {
        return [[p, ownCpu(p)]]
      } catch {
        return []
      }
    })
  )
/** CPU used since `before` (from cpuOf) by the processes still there, and by new ones. */
const cpuSince = before => {
  const now = cpuOf(enginePids())
  return Object.entries(now).reduce((sum, [p, c]) => sum + c - (before[p] ?? 0), 0)
}
const engineRss = () =>
  enginePids().reduce((sum, p) => {
    try {
      return sum + rssBytes(p)
    } catch {
      return sum
    }
  }, 0)

/**
 * dockerd's pid: recorded in dockerd.pid (classic engine), or the dockerd under the modern
 * engine's namespace (modern.pid is its unshare, whose child is the namespace's init).
 */
const dockerdPid = () => {
  const classic = path.join(E2E.E2E_DIR, 'dockerd.pid')
  if (existsSync(classic)) return Number(readFileSync(classic, 'utf8').trim())
  const unshare = Number(readFileSync(path.join(E2E.E2E_DIR, 'modern.pid'), 'utf8').trim())
  for (const init of childrenOf(unshare))
    for (const pid of childrenOf(init)) if (/\/dockerd$/.test(exeOf(pid))) return pid
  throw new Error(`no dockerd under the modern engine's namespace (unshare pid ${unshare})`)
}

/** Apparent size of everything under `dir` (0 when it is gone). */
async function dirBytes(dir) {
  let total = 0
  let entries
  try {
    entries = await readdir(dir)
  } catch {
    return 0
  }
  for (const name of entries) {
    const p = path.join(dir, name)
    try {
      const st = await lstat(p)
      total += st.isDirectory() ? await dirBytes(p) : st.size
    } catch {
      // removed meanwhile
    }
  }
  return total
}

const sleep = ms => new Promise(r => setTimeout(r, ms))

/**
 * Runs `fn` and measures it: wall time, the proxy's requests and blob bytes, CPU of this process's
 * children (what `fn` ran) and of dockerd, dockerd's RSS growth and `tempDir`'s peak size (polled
 * every 100 ms). `fn` may return more figures (node's own, from the preload), merged in.
 */
async function measure(proxy, fn, { tempDir } = {}) {
  proxy.stats.requests.length = 0
  const cpu0 = childrenCpu()
  const d0 = cpuOf(enginePids())
  const rss0 = engineRss()
  let peakRss = rss0
  let peakTemp = 0
  let polling = true
  const poller = (async () => {
    while (polling) {
      try {
        peakRss = Math.max(peakRss, engineRss())
      } catch {
        // dockerd restarted (not within a measured run)
      }
      if (tempDir) peakTemp = Math.max(peakTemp, await dirBytes(tempDir))
      await sleep(100)
    }
  })()
  const t0 = process.hrtime.bigint()
  let extra
  try {
    extra = await fn()
  } finally {
    polling = false
    await poller
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  await sleep(DELAY_MS * 3) // let delayed bytes drain into the counter
  return {
    seconds,
    requests: proxy.stats.requests.length,
    uploadBytes: uploadBytes(proxy.stats.requests),
    clientCpu: childrenCpu() - cpu0,
    dockerdCpu: cpuSince(d0),
    dockerdRssGrowth: peakRss - rss0,
    peakTempBytes: peakTemp,
    ...(extra ?? {})
  }
}

/** Loaded into the action's node (NODE_OPTIONS=--require): its own CPU and max RSS, at exit. */
const PRELOAD = path.join(mkdtempSync(path.join(os.tmpdir(), 'bench-preload-')), 'rusage.cjs')
writeFileSync(
  PRELOAD,
  `process.on('exit', () => {
  const file = process.env.BENCH_RUSAGE_FILE
  if (!file) return
  const u = process.resourceUsage()
  require('fs').appendFileSync(file, JSON.stringify({ cpu: (u.userCPUTime + u.systemCPUTime) / 1e6, maxRssBytes: u.maxRSS * 1024 }) + '\\n')
})
`
)

// ---------------------------------------------------------------------------------------------
// An engine that forgets what it pushed (as on a fresh GitHub-hosted runner).

/**
 * dockerd restarted without its push history (image/<driver>/distribution: which registry
 * repository holds which layer digest). scripts/e2e-env.sh forget-pushes when it has that command;
 * else the same here: stop dockerd by its pid file, delete the folder, start it with the same
 * command line, wait until it answers.
 */
async function forgetPushes() {
  if (/forget-pushes\)/.test(readFileSync(envScript, 'utf8'))) {
    await runOk(envScript, ['forget-pushes'], { env: { ...process.env, E2E_DIR: E2E.E2E_DIR } })
    return
  }
  const pid = dockerdPid()
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  const exe = readlinkSync(`/proc/${pid}/exe`)
  if (!argv.some(a => a.includes(E2E.E2E_DIR + '/')) || !/dockerd/.test(exe)) {
    throw new Error(`pid ${pid} is not the dockerd of ${E2E.E2E_DIR}`)
  }
  process.kill(pid, 'SIGTERM')
  const gone = () => {
    try {
      return statFields(pid)[0] === 'Z'
    } catch {
      return true
    }
  }
  for (let i = 0; i < 300 && !gone(); i++) await sleep(100)
  if (!gone()) throw new Error(`dockerd (pid ${pid}) did not stop within 30 s`)
  const imageDir = path.join(E2E.E2E_DIR, 'docker-data', 'image')
  for (const driver of readdirSync(imageDir)) {
    rmSync(path.join(imageDir, driver, 'distribution'), { recursive: true, force: true })
  }
  const log = openSync(path.join(E2E.E2E_DIR, 'dockerd.log'), 'a')
  spawn(exe, argv.slice(1), { detached: true, stdio: ['ignore', log, log] }).unref()
  closeSync(log)
  for (let i = 0; i < 600; i++) {
    if ((await run('docker', ['info'])).status === 0) return
    await sleep(100)
  }
  throw new Error('dockerd did not answer within 60 s after its restart')
}

// ---------------------------------------------------------------------------------------------
// The two ways of publishing.

/**
 * A runner's folders (__tests__/support/action-runner.js, as the e2e harness has them): a
 * workspace, RUNNER_TEMP (fresh for every job, as on any runner), and HOME and RUNNER_TOOL_CACHE,
 * which a self-hosted runner keeps between jobs (`keep` gives the same ones to every job made from
 * it); `workspace` is a checkout of the caller's (the Dockerfile fixture) instead of an empty one.
 */
function newRunner(keep, workspace) {
  const dirs = sim.makeRunnerDirs({
    prefix: 'bench-runner-',
    keep: { home: keep?.home, toolCache: keep?.toolCache, workspace },
    cliPlugins: E2E.E2E_DOCKER_CLI_PLUGINS || undefined
  })
  return { ...dirs, dispose: () => rmSync(dirs.root, { recursive: true, force: true }) }
}

/**
 * The action as the runner runs it: the main step with INPUT_* over action.yml's defaults, then
 * the post step with what the main step saved (both through __tests__/support/action-runner.js).
 * `actionDir` is the checkout whose dist/index.js and action.yml run (this one by default);
 * `selfHosted` sets RUNNER_ENVIRONMENT as the runner does. Returns the outputs, the main step's
 * log lines (with their times), and node's own CPU and peak memory (main step) from the preload.
 */
async function runAction(
  runner,
  registry,
  inputs,
  { actionDir = ROOT, selfHosted = false, sha = EVENT.head_commit.id } = {}
) {
  const dist = path.join(actionDir, 'dist', 'index.js')
  // action.yml's runs.post: its own bundle since the post entry was split off (older builds: index.js).
  const postEntry = existsSync(path.join(actionDir, 'dist', 'post', 'index.js'))
    ? path.join(actionDir, 'dist', 'post', 'index.js')
    : dist
  const rusage = path.join(runner.root, 'rusage')
  writeFileSync(rusage, '')
  // A push of one commit to the default branch, as in a workflow run (the same for every run but
  // the Dockerfile mode's, where `sha` follows the app: a republish is a re-run on the same commit).
  const event = { ...EVENT, head_commit: { ...EVENT.head_commit, id: sha } }
  writeFileSync(path.join(runner.root, 'event.json'), JSON.stringify(event))
  const base = sim.runnerEnv(
    runner,
    {
      GITHUB_EVENT_NAME: 'push',
      GITHUB_EVENT_PATH: path.join(runner.root, 'event.json'),
      GITHUB_REF: 'refs/heads/main',
      GITHUB_SHA: sha,
      GITHUB_REPOSITORY: 'octo-org/bench',
      GITHUB_REPOSITORY_OWNER: 'octo-org',
      GITHUB_ACTOR: E2E.E2E_REGISTRY_USER,
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_API_URL: 'https://api.github.com',
      RUNNER_TOOL_CACHE: runner.toolCache,
      RUNNER_ENVIRONMENT: selfHosted ? 'self-hosted' : 'github-hosted',
      NODE_OPTIONS: `--require ${PRELOAD}`,
      BENCH_RUSAGE_FILE: rusage
    },
    { PATH: process.env.PATH, DOCKER_HOST: E2E.DOCKER_HOST }
  )
  const mainEnv = sim.withInputs(
    base,
    {
      registry,
      'registry-type': 'auto',
      username: E2E.E2E_REGISTRY_USER,
      token: E2E.E2E_REGISTRY_PASSWORD,
      push: 'true',
      ...inputs
    },
    actionDir
  )
  const cwd = runner.workspace
  const t0 = process.hrtime.bigint()
  const main = await sim.runStep(ACTION_NODE, dist, { cwd, env: mainEnv })
  if (main.code !== 0) throw new Error(`the action's main step failed (${main.code}):\n${main.out}`)
  const tMain = Number(process.hrtime.bigint() - t0) / 1e9
  const post = await sim.runStep(ACTION_NODE, postEntry, {
    cwd,
    env: sim.withState(base, runner.files.state)
  })
  if (post.code !== 0) throw new Error(`the action's post step failed (${post.code}):\n${post.out}`)
  const tPost = Number(process.hrtime.bigint() - t0) / 1e9 - tMain
  if (process.env.BENCH_LOG_DIR) {
    mkdirSync(process.env.BENCH_LOG_DIR, { recursive: true })
    writeFileSync(
      path.join(
        process.env.BENCH_LOG_DIR,
        `${inputs['image-name']}-${Date.now().toString(36)}.log`
      ),
      main.lines.map(l => `${l.t.toFixed(3).padStart(8)} ${l.text}`).join('\n') + '\n'
    )
  }
  const outputs = sim.parseFileCommand(readFileSync(runner.files.output, 'utf8'))
  const usage = readFileSync(rusage, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(l => JSON.parse(l))
  return {
    digest: outputs.digest,
    image: outputs.image,
    labels: JSON.parse(outputs.metadata ?? '{}').labels ?? {},
    nodeCpu: usage.reduce((s, u) => s + u.cpu, 0),
    nodeMaxRssBytes: usage[0]?.maxRssBytes ?? 0,
    lines: main.lines,
    phases: phasesOf(main.lines, tMain, tPost)
  }
}

/**
 * Where the main step's time went, from its log (seconds):
 *   start    node starting, inputs, login: up to the push's group;
 *   learn    docker image inspect and what the registry holds: up to `docker save` (or to the
 *            "Unchanged" line when the save is skipped);
 *   save     docker save read through, new layers compressed and uploaded, config and manifest
 *            PUT: up to the push's summary line;
 *   finish   the rest of the main step (tags read back, job summary);
 *   post     the post step.
 */
function phasesOf(lines, total, post) {
  const at = re => lines.find(l => re.test(l.text))?.t
  const push = at(/^::group::Push /)
  const save = at(/^\[command\]docker save /) ?? at(/^Unchanged: /)
  const summary = at(/^\d+ layer\(s\): /) ?? at(/^Unchanged: /)
  if (push === undefined || save === undefined || summary === undefined) return undefined
  return { start: push, learn: save - push, save: summary - save, finish: total - summary, post }
}

/** A docker CLI with a config folder of its own (login … logout, as a workflow would). */
function dockerCli() {
  const config = mkdtempSync(path.join(os.tmpdir(), 'bench-docker-config-'))
  const docker = (args, input) => runOk('docker', ['--config', config, ...args], { input })
  docker.dispose = () => rmSync(config, { recursive: true, force: true })
  return docker
}

/** `docker login`, `docker push` of each reference, `docker logout`. */
async function loginPushLogout(docker, registry, refs) {
  await docker(
    ['login', registry, '--username', E2E.E2E_REGISTRY_USER, '--password-stdin'],
    E2E.E2E_REGISTRY_PASSWORD
  )
  for (const ref of refs) await docker(['push', ref])
  await docker(['logout', registry])
}

/** The digest a reference has on the registry itself (not through the proxy). */
async function registryDigest(ref) {
  const r = await runOk('skopeo', [
    'inspect',
    '--tls-verify=false',
    '--creds',
    `${E2E.E2E_REGISTRY_USER}:${E2E.E2E_REGISTRY_PASSWORD}`,
    `docker://${ref}`
  ])
  return JSON.parse(r.stdout).Digest
}

// ---------------------------------------------------------------------------------------------
// Images from real files.

async function hashFile(file) {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk)
  return 'sha256:' + hash.digest('hex')
}

const duBytes = p => Number(sh('du', ['-sb', p]).split('\t')[0])

/**
 * Existing folders from `candidates`, in order, until they add up to `atLeast` bytes (the
 * machine's own files: binaries, documentation, JavaScript, as compressible as in life).
 */
function pickFolders(candidates, atLeast) {
  const picked = []
  let bytes = 0
  for (const c of candidates) {
    if (bytes >= atLeast) break
    if (!existsSync(c)) continue
    picked.push(c)
    bytes += duBytes(c)
  }
  return { paths: picked, bytes }
}

/**
 * Loads an image made of layers of real files into the engine (a tar in `docker save` format:
 * one layer tar per spec, a config naming their diff_ids, manifest.json), unless it is there.
 * `rename` moves a folder inside the image ("work/main/node_modules" → "srv/app/node_modules").
 */
async function loadImage(ref, specs) {
  if ((await run('docker', ['image', 'inspect', ref])).status === 0) return false
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-image-'))
  try {
    const diffIds = []
    const files = []
    for (const [i, spec] of specs.entries()) {
      const file = `layer${i}.tar`
      const args = ['-C', '/', '--numeric-owner', '-cf', path.join(dir, file)]
      for (const [from, to] of spec.rename ?? []) args.push(`--transform=s,^${from},${to},`)
      args.push(...spec.paths.map(p => p.replace(/^\/+/, '')))
      await runOk('tar', args)
      diffIds.push(await hashFile(path.join(dir, file)))
      files.push(file)
    }
    const config = {
      architecture: { x64: 'amd64', arm64: 'arm64' }[os.arch()] ?? os.arch(),
      os: 'linux',
      created: '2026-01-01T00:00:00Z',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: specs.map(s => ({ created: '2026-01-01T00:00:00Z', created_by: s.name }))
    }
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config))
    writeFileSync(
      path.join(dir, 'manifest.json'),
      JSON.stringify([{ Config: 'config.json', RepoTags: [ref], Layers: files }])
    )
    await runOk('sh', ['-c', 'tar -C "$1" -cf - . | docker load', 'sh', dir])
    return true
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const BASE_IMAGE = 'bench/realistic-base:1'

/** The base: three layers of real files, ≥ 300 MB together. */
function baseLayers() {
  const nodeModules = realpathSync(path.join(ROOT, 'node_modules'))
  const layers = [
    {
      name: 'toolchain',
      ...pickFolders(
        ['/usr/lib/gcc', '/usr/lib/python3.11', '/usr/lib/python3', '/usr/libexec', '/usr/bin'],
        110 * MB
      )
    },
    {
      name: 'documentation',
      ...pickFolders(
        ['/usr/share/doc', '/usr/share/man', '/usr/share/locale', '/usr/share/vim'],
        110 * MB
      )
    },
    {
      name: 'node_modules',
      paths: [nodeModules],
      bytes: duBytes(nodeModules),
      rename: [[nodeModules.replace(/^\/+/, ''), 'srv/app/node_modules']]
    }
  ]
  const total = layers.reduce((s, l) => s + l.bytes, 0)
  if (total < 300 * MB || layers.some(l => !l.paths.length)) {
    throw new Error(
      `not enough real files for the base image (${(total / MB).toFixed(0)} MB of the 300 wanted): ${JSON.stringify(layers)}`
    )
  }
  return layers
}

/**
 * BENCH_SOURCE=built (realistic mode): the base is built by BuildKit from the Dockerfile
 * fixture's files (`docker buildx build`, the docker driver: stored compressed on the containerd
 * store, as an image a workflow built earlier is) instead of `docker load`ed from uncompressed
 * tars, and the app layer is built by BuildKit too.
 */
const SOURCE_BUILT = process.env.BENCH_SOURCE === 'built'
const BUILT_BASE = 'bench/realistic-base:built'

async function buildBase() {
  if ((await run('docker', ['image', 'inspect', BUILT_BASE])).status === 0) return false
  const fixture = await dockerfileFixture()
  const dockerfile = [
    `FROM ${E2E.E2E_BASE_IMAGE}`,
    'COPY toolchain /opt/toolchain/',
    'COPY docs /usr/share/bench-docs/',
    'COPY node_modules /srv/app/node_modules/',
    ''
  ].join('\n')
  await runOk('docker', ['buildx', 'build', '-q', '-t', BUILT_BASE, '-f', '-', fixture.dir], {
    input: dockerfile
  })
  return true
}

/** A small app layer over the base, different every time (its code, a build stamp). */
async function buildApp(ref) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-app-'))
  try {
    mkdirSync(path.join(dir, 'app'))
    copyFileSync(DIST, path.join(dir, 'app', 'index.js'))
    writeFileSync(path.join(dir, 'app', 'build.txt'), `${randomBytes(16).toString('hex')}\n`)
    const base = SOURCE_BUILT ? BUILT_BASE : BASE_IMAGE
    writeFileSync(path.join(dir, 'Dockerfile'), `FROM ${base}\nCOPY app /srv/app/\n`)
    if (SOURCE_BUILT) await runOk('docker', ['buildx', 'build', '-q', '-t', ref, dir])
    else
      await runOk('docker', ['build', '-q', '-t', ref, dir], {
        env: { ...process.env, DOCKER_BUILDKIT: '0' }
      })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return ref
}

const CASES = [
  ['A', 'A: first publish, empty repository'],
  ['Bfresh', 'B: app layer changed, engine forgot its pushes'],
  ['C', 'C: nothing changed'],
  ['Bremembered', 'B: app layer changed, engine remembers its pushes']
]

async function benchRealistic(proxy) {
  const layers = baseLayers()
  console.error(
    `bench: base image ${BASE_IMAGE}: ${layers.map(l => `${l.name} ${(l.bytes / MB).toFixed(0)} MB (${l.paths.join(' ')})`).join('; ')}`
  )
  const t0 = Date.now()
  if (SOURCE_BUILT ? await buildBase() : await loadImage(BASE_IMAGE, layers))
    console.error(
      `bench: base image ${SOURCE_BUILT ? `${BUILT_BASE} built by BuildKit` : 'loaded'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`
    )
  const stamp = Date.now().toString(36)
  const reg = proxy.address
  // docker push names the same proxy `localhost:PORT`: the RepoDigests its pushes leave on an
  // image are then of another registry name, so the action never mounts layers from the
  // repositories docker push filled in the same run (it would, from the same registry).
  const cliReg = reg.replace(/^127\.0\.0\.1:/, 'localhost:')
  const repo = (name, who) => `real-${name}-${stamp}${who === 'cli' ? '-cli' : ''}`
  // The self-hosted runner of B remembered keeps HOME and its tool cache between jobs.
  const selfHosted = newRunner()
  const apps = []
  const app = async () => {
    const ref = `bench/realistic-app:${stamp}-${apps.length}`
    apps.push(ref)
    return buildApp(ref)
  }

  /** One publish by `who`, measured; the action's digest checked against the registry. */
  const publish = async (who, image, name, { keep } = {}) => {
    if (who === 'action') {
      const runner = newRunner(keep === true ? selfHosted : keep || undefined)
      try {
        const sample = await measure(
          proxy,
          async () => {
            // B remembered is a self-hosted runner (RUNNER_ENVIRONMENT says so to the route).
            const r = await runAction(
              runner,
              reg,
              { 'image-name': name, tags: 'latest', 'source-image': image },
              { selfHosted: keep === true }
            )
            return {
              digest: r.digest,
              nodeCpu: r.nodeCpu,
              nodeMaxRssBytes: r.nodeMaxRssBytes,
              phases: r.phases
            }
          },
          { tempDir: runner.temp }
        )
        const served = await registryDigest(`${E2E.E2E_REGISTRY}/octo-org/${name}:latest`)
        if (served !== sample.digest)
          throw new Error(`action output ${sample.digest}, registry serves ${served} for ${name}`)
        return sample
      } finally {
        runner.dispose()
      }
    }
    const docker = dockerCli()
    try {
      const ref = `${cliReg}/octo-org/${name}:latest`
      await docker(['tag', image, ref])
      return await measure(proxy, () => loginPushLogout(docker, cliReg, [ref]))
    } finally {
      docker.dispose()
    }
  }

  // The repositories of B and C hold an earlier version of the app, pushed by each (untimed).
  const first = await app()
  for (const who of ['action', 'cli']) await publish(who, first, repo('b', who))

  const samples = Object.fromEntries(CASES.map(([k]) => [k, { action: [], cli: [] }]))
  const saves = []
  const note = (kase, who, i, s) =>
    console.error(
      `bench: ${kase} ${who} run ${i + 1}: ${s.seconds.toFixed(2)} s, ${(s.uploadBytes / MB).toFixed(1)} MB up, ${s.requests} requests`
    )
  // The machine's 1-minute load average every 10 s: how noisy the figures are.
  const loadSamples = [os.loadavg()[0]]
  const loadTimer = setInterval(() => loadSamples.push(os.loadavg()[0]), 10_000)
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, and the order flips every run.
    const order = i % 2 === 0 ? ['action', 'cli'] : ['cli', 'action']
    const each = async (kase, image, name, { forget, keep } = {}) => {
      for (const who of order) {
        // Both: the action's route may take the engine's push too (publish/route.ts).
        if (forget) await forgetPushes()
        const s = await publish(who, image, name(who), { keep })
        samples[kase][who].push(s)
        note(kase, who, i, s)
      }
    }
    await each('A', await app(), who => repo(`a${i}`, who), { forget: true })
    const changed = await app()
    // C republishes on the machine that just pushed: docker remembers that push, and the action
    // keeps that job's tool cache (a fresh one for B fresh, as on a GitHub-hosted runner).
    const sameMachine = newRunner()
    await each('Bfresh', changed, who => repo('b', who), { forget: true, keep: sameMachine })
    await each('C', changed, who => repo('b', who), { keep: sameMachine })
    sameMachine.dispose()
    const remembered = await app()
    await each('Bremembered', remembered, who => repo('b', who), { keep: true })
    // The floor of B remembered on an engine whose save writes the whole image first.
    const floor = await measure(proxy, () => saveToNull(remembered))
    saves.push(floor)
    console.error(
      `bench: docker save run ${i + 1}: ${floor.seconds.toFixed(2)} s (first byte after ${floor.firstByteSeconds.toFixed(2)} s), ${(floor.bytes / MB).toFixed(0)} MB`
    )
    // vfs keeps a full copy of the file system per image: drop the ones done with.
    const old = apps.splice(0, apps.length - 1)
    if (old.length) await run('docker', ['image', 'rm', ...old])
  }
  await run('docker', ['image', 'rm', ...apps])
  selfHosted.dispose()

  clearInterval(loadTimer)
  const loads = {
    min: Math.min(...loadSamples),
    median: median(loadSamples),
    max: Math.max(...loadSamples)
  }
  const med = (xs, f) => median(xs.map(f))
  const results = {
    delayMs: DELAY_MS,
    runs: RUNS,
    baseLayers: layers.map(l => ({ name: l.name, bytes: l.bytes, paths: l.paths })),
    cases: {}
  }
  for (const [k, title] of CASES) {
    results.cases[k] = { title }
    for (const who of ['action', 'cli']) {
      const xs = samples[k][who]
      results.cases[k][who] = {
        seconds: med(xs, s => s.seconds),
        cpuSeconds: med(xs, s => s.clientCpu + s.dockerdCpu),
        clientCpuSeconds: med(xs, s => s.clientCpu),
        dockerdCpuSeconds: med(xs, s => s.dockerdCpu),
        nodeCpuSeconds: who === 'action' ? med(xs, s => s.nodeCpu) : undefined,
        uploadBytes: med(xs, s => s.uploadBytes),
        requests: med(xs, s => s.requests),
        peakMemoryBytes:
          who === 'action' ? med(xs, s => s.nodeMaxRssBytes) : med(xs, s => s.dockerdRssGrowth),
        dockerdRssGrowthBytes: med(xs, s => s.dockerdRssGrowth),
        peakTempBytes: who === 'action' ? med(xs, s => s.peakTempBytes) : undefined,
        samples: xs
      }
    }
  }
  results.saveFloor = {
    title: 'docker save > /dev/null of the B remembered image',
    seconds: med(saves, s => s.seconds),
    firstByteSeconds: med(saves, s => s.firstByteSeconds),
    cpuSeconds: med(saves, s => s.clientCpu + s.dockerdCpu),
    clientCpuSeconds: med(saves, s => s.clientCpu),
    dockerdCpuSeconds: med(saves, s => s.dockerdCpu),
    bytes: med(saves, s => s.bytes),
    samples: saves
  }
  const phaseNames = ['start', 'learn', 'save', 'finish', 'post']
  for (const [k] of CASES) {
    const xs = samples[k].action.filter(s => s.phases)
    if (xs.length)
      results.cases[k].action.phases = Object.fromEntries(
        phaseNames.map(n => [n, med(xs, s => s.phases[n])])
      )
  }
  results.engine = ENGINE_NAME
  results.load = loads
  const ratio = k => results.cases[k].action.seconds / results.cases[k].cli.seconds
  results.targets = [
    ['A: action / docker push, wall time', ratio('A'), '≤ 1.0', ratio('A') <= 1.0],
    ['B forgot: action / docker push', ratio('Bfresh'), '≤ 0.35', ratio('Bfresh') <= 0.35],
    [
      'B remembered: action / docker push',
      ratio('Bremembered'),
      '≤ 2.5',
      ratio('Bremembered') <= 2.5
    ]
  ].map(([name, value, target, met]) => ({ name, value, target, met }))

  const f1 = x => x.toFixed(1)
  const rows = [
    [
      'case',
      'who',
      'wall s',
      'CPU s (client+dockerd)',
      'up MB',
      'requests',
      'peak mem MB',
      'temp MB'
    ]
  ]
  for (const [k, title] of CASES) {
    for (const who of ['action', 'cli']) {
      const r = results.cases[k][who]
      rows.push([
        who === 'action' ? title : '',
        who === 'action' ? 'action' : 'docker push',
        r.seconds.toFixed(2),
        `${f1(r.cpuSeconds)} (${f1(r.clientCpuSeconds)}+${f1(r.dockerdCpuSeconds)})`,
        f1(r.uploadBytes / MB),
        String(r.requests),
        f1(r.peakMemoryBytes / MB),
        r.peakTempBytes === undefined ? '' : f1(r.peakTempBytes / MB)
      ])
    }
  }
  {
    const f = results.saveFloor
    rows.push([
      'floor of B remembered: docker save > /dev/null',
      'docker save',
      f.seconds.toFixed(2),
      `${f1(f.cpuSeconds)} (${f1(f.clientCpuSeconds)}+${f1(f.dockerdCpuSeconds)})`,
      '',
      '',
      '',
      ''
    ])
  }
  const total = layers.reduce((s, l) => s + l.bytes, 0)
  console.log(
    `\nEngine: ${ENGINE_NAME}; 1-min load average during the runs: min ${loads.min.toFixed(1)}, median ${loads.median.toFixed(1)}, max ${loads.max.toFixed(1)} (2 cores)`
  )
  console.log(
    `\nRealistic image: ${layers.map(l => `${l.name} ${(l.bytes / MB).toFixed(0)} MB`).join(', ')} (${(total / MB).toFixed(0)} MB) + a small app layer; through a proxy adding ${DELAY_MS} ms each way; medians of ${RUNS}, interleaved.`
  )
  console.log(
    "peak mem: the action's node (max RSS, main step); docker push: dockerd's RSS growth. temp: RUNNER_TEMP's peak size.\n"
  )
  console.log(markdownTable(rows))
  console.log(
    `\ndocker save's first byte came after ${results.saveFloor.firstByteSeconds.toFixed(2)} s of ${results.saveFloor.seconds.toFixed(2)} s (${(results.saveFloor.bytes / MB).toFixed(0)} MB).`
  )
  console.log("\nWhere the action's time went (s, medians; see phasesOf):\n")
  console.log(
    markdownTable([
      ['case', ...phaseNames],
      ...CASES.filter(([k]) => results.cases[k].action.phases).map(([k, title]) => [
        title,
        ...phaseNames.map(n => results.cases[k].action.phases[n].toFixed(2))
      ])
    ])
  )
  console.log('')
  console.log(
    markdownTable([
      ['target', 'value', 'wanted', 'met'],
      ...results.targets.map(t => [t.name, t.value.toFixed(2), t.target, t.met ? 'yes' : 'NO'])
    ])
  )
  const floorRatio = results.saveFloor.seconds / results.cases.Bremembered.cli.seconds
  console.log(
    `\nB remembered: docker save alone / docker push = ${floorRatio.toFixed(2)}; action / docker save = ${(results.cases.Bremembered.action.seconds / results.saveFloor.seconds).toFixed(2)}`
  )
  results.saveFloor.ratioToDockerPush = floorRatio
  return results
}

/** `docker save IMAGE`, read and thrown away: when the first byte came, and how many. */
function saveToNull(image) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const child = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'pipe'] })
    let first
    let bytes = 0
    let stderr = ''
    child.stdout.on('data', d => {
      first ??= Number(process.hrtime.bigint() - t0) / 1e9
      bytes += d.length
    })
    child.stderr.on('data', d => (stderr += d))
    child.on('error', reject)
    child.on('close', status =>
      status === 0
        ? resolve({ firstByteSeconds: first ?? 0, bytes })
        : reject(new Error(`docker save ${image} failed (${status}): ${stderr}`))
    )
  })
}

/** The action publishing one image with a single ~1 GB layer: node's peak memory. */
async function benchBigLayer(proxy) {
  const layer = {
    name: 'big',
    ...pickFolders(
      [
        '/usr/lib/x86_64-linux-gnu',
        '/usr/lib/aarch64-linux-gnu',
        '/usr/lib/llvm-14',
        '/usr/lib/jvm',
        '/usr/lib/gcc',
        '/usr/share',
        '/usr/lib'
      ],
      1024 * MB
    )
  }
  if (layer.bytes < 1000 * MB)
    throw new Error(`only ${(layer.bytes / MB).toFixed(0)} MB of real files for the 1 GB layer`)
  const ref = 'bench/big-layer:1'
  console.error(
    `bench: ${ref}: one layer of ${(layer.bytes / MB).toFixed(0)} MB (${layer.paths.join(' ')})`
  )
  await loadImage(ref, [layer])
  const samples = []
  for (let i = 0; i < Math.min(RUNS, 2); i++) {
    const runner = newRunner()
    try {
      const name = `big-${Date.now().toString(36)}`
      const s = await measure(
        proxy,
        async () => {
          const r = await runAction(runner, proxy.address, {
            'image-name': name,
            tags: 'latest',
            'source-image': ref
          })
          return { digest: r.digest, nodeCpu: r.nodeCpu, nodeMaxRssBytes: r.nodeMaxRssBytes }
        },
        { tempDir: runner.temp }
      )
      samples.push(s)
      console.error(
        `bench: big layer run ${i + 1}: ${s.seconds.toFixed(1)} s, node max RSS ${(s.nodeMaxRssBytes / MB).toFixed(0)} MB`
      )
    } finally {
      runner.dispose()
    }
  }
  const peak = Math.max(...samples.map(s => s.nodeMaxRssBytes))
  const results = {
    delayMs: DELAY_MS,
    layerBytes: layer.bytes,
    paths: layer.paths,
    nodeMaxRssBytes: peak,
    peakTempBytes: Math.max(...samples.map(s => s.peakTempBytes)),
    seconds: median(samples.map(s => s.seconds)),
    uploadBytes: median(samples.map(s => s.uploadBytes)),
    target: {
      name: 'node peak memory, 1 GB layer',
      value: peak / MB,
      target: '≤ 300 MB',
      met: peak <= 300 * MB
    },
    samples
  }
  console.log(
    `\nOne ${(layer.bytes / MB).toFixed(0)} MB layer of real files, published by the action (fresh repository):\n`
  )
  console.log(
    markdownTable([
      ['wall s', 'node CPU s', 'up MB', 'node peak mem MB', 'temp MB', 'target ≤ 300 MB'],
      [
        results.seconds.toFixed(1),
        median(samples.map(s => s.nodeCpu)).toFixed(1),
        (results.uploadBytes / MB).toFixed(1),
        (peak / MB).toFixed(0),
        (results.peakTempBytes / MB).toFixed(0),
        results.target.met ? 'met' : 'NOT met'
      ]
    ])
  )
  await run('docker', ['image', 'rm', ref])
  return results
}

function markdownTable(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map(r => String(r[c]).length)))
  const line = r => `| ${r.map((cell, c) => String(cell).padEnd(widths[c])).join(' | ')} |`
  return [
    line(rows[0]),
    `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.slice(1).map(line)
  ].join('\n')
}

// ---------------------------------------------------------------------------------------------
// dockerfile mode: the whole step (build + publish) of a Dockerfile, against (b) and (c).

/**
 * Copies the files under `from` (sorted by path) into `to` until they add up to `cap` bytes:
 * real files of this machine, as compressible as in life. Returns the bytes copied.
 */
async function copyCapped(from, to, cap) {
  const listed = sh('find', [from, '-type', 'f', '-printf', '%s %P\\0'], { maxBuffer: 256 << 20 })
    .split('\0')
    .filter(Boolean)
    .map(l => ({ size: Number(l.slice(0, l.indexOf(' '))), rel: l.slice(l.indexOf(' ') + 1) }))
    .sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0))
  const picked = []
  let bytes = 0
  for (const f of listed) {
    if (bytes + f.size > cap) continue
    picked.push(f.rel)
    bytes += f.size
  }
  mkdirSync(to, { recursive: true })
  const list = path.join(to, '..', `.${path.basename(to)}.list`)
  writeFileSync(list, picked.join('\0'))
  await runOk('sh', [
    '-c',
    'tar -C "$1" --null -T "$2" -cf - | tar -C "$3" -xf -',
    'sh',
    from,
    list,
    to
  ])
  rmSync(list)
  return bytes
}

/**
 * The Dockerfile fixture, made once per size in the temporary folder and reused: three COPY
 * layers of real files (a toolchain, documentation, a node_modules tree: ~130 MB each, or 8 MB
 * with --quick) over the engine's base image, and a small app layer (app/: this action's bundle
 * and a stamp) that writeApp changes.
 */
async function dockerfileFixture() {
  const cap = QUICK ? 8 * MB : 130 * MB
  const dir = path.join(os.tmpdir(), `bench-dockerfile-fixture-${QUICK ? 'quick' : 'full'}`)
  const done = path.join(dir, '.complete.json')
  if (existsSync(done)) return { dir, ...JSON.parse(readFileSync(done, 'utf8')) }
  rmSync(dir, { recursive: true, force: true })
  const nodeModules = realpathSync(path.join(ROOT, 'node_modules'))
  const layers = [
    { name: 'toolchain', from: ['/usr/lib/gcc', '/usr/libexec', '/usr/lib/python3'] },
    { name: 'docs', from: ['/usr/share/doc', '/usr/share/man', '/usr/share/locale'] },
    { name: 'node_modules', from: [nodeModules] }
  ]
  for (const layer of layers) {
    layer.bytes = 0
    layer.paths = []
    for (const from of layer.from.filter(existsSync)) {
      if (layer.bytes >= cap * 0.95) break
      layer.bytes += await copyCapped(
        from,
        path.join(dir, layer.name, path.basename(from)),
        cap - layer.bytes
      )
      layer.paths.push(from)
    }
    delete layer.from
  }
  const total = layers.reduce((s, l) => s + l.bytes, 0)
  if (total < cap * 2.5)
    throw new Error(`not enough real files for the fixture: ${JSON.stringify(layers)}`)
  writeFileSync(
    path.join(dir, 'Dockerfile'),
    [
      `FROM ${E2E.E2E_BASE_IMAGE}`,
      'COPY toolchain /opt/toolchain/',
      'COPY docs /usr/share/bench-docs/',
      'COPY node_modules /srv/app/node_modules/',
      'COPY app /srv/app/',
      'CMD ["/bin/sh"]',
      ''
    ].join('\n')
  )
  mkdirSync(path.join(dir, 'app'))
  copyFileSync(DIST, path.join(dir, 'app', 'index.js'))
  writeFileSync(done, JSON.stringify({ layers }))
  return { dir, layers }
}

/** The app layer's content: `stamp` in app/build.txt (a new one for every changed version). */
const writeApp = (fixture, stamp) =>
  writeFileSync(path.join(fixture.dir, 'app', 'build.txt'), `${stamp}\n`)

/** What the registry itself serves for `ref` (not through the proxy): digest and layer digests. */
async function served(ref) {
  const creds = `${E2E.E2E_REGISTRY_USER}:${E2E.E2E_REGISTRY_PASSWORD}`
  const raw = await run('skopeo', [
    'inspect',
    '--raw',
    '--tls-verify=false',
    '--creds',
    creds,
    `docker://${ref}`
  ])
  if (raw.status !== 0) return undefined
  const digest = 'sha256:' + createHash('sha256').update(raw.stdout).digest('hex')
  const info = await runOk('skopeo', [
    'inspect',
    '--tls-verify=false',
    '--creds',
    creds,
    `docker://${ref.replace(/:[^:/]+$/, '')}@${digest}`
  ])
  return { digest, layers: JSON.parse(info.stdout).Layers ?? [] }
}

/**
 * A docker CLI config folder for (b) and (c): where the engine's CLI plugins (buildx) are found.
 * A fresh runner gets a new one every job; a self-hosted runner keeps its own (`~/.docker`, with
 * buildx's node ID, so BuildKit sends only what changed in the context).
 */
function cliConfig() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-docker-config-'))
  if (E2E.E2E_DOCKER_CLI_PLUGINS)
    writeFileSync(
      path.join(dir, 'config.json'),
      JSON.stringify({ cliPluginsExtraDirs: [E2E.E2E_DOCKER_CLI_PLUGINS] })
    )
  return dir
}

/**
 * The engine as a fresh job finds it: no build cache, no push history, no images but the base.
 * BENCH_COLD=new (the default, where scripts/e2e-env.sh has new-engine): a new engine, its data
 * removed, started again with the base image only (a GitHub-hosted job's new VM). BENCH_COLD=reset
 * (every result up to 3f8be0f): the same engine with its images removed, its build cache
 * pruned and its push history forgotten; on the classic store a run then depends on what ran
 * before it (docs/benchmark.md).
 */
async function coldEngine() {
  const t0 = Date.now()
  if (COLD === 'new') {
    await runOk(envScript, ['new-engine'], { env: { ...process.env, E2E_DIR: E2E.E2E_DIR } })
    console.error(`bench: new engine in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    return
  }
  const images = (
    await runOk('docker', ['image', 'ls', '--format', '{{.ID}} {{.Repository}}'])
  ).stdout
    .split('\n')
    .filter(l => l && !l.endsWith(` ${E2E.E2E_BASE_IMAGE.split(':')[0]}`))
    .map(l => l.split(' ')[0])
  if (images.length) await run('docker', ['image', 'rm', '-f', ...new Set(images)])
  await runOk('docker', ['builder', 'prune', '-af'])
  await forgetPushes()
  console.error(`bench: cold engine in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
}

const DOCKERFILE_CASES = [
  ['A', 'A: first build + publish, empty build cache, new repository', 'cold'],
  ['Bfresh', 'B fresh: app changed, empty build cache, no push history', 'cold'],
  ['Bwarm', 'B warm self-hosted: app changed, build cache, push history, ~/.docker kept', 'warm'],
  ['C', 'C unchanged: the same context again, on the machine that published it', 'warm']
]

/** The line of the action's log that says which way the image went (see the issue's rule). */
function routeOf(lines) {
  const said = lines.find(l => /^(Route|Publishing):/.test(l.text))
  if (said) return said.text
  const groups = lines
    .map(l => l.text)
    .filter(t => /^::group::(Build|Push|Tag)\b/.test(t) || /docker push|BuildKit/.test(t))
    .map(t => t.replace(/^::group::/, ''))
  return groups.join(' → ')
}

async function benchDockerfile(proxy) {
  const fixture = await dockerfileFixture()
  console.error(
    `bench: Dockerfile fixture ${fixture.dir}: ${fixture.layers.map(l => `${l.name} ${(l.bytes / MB).toFixed(0)} MB (${l.paths.join(' ')})`).join('; ')}`
  )
  const stamp = Date.now().toString(36)
  const reg = proxy.address
  // (b) and (c) name the proxy localhost:PORT: the RepoDigests their pushes leave are of another
  // registry name, so the action never mounts layers they uploaded in the same run.
  const cliReg = reg.replace(/^127\.0\.0\.1:/, 'localhost:')
  const contenders = [
    ...ACTIONS.map(a => ({ key: a.name, kind: 'action', action: a })),
    { key: 'b', kind: 'buildx-push', title: '(b) docker buildx build --push' },
    { key: 'c', kind: 'build-push', title: '(c) docker build && docker push' },
    // (d): what a user who set up a build cache runs (issue 20's "with a registry cache"). The
    // docker driver exports a registry cache only on the containerd store; on the classic store
    // the cache a user can have is inline, read back from the image itself.
    ...(WITH_CACHE
      ? [
          {
            key: 'd',
            kind: 'buildx-cache',
            title:
              E2E.E2E_IMAGE_STORE === 'containerd'
                ? '(d) buildx --push, registry cache (mode=max)'
                : '(d) buildx --push, inline cache from the image'
          }
        ]
      : [])
  ]
  for (const c of contenders) {
    c.title ??= `action ${c.action.name} (${c.action.commit})`
    // The self-hosted machine each contender keeps: the action's HOME and tool cache, the CLI's
    // ~/.docker.
    c.selfHosted = c.kind === 'action' ? newRunner(undefined, fixture.dir) : { config: cliConfig() }
    c.repo = kase => `df-${kase}-${c.key}-${stamp}`.toLowerCase().replace(/[^a-z0-9-]/g, '-')
  }

  /**
   * One build + publish by `c` of the fixture with app stamp `app`, to repository `name`,
   * measured; `machine` is 'fresh' (a new runner / ~/.docker) or 'kept' (c's self-hosted one).
   * Checks the digest against what the registry serves, and counts the layers kept from the
   * version the repository held before.
   */
  const publish = async (c, name, app, machine) => {
    writeApp(fixture, app)
    const registryRef = `${E2E.E2E_REGISTRY}/octo-org/${name}:latest`
    const before = await served(registryRef)
    let digest
    let route = ''
    let sample
    if (c.kind === 'action') {
      const runner = newRunner(machine === 'kept' ? c.selfHosted : undefined, fixture.dir)
      try {
        sample = await measure(
          proxy,
          async () => {
            const r = await runAction(
              runner,
              reg,
              { 'image-name': name },
              { actionDir: c.action.dir, selfHosted: machine === 'kept', sha: commitOf(app) }
            )
            digest = r.digest
            route = routeOf(r.lines)
            return { nodeCpu: r.nodeCpu, nodeMaxRssBytes: r.nodeMaxRssBytes }
          },
          { tempDir: runner.temp }
        )
      } finally {
        rmSync(runner.root, { recursive: true, force: true })
      }
    } else {
      const config = machine === 'kept' ? c.selfHosted.config : cliConfig()
      const env = { ...process.env, DOCKER_CONFIG: config }
      const docker = (args, input) => runOk('docker', args, { env, input })
      // The tags the action publishes with its defaults (latest and sha-<7>): the same result,
      // so the same work. BENCH_CLI_TAGS=one pushes latest only (the figures before 2 Dec 2026).
      const refs = cliTags(commitOf(app)).map(tag => `${cliReg}/octo-org/${name}:${tag}`)
      const meta = path.join(config, 'metadata.json')
      try {
        sample = await measure(proxy, async () => {
          await docker(
            ['login', cliReg, '--username', E2E.E2E_REGISTRY_USER, '--password-stdin'],
            E2E.E2E_REGISTRY_PASSWORD
          )
          if (c.kind === 'buildx-push' || c.kind === 'buildx-cache') {
            const image = `${cliReg}/octo-org/${name}`
            const cache =
              c.kind !== 'buildx-cache'
                ? []
                : E2E.E2E_IMAGE_STORE === 'containerd'
                  ? [
                      `--cache-from=type=registry,ref=${image}:buildcache`,
                      `--cache-to=type=registry,ref=${image}:buildcache,mode=max`
                    ]
                  : [`--cache-from=type=registry,ref=${image}:latest`, '--cache-to=type=inline']
            await docker([
              'buildx',
              'build',
              '--push',
              ...cache,
              ...refs.flatMap(r => ['-t', r]),
              '--metadata-file',
              meta,
              fixture.dir
            ])
            digest = JSON.parse(readFileSync(meta, 'utf8'))['containerimage.digest']
          } else {
            await docker(['build', ...refs.flatMap(r => ['-t', r]), fixture.dir])
            for (const r of refs) {
              const out = (await docker(['push', r])).stdout
              digest = /digest: (sha256:[0-9a-f]{64})/.exec(out)?.[1]
            }
          }
          await docker(['logout', cliReg])
        })
      } finally {
        if (machine !== 'kept') rmSync(config, { recursive: true, force: true })
      }
    }
    const after = await served(registryRef)
    if (!after || after.digest !== digest)
      throw new Error(`${c.title} said ${digest}, the registry serves ${after?.digest} for ${name}`)
    const previous = new Set(before?.layers ?? [])
    return {
      ...sample,
      route,
      layers: after.layers.length,
      layersKept: before ? after.layers.filter(l => previous.has(l)).length : undefined,
      load: os.loadavg()[0]
    }
  }

  const samples = Object.fromEntries(
    DOCKERFILE_CASES.map(([k]) => [k, Object.fromEntries(contenders.map(c => [c.key, []]))])
  )
  const note = (kase, c, i, s) =>
    console.error(
      `bench: ${kase} ${c.key} run ${i + 1}: ${s.seconds.toFixed(2)} s, ${(s.uploadBytes / MB).toFixed(1)} MB up, ${s.requests} requests, layers kept ${s.layersKept ?? '-'}/${s.layers}, load ${s.load.toFixed(1)}${s.route ? `; ${s.route}` : ''}`
    )
  const newStamp = () => randomBytes(16).toString('hex')
  const rotate = i => contenders.map((_, j) => contenders[(i + j) % contenders.length])

  const figures = () => {
    const results = dockerfileFigures(fixture, contenders, samples)
    printDockerfile(results, contenders)
    return results
  }

  // Each contender's self-hosted machine publishes a first version of the app to the repository
  // of the B cases (untimed): its build cache, push history and ~/.docker are then those of a
  // runner that published before, and the repository holds a previous version.
  await coldEngine()
  for (const c of contenders) {
    c.lastApp = newStamp()
    await publish(c, c.repo('b'), c.lastApp, 'kept')
  }

  // Warm cases, on each contender's self-hosted machine: the app changes (B warm), then the same
  // context is published again (C). Its own app stamp each: no contender builds on another's.
  for (let i = 0; i < (PHASES.includes('warm') ? RUNS : 0); i++) {
    for (const c of rotate(i)) {
      c.lastApp = newStamp()
      const s = await publish(c, c.repo('b'), c.lastApp, 'kept')
      samples.Bwarm[c.key].push(s)
      note('Bwarm', c, i, s)
    }
    for (const c of rotate(i + 1)) {
      const s = await publish(c, c.repo('b'), c.lastApp, 'kept')
      samples.C[c.key].push(s)
      note('C', c, i, s)
    }
  }

  if (PHASES.includes('warm')) {
    console.log('The warm cases (the cold ones follow):')
    figures()
  }

  // Cold cases: every publish on an engine with no build cache, no push history, no images but
  // the base; a fresh runner / ~/.docker; its own app stamp.
  for (let i = 0; i < (PHASES.includes('cold') ? RUNS : 0); i++) {
    for (const c of rotate(i)) {
      await coldEngine()
      const s = await publish(c, c.repo(`a${i}`), newStamp(), 'fresh')
      samples.A[c.key].push(s)
      note('A', c, i, s)
    }
    for (const c of rotate(i + 1)) {
      await coldEngine()
      const s = await publish(c, c.repo('b'), newStamp(), 'fresh')
      samples.Bfresh[c.key].push(s)
      note('Bfresh', c, i, s)
    }
  }
  for (const c of contenders) {
    if (c.kind === 'action') c.selfHosted.dispose()
    else rmSync(c.selfHosted.config, { recursive: true, force: true })
  }

  return figures()
}

/**
 * Medians per case and contender of the cases measured so far, and the ratio of each action to
 * the faster of (b) and (c).
 */
function dockerfileFigures(fixture, contenders, samples) {
  const results = {
    delayMs: DELAY_MS,
    runs: RUNS,
    quick: QUICK,
    engine: ENGINE_NAME,
    cold: COLD,
    actions: ACTIONS,
    fixture: fixture.layers,
    cases: {}
  }
  for (const [k, title] of DOCKERFILE_CASES) {
    if (!samples[k][contenders[0].key].length) continue
    const byWho = {}
    for (const c of contenders) {
      const xs = samples[k][c.key]
      const med = f => median(xs.map(f))
      byWho[c.key] = {
        title: c.title,
        seconds: med(s => s.seconds),
        cpuSeconds: med(s => s.clientCpu + s.dockerdCpu),
        clientCpuSeconds: med(s => s.clientCpu),
        engineCpuSeconds: med(s => s.dockerdCpu),
        uploadBytes: med(s => s.uploadBytes),
        requests: med(s => s.requests),
        nodeMaxRssBytes: c.kind === 'action' ? med(s => s.nodeMaxRssBytes) : undefined,
        engineRssGrowthBytes: med(s => s.dockerdRssGrowth),
        peakTempBytes: c.kind === 'action' ? med(s => s.peakTempBytes) : undefined,
        layers: med(s => s.layers),
        layersKept: xs.every(s => s.layersKept !== undefined) ? med(s => s.layersKept) : undefined,
        load: med(s => s.load),
        route: c.kind === 'action' ? [...new Set(xs.map(s => s.route))].join(' | ') : undefined,
        samples: xs
      }
    }
    const best = Math.min(byWho.b.seconds, byWho.c.seconds)
    for (const a of ACTIONS) {
      byWho[a.name].ratio = byWho[a.name].seconds / best
      if (byWho.d) byWho[a.name].ratioToCache = byWho[a.name].seconds / byWho.d.seconds
    }
    results.cases[k] = { title, ...byWho }
  }
  return results
}

function printDockerfile(results, contenders) {
  const f1 = x => (x === undefined ? '' : x.toFixed(1))
  const rows = [
    [
      'case',
      'who',
      'wall s',
      'ratio to min(b,c)',
      ...(WITH_CACHE ? ['ratio to (d)'] : []),
      'CPU s (client+engine)',
      'up MB',
      'requests',
      'node RSS MB',
      'engine RSS +MB',
      'temp MB',
      'layers kept',
      'load'
    ]
  ]
  for (const [k, title] of DOCKERFILE_CASES.filter(([k]) => results.cases[k])) {
    for (const [j, c] of contenders.entries()) {
      const r = results.cases[k][c.key]
      rows.push([
        j === 0 ? title : '',
        c.title,
        r.seconds.toFixed(2),
        r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`,
        ...(WITH_CACHE
          ? [r.ratioToCache === undefined ? '' : `${r.ratioToCache.toFixed(2)}×`]
          : []),
        `${f1(r.cpuSeconds)} (${f1(r.clientCpuSeconds)}+${f1(r.engineCpuSeconds)})`,
        f1(r.uploadBytes / MB),
        String(r.requests),
        r.nodeMaxRssBytes === undefined ? '' : (r.nodeMaxRssBytes / MB).toFixed(0),
        (r.engineRssGrowthBytes / MB).toFixed(0),
        r.peakTempBytes === undefined ? '' : f1(r.peakTempBytes / MB),
        r.layersKept === undefined ? `- of ${r.layers}` : `${r.layersKept} of ${r.layers}`,
        r.load.toFixed(1)
      ])
    }
  }
  const total = results.fixture.reduce((s, l) => s + l.bytes, 0)
  console.log(
    `\nEngine: ${results.engine}. Actions: ${results.actions.map(a => `${a.name} at ${a.commit}`).join(', ')}.`
  )
  console.log(
    `Dockerfile fixture: ${results.fixture.map(l => `${l.name} ${(l.bytes / MB).toFixed(0)} MB`).join(', ')} (${(total / MB).toFixed(0)} MB) over ${E2E.E2E_BASE_IMAGE}, + a small app layer; proxy ${DELAY_MS} ms each way; medians of ${results.runs}, interleaved (the order rotates every run); cold cases on ${results.cold === 'new' ? 'a new engine each (BENCH_COLD=new)' : 'the same engine, reset (BENCH_COLD=reset)'}.`
  )
  console.log(
    "node RSS: the action's node (max RSS, main step); engine RSS: growth of dockerd + containerd during the run; temp: RUNNER_TEMP's peak; load: 1-min load average at the end of each run (2 cores).\n"
  )
  console.log(markdownTable(rows))
  console.log('\nWhich way the action went (its log):')
  for (const [k] of DOCKERFILE_CASES.filter(([k]) => results.cases[k]))
    for (const a of results.actions)
      console.log(`  ${k} ${a.name}: ${results.cases[k][a.name].route}`)
}

// ---------------------------------------------------------------------------------------------
// tags mode: the action building and publishing 1, 5, 20 tags of a tiny image.

function project(content) {
  const runner = newRunner()
  writeFileSync(
    path.join(runner.workspace, 'Dockerfile'),
    'FROM scratch\nCOPY layer.bin /layer.bin\n'
  )
  writeFileSync(path.join(runner.workspace, 'layer.bin'), content ?? randomBytes(LAYER_BYTES))
  return runner
}

const buildAndPublish = (runner, registry, tags) =>
  runAction(runner, registry, {
    'image-name': 'bench/app',
    tags: tags.join(','),
    context: '.',
    pull: 'false',
    'no-cache': 'false'
  })

/**
 * The plain docker CLI doing the same work: login, build with every tag (and the same labels the
 * action put on its image, so both build the same image), push per tag, logout.
 */
async function runPlainCli(runner, registry, tags, labels = {}) {
  const docker = dockerCli()
  const image = `${registry}/octo-org/bench/cli`
  try {
    await docker(
      ['login', registry, '--username', E2E.E2E_REGISTRY_USER, '--password-stdin'],
      E2E.E2E_REGISTRY_PASSWORD
    )
    await docker([
      'build',
      ...tags.flatMap(t => ['-t', `${image}:${t}`]),
      ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      runner.workspace
    ])
    for (const t of tags) await docker(['push', `${image}:${t}`])
    await docker(['logout', registry])
  } finally {
    docker.dispose()
  }
}

const tagsOf = n => Array.from({ length: n }, (_, i) => (i === 0 ? 'latest' : `v${i}`))

async function benchTags(proxy) {
  const results = {
    delayMs: DELAY_MS,
    runs: RUNS,
    layerBytes: LAYER_BYTES,
    publish: {},
    republish: {},
    coldStart: {}
  }

  // Warm the daemon and the registry once, outside the figures.
  {
    const d = project()
    await runPlainCli(d, proxy.address, ['warmup'])
    d.dispose()
  }

  // 1. Interleaved: each action run, then the plain CLI with the labels that run put on its image.
  for (const n of TAG_COUNTS) {
    const samples = { action: [], cli: [] }
    for (let i = 0; i < RUNS; i++) {
      let labels = {}
      for (const who of ['action', 'cli']) {
        const runner = project()
        const sample = await measure(proxy, async () => {
          if (who === 'action')
            labels = (await buildAndPublish(runner, proxy.address, tagsOf(n))).labels
          else await runPlainCli(runner, proxy.address, tagsOf(n), labels)
        })
        samples[who].push(sample)
        runner.dispose()
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
    ['action', buildAndPublish],
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
    for (const d of [first, second]) d.dispose()
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
    GITHUB_STATE: path.join(coldDir, 's')
  }
  writeFileSync(noWork.GITHUB_STATE, '')
  results.coldStart = {
    action: time([path.join(ROOT, 'dist', 'post', 'index.js')], noWork),
    node: time(['-e', ''], { PATH: process.env.PATH })
  }
  rmSync(coldDir, { recursive: true, force: true })

  // Report.
  const p = results.publish
  const lo = Math.min(...TAG_COUNTS)
  const hi = Math.max(...TAG_COUNTS)
  const perExtraTag = (p[`action-${hi}`].requests - p[`action-${lo}`].requests) / (hi - lo)
  const cliPerExtraTag = (p[`cli-${hi}`].requests - p[`cli-${lo}`].requests) / (hi - lo)
  const ratio = (a, b) => p[a].seconds / p[b].seconds
  const targets = [
    ['registry requests per extra tag (action)', perExtraTag, '≤ 1', perExtraTag <= 1],
    [
      `wall time ${hi} tags / ${lo} tag (action)`,
      ratio(`action-${hi}`, `action-${lo}`),
      '≤ 1.3',
      ratio(`action-${hi}`, `action-${lo}`) <= 1.3
    ],
    [
      `action / plain CLI, ${lo} tag`,
      ratio(`action-${lo}`, `cli-${lo}`),
      '≤ 1.1',
      ratio(`action-${lo}`, `cli-${lo}`) <= 1.1
    ],
    [
      `action / plain CLI, ${hi} tags`,
      ratio(`action-${hi}`, `cli-${hi}`),
      '≤ 0.5',
      ratio(`action-${hi}`, `cli-${hi}`) <= 0.5
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
  console.log(`\nPublishing through a proxy adding ${DELAY_MS} ms each way (medians of ${RUNS}):\n`)
  console.log(markdownTable(rows))
  console.log(
    `\nRequests per extra tag: action ${perExtraTag.toFixed(2)}, plain CLI ${cliPerExtraTag.toFixed(2)}`
  )
  console.log(
    `Unchanged republish, blob bytes uploaded: action ${results.republish.action.secondUploadBytes} (first publish ${results.republish.action.firstUploadBytes}), plain CLI ${results.republish.cli.secondUploadBytes}`
  )
  console.log(
    `Cold start: node dist/post/index.js with no work ${(results.coldStart.action * 1000).toFixed(0)} ms, node -e '' ${(results.coldStart.node * 1000).toFixed(0)} ms (×${(results.coldStart.action / results.coldStart.node).toFixed(2)})\n`
  )
  console.log(
    markdownTable([
      ['target', 'value', 'wanted', 'met'],
      ...results.targets.map(t => [t.name, t.value.toFixed(3), t.target, t.met ? 'yes' : 'NO'])
    ])
  )
  return results
}

// ---------------------------------------------------------------------------------------------

const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main() {
  const proxy = await startProxy(E2E.E2E_REGISTRY)
  console.error(
    `bench (${MODE}): proxy ${proxy.address} → ${E2E.E2E_REGISTRY}, ${DELAY_MS} ms each way, ${RUNS} runs each`
  )
  let results
  try {
    results =
      MODE === 'realistic'
        ? await benchRealistic(proxy)
        : MODE === 'dockerfile'
          ? await benchDockerfile(proxy)
          : MODE === 'big-layer'
            ? await benchBigLayer(proxy)
            : await benchTags(proxy)
  } finally {
    proxy.server.close()
  }
  // One entry per mode (and engine, with BENCH_ENGINE): a run keeps the others' figures.
  const key =
    (process.env.BENCH_ENGINE ? `${MODE}:${process.env.BENCH_ENGINE}` : MODE) +
    (QUICK ? ':quick' : '')
  const file = process.env.BENCH_RESULTS_FILE || path.join(ROOT, 'bench-results.json')
  let all = {}
  try {
    all = JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    // none yet
  }
  if (all.publish) all = {} // the earlier single-mode format
  all[key] = {
    date: new Date().toISOString(),
    commit: sh('git', ['-C', ROOT, 'rev-parse', 'HEAD']).trim(),
    ...results
  }
  writeFileSync(file, JSON.stringify(all, null, 2) + '\n')
  console.log(`\nFigures written to bench-results.json (${key})`)
}

try {
  await main()
} finally {
  if (startedHere) spawnSync(envScript, ['stop'], { stdio: 'inherit' })
}
