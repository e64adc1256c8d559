/**
 * The GitHub runner as a JavaScript action sees it, in one place for the e2e harness
 * (__tests__/e2e/harness.ts) and the benchmark (scripts/bench.mjs): a job's folders (workspace,
 * RUNNER_TEMP, HOME with its ~/.docker), the file commands (GITHUB_OUTPUT, GITHUB_STATE,
 * GITHUB_STEP_SUMMARY), INPUT_* over action.yml's defaults, and the post step's STATE_*.
 * Plain JavaScript (types in action-runner.d.ts) so that both the TypeScript tests and the node
 * script import it.
 */
import { spawn } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

/** The repository's root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** Parses the runner's file-command format: `name<<DELIM\nvalue\nDELIM` (and `name=value`). */
export function parseFileCommand(text) {
  const result = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line)
    if (heredoc) {
      const value = []
      for (i++; i < lines.length && lines[i] !== heredoc[2]; i++) value.push(lines[i])
      result[heredoc[1]] = value.join('\n')
    } else if (line.includes('=')) {
      result[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1)
    }
  }
  return result
}

/** The inputs action.yml (of the action in `actionDir`) declares. */
export function actionInputs(actionDir = ROOT) {
  return parse(readFileSync(path.join(actionDir, 'action.yml'), 'utf8')).inputs
}

/**
 * `env` plus INPUT_* for `inputs` over action.yml's defaults, as the runner passes them:
 * `${{ github.actor }}` is GITHUB_ACTOR; other expressions (the token's) have no default here.
 */
export function withInputs(env, inputs, actionDir = ROOT) {
  const defaults = {}
  for (const [name, spec] of Object.entries(actionInputs(actionDir))) {
    const value = String(spec.default ?? '')
    if (value === '${{ github.actor }}') defaults[name] = env.GITHUB_ACTOR ?? ''
    else if (!value.includes('${{')) defaults[name] = value
  }
  const out = { ...env }
  for (const [name, value] of Object.entries({ ...defaults, ...inputs })) {
    out[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
  }
  return out
}

/** `env` plus STATE_* from what the main step saved in `stateFile`: the post step's environment. */
export function withState(env, stateFile) {
  const out = { ...env }
  for (const [k, v] of Object.entries(parseFileCommand(readFileSync(stateFile, 'utf8')))) {
    out[`STATE_${k}`] = v
  }
  return out
}

/**
 * A job's folders under a new directory in `parent` (the system's temporary folder by default):
 * workspace, RUNNER_TEMP (fresh for every job), HOME with ~/.docker, the three file-command files
 * (empty). `keep` gives folders a self-hosted runner keeps between jobs (`home`, `toolCache`) or a
 * workspace of the caller's; `cliPlugins` is a folder of docker CLI plugins (buildx) linked into
 * ~/.docker/cli-plugins, where the runner's docker CLI finds them.
 */
export function makeRunnerDirs({
  prefix = 'runner-',
  parent = os.tmpdir(),
  keep = {},
  cliPlugins
} = {}) {
  const root = mkdtempSync(path.join(parent, prefix))
  const home = keep.home ?? path.join(root, 'home')
  const dirs = {
    root,
    workspace: keep.workspace ?? path.join(root, 'workspace'),
    temp: path.join(root, 'runner-temp'),
    home,
    dockerConfig: path.join(home, '.docker'),
    toolCache: keep.toolCache ?? path.join(root, 'tool-cache'),
    files: {
      output: path.join(root, 'github_output'),
      state: path.join(root, 'github_state'),
      summary: path.join(root, 'step_summary')
    }
  }
  for (const d of [dirs.workspace, dirs.temp, dirs.dockerConfig, dirs.toolCache])
    mkdirSync(d, { recursive: true })
  if (cliPlugins) {
    const into = path.join(dirs.dockerConfig, 'cli-plugins')
    mkdirSync(into, { recursive: true })
    for (const name of readdirSync(cliPlugins))
      if (!existsSync(path.join(into, name)))
        symlinkSync(path.join(cliPlugins, name), path.join(into, name))
  }
  for (const f of Object.values(dirs.files)) writeFileSync(f, '')
  return dirs
}

/**
 * The environment the runner gives a step of the job in `dirs`: this process's environment
 * without what belongs to a step or a runner (INPUT_*, STATE_*, GITHUB_*, RUNNER_*, DOCKER_CONFIG,
 * HOME), then HOME, RUNNER_TEMP, GITHUB_ACTIONS, GITHUB_WORKSPACE, the file commands, and `extra`
 * (the event's context, RUNNER_TOOL_CACHE, ...).
 */
export function runnerEnv(dirs, extra = {}, from = process.env) {
  const base = {}
  for (const [k, v] of Object.entries(from)) {
    if (v !== undefined && !/^(INPUT_|STATE_|GITHUB_|RUNNER_|DOCKER_CONFIG$|HOME$)/.test(k))
      base[k] = v
  }
  return {
    ...base,
    HOME: dirs.home,
    RUNNER_TEMP: dirs.temp,
    GITHUB_ACTIONS: 'true',
    GITHUB_WORKSPACE: dirs.workspace,
    GITHUB_OUTPUT: dirs.files.output,
    GITHUB_STATE: dirs.files.state,
    GITHUB_STEP_SUMMARY: dirs.files.summary,
    ...extra
  }
}

/**
 * Runs one step (`node dist/index.js`) without blocking the event loop. Resolves with its exit
 * code, each stdout line with the time (s since the start) it came, stdout and stderr together in
 * the order they came, and how long it took (ms).
 */
export function runStep(node, script, { cwd, env }) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const since = () => Number(process.hrtime.bigint() - t0) / 1e9
    const child = spawn(node, [script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    const lines = []
    let partial = ''
    let out = ''
    child.stdout.on('data', d => {
      out += d
      const t = since()
      const parts = (partial + d).split('\n')
      partial = parts.pop()
      for (const text of parts) lines.push({ t, text })
    })
    child.stderr.on('data', d => (out += d))
    child.on('error', reject)
    child.on('close', code => {
      if (partial) lines.push({ t: since(), text: partial })
      resolve({ code: code ?? -1, lines, out, ms: since() * 1000 })
    })
  })
}
