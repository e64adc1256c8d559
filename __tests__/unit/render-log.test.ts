/**
 * scripts/render-log.mjs, the demo's reader of the action's output: workflow commands rendered as
 * a person reads them in a job log, and an ::add-mask:: value never printed, neither on the
 * terminal nor in the full log, from the moment it is announced.
 */
import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import * as path from 'node:path'
import { tempDir } from '../support/temp-dirs.js'

const ROOT = path.resolve(
  import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname),
  '../..'
)
const SCRIPT = path.join(ROOT, 'scripts', 'render-log.mjs')

function render(input: string[], args: string[] = []): { out: string[]; log: string } {
  const dir = tempDir('render-log-')
  try {
    const logFile = path.join(dir, 'full.log')
    const r = spawnSync(process.execPath, [SCRIPT, '--log', logFile, ...args], {
      input: input.join('\n') + '\n',
      encoding: 'utf8'
    })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    return { out: r.stdout.replace(/\n$/, '').split('\n'), log: readFileSync(logFile, 'utf8') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const SECRET = '0f3c9a%d7\u00e9e1'
// What @actions/core writes for setSecret(SECRET): the message escaped (% → %25).
const ADD_MASK = `::add-mask::${SECRET.replace(/%/g, '%25')}`

describe('render-log: workflow commands as a person reads them', () => {
  it('renders groups, annotations and commands, hides debug and add-mask', () => {
    const { out } = render([
      ADD_MASK,
      '::notice::owner was lowercased',
      '::debug::Failed to download something (not a failure)',
      'Image: 127.0.0.1:5000/o/app',
      '::group::Log in to 127.0.0.1:5000',
      '[command]/usr/local/bin/docker login 127.0.0.1:5000 --username u --password-stdin',
      'Login Succeeded',
      '::endgroup::',
      '::warning title=Labels::no licence%0Aleft out',
      '::error file=src/a.ts,line=3,col=7::it broke: 100%25',
      '::set-output name=x::y',
      '::save-state name=s::v',
      '::echo::on',
      '::not-a-runner-command::kept'
    ])
    expect(out).toEqual([
      'Notice: owner was lowercased',
      'Image: 127.0.0.1:5000/o/app',
      '▸ Log in to 127.0.0.1:5000',
      '  $ docker login 127.0.0.1:5000 --username u --password-stdin',
      '  Login Succeeded',
      'Warning (Labels): no licence',
      'left out',
      'Error: it broke: 100% [src/a.ts:3:7]',
      '::not-a-runner-command::kept'
    ])
  })

  it('never prints a masked value, on the terminal or in the log, in any of its forms', () => {
    const multi = 'line-one-secret\nline-two-secret'
    const { out, log } = render([
      'before the mask, nothing to hide',
      ADD_MASK,
      `::add-mask::${multi.replace(/\n/g, '%0A')}`,
      `plain: ${SECRET}`,
      `::notice::in a notice: ${SECRET.replace(/%/g, '%25')}`,
      `::group::in a title ${SECRET}`,
      `in a group: ${SECRET}`,
      '::endgroup::',
      `::error::escaped: ${SECRET.replace(/%/g, '%25')}`,
      'line-two-secret alone',
      `Authorization: Basic ${SECRET}${SECRET}`
    ])
    const text = out.join('\n')
    for (const t of [text, log]) {
      expect(t).not.toContain(SECRET)
      expect(t).not.toContain(SECRET.replace(/%/g, '%25'))
      expect(t).not.toContain('line-one-secret')
      expect(t).not.toContain('line-two-secret')
    }
    expect(out).toEqual([
      'before the mask, nothing to hide',
      'plain: ***',
      'Notice: in a notice: ***',
      '▸ in a title ***',
      '  in a group: ***',
      'Error: escaped: ***',
      '*** alone',
      'Authorization: Basic ******'
    ])
    // The log keeps every line as it came, add-mask lines with their value replaced.
    expect(log.split('\n').slice(0, 3)).toEqual([
      'before the mask, nothing to hide',
      '::add-mask::***',
      '::add-mask::***'
    ])
    expect(log).toContain('::group::in a title ***\n')
  })

  it('folds a long group to its commands, annotations and last line; the log keeps it all', () => {
    const build = Array.from({ length: 12 }, (_, i) => `Step ${i + 1}/12`)
    const { out, log } = render(
      [
        '::group::Build app',
        '[command]/usr/bin/docker build --tag app .',
        ...build,
        '::warning::a warning inside the group',
        'Successfully tagged app:latest',
        '::endgroup::',
        '::group::Short',
        'one',
        '',
        'two',
        '::endgroup::',
        'after'
      ],
      ['--fold', '3', '--indent', '  ']
    )
    expect(out).toEqual([
      '  ▸ Build app',
      '    $ docker build --tag app .',
      '    Warning: a warning inside the group',
      '    … 12 more line(s) in the full log',
      '    Successfully tagged app:latest',
      '  ▸ Short',
      '    one',
      '',
      '    two',
      '  after'
    ])
    for (const l of build) expect(log).toContain(`${l}\n`)
  })

  it('shows a group cut short by the end of the output in full (the step died inside it)', () => {
    const lines = Array.from({ length: 6 }, (_, i) => `output ${i}`)
    const { out } = render(['::group::Push', ...lines], ['--fold', '2'])
    expect(out).toEqual(['▸ Push', ...lines.map(l => `  ${l}`)])
  })

  it('prints the lines between ::stop-commands:: and its token as they are', () => {
    const { out } = render([
      '::stop-commands::pause-1234',
      '::notice::not a command here',
      '::add-mask::not a mask here',
      '::pause-1234::',
      '::notice::a command again',
      'not a mask here'
    ])
    expect(out).toEqual([
      '::notice::not a command here',
      '::add-mask::not a mask here',
      'Notice: a command again',
      'not a mask here'
    ])
  })

  it('cuts long commands only when folding', () => {
    const cmd = `[command]/usr/bin/docker build ${'--label a=b '.repeat(30)}.`
    expect(render([cmd]).out[0]).toBe(`$ docker build ${'--label a=b '.repeat(30)}.`)
    const cut = render([cmd], ['--fold', '3']).out[0]
    expect(cut.length).toBeLessThanOrEqual(160)
    expect(cut).toMatch(/^\$ docker build --label a=b .* …$/)
  })
})
