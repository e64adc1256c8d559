import { describe, expect, it } from '@jest/globals'
import { execCommand } from '../../../src/docker/exec.js'

const silent = { silent: true, env: { PATH: process.env.PATH ?? '' } }

describe('running docker commands', () => {
  it('gives a command no input (EOF), so one that reads stdin does not wait forever', async () => {
    const r = await execCommand('sh', ['-c', 'cat; echo read-all'], silent)
    expect(r).toEqual({ exitCode: 0, stdout: 'read-all\n', stderr: '' })
  })
  it('writes the input to stdin, and survives a command that exits without reading it', async () => {
    const r = await execCommand('sh', ['-c', 'cat'], { ...silent, input: Buffer.from('secret') })
    expect(r.stdout).toBe('secret')
    for (let i = 0; i < 20; i++) {
      const quick = await execCommand('sh', ['-c', 'exit 3'], {
        ...silent,
        input: Buffer.alloc(256 * 1024, 1)
      })
      expect(quick.exitCode).toBe(3)
    }
  }, 30_000)
  it('keeps stdout and stderr apart, and rejects when the command cannot start', async () => {
    const r = await execCommand('sh', ['-c', 'echo out; echo err >&2; exit 2'], silent)
    expect(r).toEqual({ exitCode: 2, stdout: 'out\n', stderr: 'err\n' })
    await expect(execCommand('/nonexistent/docker', [], silent)).rejects.toThrow(/ENOENT/)
  })
  it('stops a command when its signal aborts (SIGTERM), and at once when it was aborted before', async () => {
    const stop = new AbortController()
    const started = Date.now()
    const running = execCommand('sh', ['-c', 'echo begun; exec sleep 30'], {
      ...silent,
      signal: stop.signal
    })
    setTimeout(() => stop.abort(), 200)
    const r = await running
    expect(r.exitCode).not.toBe(0)
    expect(r.stdout).toBe('begun\n')
    expect(Date.now() - started).toBeLessThan(10_000)
    const again = await execCommand('sh', ['-c', 'exec sleep 30'], {
      ...silent,
      signal: stop.signal
    })
    expect(again.exitCode).not.toBe(0)
  }, 20_000)
})
