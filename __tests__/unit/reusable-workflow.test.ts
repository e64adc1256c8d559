/**
 * .github/workflows/publish.yml must stay a faithful wrapper of action.yml: every input passed
 * through with the same default, the outputs wired to the action's, and the permissions it needs.
 */
import { describe, expect, it } from '@jest/globals'
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { parse } from 'yaml'

const ROOT = path.resolve(
  import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname),
  '../..'
)
const action = parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8'))
const workflow = parse(readFileSync(path.join(ROOT, '.github/workflows/publish.yml'), 'utf8'))
const call = workflow.on.workflow_call
const job = workflow.jobs.publish
const step = job.steps.find((s: { id?: string }) => s.id === 'publish')

/** Inputs that are not workflow inputs, and why. */
const NOT_MIRRORED: Record<string, string> = {
  token: 'a secret (secrets.token), falling back to the caller’s GITHUB_TOKEN',
  'source-image': 'the called job runs on a fresh runner, where no image of the caller exists',
  secrets: 'a secret (secrets.build-secrets)',
  'secret-envs': 'the caller’s environment does not reach the called workflow',
  ssh: 'the called job’s runner has no SSH agent of the caller',
  'keep-login': 'the called job has no later steps to log in'
}

describe('reusable workflow publish.yml', () => {
  const names = Object.keys(action.inputs).filter(n => !(n in NOT_MIRRORED))

  it.each(names)('mirrors the input %s, with the action’s default, and passes it on', name => {
    const spec = action.inputs[name]
    const input = call.inputs[name]
    expect(input).toBeDefined()
    expect(input.description).toBeTruthy()
    const fallback = String(spec.default ?? '')
    if (fallback === 'true' || fallback === 'false') {
      expect(input.type).toBe('boolean')
      expect(input.default).toBe(fallback === 'true')
    } else {
      expect(input.type).toBe('string')
      // An expression default (github.actor) is applied in the step instead.
      expect(input.default).toBe(fallback.includes('${{') ? '' : fallback)
    }
    const passed = String(step.with[name])
    expect(passed.startsWith(`\${{ inputs.${name}`)).toBe(true)
    if (fallback.includes('${{'))
      expect(passed).toBe(`\${{ inputs.${name} || ${fallback.slice(4, -3)} }}`)
  })

  it('passes the build secrets as a secret', () => {
    expect(call.secrets['build-secrets'].required).toBe(false)
    expect(step.with.secrets).toBe('${{ secrets.build-secrets }}')
  })

  it('passes the token as a secret, else the caller’s GITHUB_TOKEN', () => {
    expect(call.secrets.token.required).toBe(false)
    expect(step.with.token).toBe('${{ secrets.token || github.token }}')
  })

  it('passes nothing the action does not declare', () => {
    for (const name of Object.keys(step.with)) expect(action.inputs[name]).toBeDefined()
  })

  it.each(['digest', 'image', 'image-ref'])('outputs %s from the action', name => {
    expect(action.outputs[name]).toBeDefined()
    expect(call.outputs[name].value).toBe(`\${{ jobs.publish.outputs.${name} }}`)
    expect(job.outputs[name]).toBe(`\${{ steps.publish.outputs.${name} }}`)
  })

  it('grants the job contents: read and packages: write, and checks out the caller’s repository', () => {
    expect(job.permissions).toEqual({ contents: 'read', packages: 'write' })
    expect(job.steps[0].uses).toMatch(/^actions\/checkout@v\d+$/)
    expect(job.steps[0].with.repository).toBeUndefined() // the caller's repository
  })

  it('runs this action by repository and tag (not ./, which would be the caller’s checkout)', () => {
    expect(step.uses).toBe('OWNER/publish-container@v1')
    expect(readFileSync(path.join(ROOT, '.github/workflows/publish.yml'), 'utf8')).toMatch(
      /uses: OWNER\/publish-container@v1 # release: this line is pinned to the release tag/
    )
  })
})
