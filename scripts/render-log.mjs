#!/usr/bin/env node
// Renders an action's output the way a person reads it in a GitHub job log, for scripts/demo.sh.
//
//   node dist/index.js | node scripts/render-log.mjs [--log FILE] [--indent STR] [--fold N]
//
// Workflow commands (https://docs.github.com/actions/reference/workflow-commands-for-github-actions):
//   ::group::T / ::endgroup::   a heading "▸ T"; the group's lines are indented under it
//   ::notice:: ::warning:: ::error::   "Notice: …", "Warning: …", "Error: …" (title, file:line shown)
//   ::add-mask::V   never printed; from then on V is replaced with *** everywhere, as the runner does
//   ::debug:: ::echo:: ::set-output:: ::save-state:: ::set-env:: ::add-path::   not printed
//   ::stop-commands::END … ::END::   lines in between are printed as they are
//   [command]/usr/bin/docker …   "$ docker …"
// --fold N: a group with more than N lines (blank ones not counted) shows only its last line and how
// many were left out; the commands it ran (cut at 160 characters) and its notices, warnings and
// errors are always shown.
// --log FILE: every input line, masked the same way, as it came (add-mask lines as ::add-mask::***).
// Written by hand: @actions/core only writes these commands, and no maintained package reads them.
import { createWriteStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const HIDDEN = new Set(['debug', 'echo', 'set-output', 'save-state', 'set-env', 'add-path'])
const ANNOTATIONS = { notice: 'Notice', warning: 'Warning', error: 'Error' }
const COMMAND_WIDTH = 160

/** The runner's unescaping of a command's message (%25 %0D %0A) and of property values (also %3A %2C). */
function unescapeData(s) {
  return s.replace(/%0D/gi, '\r').replace(/%0A/gi, '\n').replace(/%25/g, '%')
}
function unescapeProperty(s) {
  return s
    .replace(/%0D/gi, '\r')
    .replace(/%0A/gi, '\n')
    .replace(/%3A/gi, ':')
    .replace(/%2C/gi, ',')
    .replace(/%25/g, '%')
}
function escapeData(s) {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
}

/** `::name k=v,k=v::message` → { name, props, message }, or undefined when the line is no command. */
export function parseCommand(line) {
  const m = /^::([A-Za-z][\w-]*)(?: ([^:]*))?::(.*)$/s.exec(line.trimStart())
  if (!m) return undefined
  const props = {}
  for (const pair of (m[2] ?? '').split(',')) {
    const eq = pair.indexOf('=')
    if (eq > 0) props[pair.slice(0, eq).trim()] = unescapeProperty(pair.slice(eq + 1))
  }
  return { name: m[1].toLowerCase(), props, message: unescapeData(m[3]) }
}

/**
 * A line-by-line renderer. `out(text)` receives each printed line (no newline), `log(text)` each
 * input line for the full log. Call `line()` per input line and `end()` once at the end of input.
 */
export function createRenderer({ out, log = () => {}, indent = '', fold = Infinity } = {}) {
  const masks = [] // longest first, so that a secret containing another is replaced whole
  let stopToken // set while ::stop-commands:: is in force
  let group // { lines: [], hidden: number } while inside a ::group::

  function addMask(value) {
    const variants = [value, escapeData(value), ...value.split(/\r?\n/)]
    for (const v of variants) if (v.trim() !== '' && !masks.includes(v)) masks.push(v)
    masks.sort((a, b) => b.length - a.length)
  }
  function mask(text) {
    for (const m of masks) text = text.split(m).join('***')
    return text
  }
  function print(text, depth) {
    const pad = indent + '  '.repeat(depth)
    for (const l of mask(text).split(/\r?\n/)) out(l === '' ? '' : pad + l)
  }
  /** Inside a group, lines wait for its end (to be folded); `keep`: shown even when folded. */
  function emit(text, keep = false) {
    if (!group) return print(text, 0)
    group.lines.push({ text, keep })
  }
  function closeGroup(complete) {
    if (!group) return
    const { lines } = group
    group = undefined
    const plain = lines.filter(l => !l.keep && l.text.trim() !== '')
    if (!complete || plain.length <= fold) {
      for (const l of lines) print(l.text, 1)
      return
    }
    const last = plain[plain.length - 1]
    for (const l of lines) {
      if (l === last) print(`… ${plain.length - 1} more line(s) in the full log`, 1)
      if (l.keep || l === last) print(l.text, 1)
    }
  }
  /** With --fold, a long command line ends after its first words (the log has all of it). */
  function shorten(text) {
    if (fold === Infinity || text.length <= COMMAND_WIDTH) return text
    const cut = text.lastIndexOf(' ', COMMAND_WIDTH - 2)
    return `${text.slice(0, cut > 0 ? cut : COMMAND_WIDTH - 2)} …`
  }
  function annotation(cmd) {
    const p = cmd.props
    let where = p.file ?? ''
    if (where && p.line) where += `:${p.line}${p.col ? `:${p.col}` : ''}`
    const head = ANNOTATIONS[cmd.name] + (p.title ? ` (${p.title})` : '')
    return `${head}: ${cmd.message}${where ? ` [${where}]` : ''}`
  }

  function line(raw) {
    raw = raw.replace(/\r$/, '')
    if (stopToken !== undefined) {
      log(mask(raw))
      if (raw.trim() === `::${stopToken}::`) stopToken = undefined
      else emit(raw)
      return
    }
    const cmd = parseCommand(raw)
    if (cmd?.name === 'add-mask') {
      addMask(cmd.message)
      log('::add-mask::***')
      return
    }
    log(mask(raw))
    if (!cmd) {
      // The runner's "[command]/usr/bin/docker login …" reads as a shell prompt: "$ docker login …".
      const c = /^\[command\](\S+)(.*)$/s.exec(raw)
      return c ? emit(shorten(`$ ${c[1].replace(/^.*\//, '')}${c[2]}`), true) : emit(raw)
    }
    if (cmd.name === 'stop-commands') {
      stopToken = cmd.message
      return
    }
    if (cmd.name === 'group') {
      closeGroup(true)
      print(`▸ ${cmd.message}`, 0)
      group = { lines: [] }
      return
    }
    if (cmd.name === 'endgroup') return closeGroup(true)
    if (HIDDEN.has(cmd.name)) return
    if (cmd.name in ANNOTATIONS) return emit(annotation(cmd), true)
    emit(raw) // not a command the runner knows: printed as it is
  }

  /** End of input: a group still open (the process died inside it) is shown in full. */
  function end() {
    closeGroup(false)
  }

  return { line, end }
}

async function main(argv) {
  let logFile
  let indent = ''
  let fold = Infinity
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--log') logFile = argv[++i]
    else if (a === '--indent') indent = argv[++i]
    else if (a === '--fold') fold = Number(argv[++i])
    else {
      process.stderr.write(`render-log: unknown argument ${JSON.stringify(a)}\n`)
      process.exit(2)
    }
  }
  const logStream = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined
  const r = createRenderer({
    out: text => process.stdout.write(text + '\n'),
    log: logStream ? text => logStream.write(text + '\n') : undefined,
    indent,
    fold
  })
  for await (const l of createInterface({ input: process.stdin, crlfDelay: Infinity })) r.line(l)
  r.end()
  if (logStream) await new Promise(resolve => logStream.end(resolve))
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main(process.argv.slice(2))
}
