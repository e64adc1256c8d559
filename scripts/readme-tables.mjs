#!/usr/bin/env node
// README's inputs and outputs tables, generated from action.yml (the one source of truth).
//
//   node scripts/readme-tables.mjs           rewrite the tables in README.md
//   node scripts/readme-tables.mjs --check   exit 1 when README.md differs from action.yml
//   --root DIR                               use DIR/action.yml and DIR/README.md (tests)
//
// The tables sit between <!-- action-inputs:start/end --> and <!-- action-outputs:start/end -->
// markers and are formatted with the repository's prettier settings, so `prettier --check` and
// this script agree.
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as prettier from 'prettier'
import { parse } from 'yaml'

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** A markdown table cell: one line, pipes escaped. */
function cell(text) {
  return String(text).replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|')
}

function code(text) {
  return text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``
}

export function inputsTable(action) {
  const rows = ['| Input | Default | Description |', '| --- | --- | --- |']
  for (const [name, spec] of Object.entries(action.inputs ?? {})) {
    const fallback = String(spec.default ?? '')
    const required = spec.required ? ' **Required.**' : ''
    rows.push(
      `| ${code(name)} | ${fallback === '' ? '' : cell(code(fallback))} | ${cell(spec.description ?? '')}${required} |`
    )
  }
  return rows.join('\n')
}

export function outputsTable(action) {
  const rows = ['| Output | Description |', '| --- | --- |']
  for (const [name, spec] of Object.entries(action.outputs ?? {})) {
    rows.push(`| ${code(name)} | ${cell(spec.description ?? '')} |`)
  }
  return rows.join('\n')
}

function replaceBetween(text, marker, content) {
  const start = `<!-- ${marker}:start -->`
  const end = `<!-- ${marker}:end -->`
  const i = text.indexOf(start)
  const j = text.indexOf(end)
  if (i < 0 || j < i) throw new Error(`README.md has no ${start} … ${end} markers`)
  return `${text.slice(0, i + start.length)}\n\n${content}\n\n${text.slice(j)}`
}

/** README.md as it should be: its tables regenerated from action.yml, prettier-formatted. */
export async function renderReadme(root = REPO) {
  const action = parse(readFileSync(path.join(root, 'action.yml'), 'utf8'))
  const readmePath = path.join(root, 'README.md')
  let text = readFileSync(readmePath, 'utf8')
  text = replaceBetween(text, 'action-inputs', inputsTable(action))
  text = replaceBetween(text, 'action-outputs', outputsTable(action))
  const options = (await prettier.resolveConfig(path.join(REPO, 'README.md'))) ?? {}
  return prettier.format(text, { ...options, parser: 'markdown' })
}

async function main(argv) {
  const check = argv.includes('--check')
  const rootAt = argv.indexOf('--root')
  const root = rootAt >= 0 ? path.resolve(argv[rootAt + 1]) : REPO
  const readmePath = path.join(root, 'README.md')
  const current = readFileSync(readmePath, 'utf8')
  const wanted = await renderReadme(root)
  if (current === wanted) {
    console.log('README.md inputs/outputs tables match action.yml')
    return 0
  }
  if (check) {
    console.error(
      'README.md inputs/outputs tables differ from action.yml: run `npm run docs` and commit README.md'
    )
    return 1
  }
  writeFileSync(readmePath, wanted)
  console.log('README.md inputs/outputs tables regenerated from action.yml')
  return 0
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2))
}
