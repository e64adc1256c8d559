/**
 * The token never leaks: `docker` is wrapped in a recording shim (every argv, and what docker
 * printed), and after a successful and a failing run the token is in no argv, no output of docker
 * or of the step, not in GITHUB_OUTPUT, GITHUB_STATE or the step summary, and in no file left
 * anywhere under the runner after the post step. (stdin is not recorded: that is where the token
 * is meant to go.)
 */
import { describe, expect, it } from '@jest/globals'
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { e2eEnv, filesContaining, loginInputs, Runner, type StepResult } from './harness.js'

const env = e2eEnv()

function recordingDocker(runner: Runner): { argv: string; out: string } {
  const bin = path.join(runner.root, 'bin')
  mkdirSync(bin)
  const record = path.join(runner.root, 'shim-records')
  mkdirSync(record)
  const real = (process.env.PATH ?? '')
    .split(':')
    .map(d => path.join(d, 'docker'))
    .find(f => existsSync(f))
  if (!real) throw new Error('no docker on PATH')
  const argv = path.join(record, 'argv')
  const out = path.join(record, 'output')
  // Records argv, and docker's stdout and stderr (tee), then exits with docker's own status.
  writeFileSync(
    path.join(bin, 'docker'),
    `#!/bin/bash\nprintf '%s\\n' "$*" >> '${argv}'\n` +
      `'${real}' "$@" 2> >(tee -a '${out}' >&2) | tee -a '${out}'\nexit \${PIPESTATUS[0]}\n`
  )
  chmodSync(path.join(bin, 'docker'), 0o755)
  runner.env.PATH = `${bin}:${runner.env.PATH}`
  return { argv, out }
}

function project(runner: Runner): void {
  runner.write('Dockerfile', 'FROM scratch\nCOPY hello.txt /hello.txt\n')
  runner.write('hello.txt', `hello ${randomBytes(8).toString('hex')}\n`)
}

/** Everything that must not hold the token (nor docker's base64 user:token). */
function leaks(runner: Runner, token: string, texts: Record<string, string>): string[] {
  const auth = Buffer.from(`${env.user}:${token}`).toString('base64')
  const found: string[] = []
  for (const [what, text] of Object.entries(texts)) {
    if (text.includes(token) || text.includes(auth)) found.push(what)
  }
  // Files left anywhere under the runner (workspace, RUNNER_TEMP, HOME, file commands, records).
  found.push(...filesContaining(runner.root, token), ...filesContaining(runner.root, auth))
  return found
}

/**
 * What the steps printed and wrote, the credentials' one legitimate mention each (::add-mask::, the
 * token's and that of docker's base64 user:token) left out.
 */
function stepTexts(runner: Runner, main: StepResult, post: StepResult): Record<string, string> {
  const auth = Buffer.from(`${env.user}:${env.password}`).toString('base64')
  return {
    'step stdout': main.stdout
      .replace(`::add-mask::${env.password}\n`, '')
      .replace(`::add-mask::${auth}\n`, ''),
    'step stderr': main.stderr,
    'post output': post.stdout + post.stderr,
    GITHUB_OUTPUT: readFileSync(runner.files.output, 'utf8'),
    GITHUB_STATE: readFileSync(runner.files.state, 'utf8'),
    'step summary': readFileSync(runner.files.summary, 'utf8')
  }
}

describe('the token never leaks', () => {
  it('in a successful publish and its post step', () => {
    const runner = new Runner()
    project(runner)
    const shim = recordingDocker(runner)
    const main = runner.main({
      ...loginInputs(env),
      tags: 'v1,latest'
    })
    expect(main.exitCode).toBe(0)
    expect(readFileSync(shim.argv, 'utf8')).toMatch(/^login .* --password-stdin$/m)
    expect(main.stdout).toContain(`::add-mask::${env.password}`)
    // The Basic header's value the registry client sends is masked too, before any request.
    const auth = Buffer.from(`${env.user}:${env.password}`).toString('base64')
    expect(main.stdout).toContain(`::add-mask::${auth}`)
    expect(main.stdout.indexOf(`::add-mask::${auth}`)).toBeLessThan(
      main.stdout.indexOf('::group::')
    )
    const post = runner.post()
    expect(post.exitCode).toBe(0)
    expect(leaks(runner, env.password, stepTexts(runner, main, post))).toEqual([])
  })

  it('in a failing publish (the build fails after login) and its post step', () => {
    const runner = new Runner()
    runner.write('Dockerfile', 'FROM scratch\nCOPY missing.txt /\n')
    const shim = recordingDocker(runner)
    const main = runner.main({
      ...loginInputs(env),
      tags: 'v1'
    })
    expect(main.exitCode).toBe(1)
    // docker build (Engine 20.10 without buildx), or buildx's (the modern engine).
    expect(readFileSync(shim.argv, 'utf8')).toMatch(/^(buildx )?build /m)
    const post = runner.post()
    expect(post.exitCode).toBe(0)
    expect(leaks(runner, env.password, stepTexts(runner, main, post))).toEqual([])
  })

  it('the check can fail: a token written to a file under the runner is found', () => {
    const runner = new Runner()
    writeFileSync(path.join(runner.temp, 'oops'), `password=${env.password}\n`)
    expect(leaks(runner, env.password, {})).toEqual([path.join(runner.temp, 'oops')])
  })
})
