import { describe, expect, it } from '@jest/globals'
import { engineAddress, requireEngine } from '../../../src/docker/engine.js'
import { execCommand, type ExecResult } from '../../../src/docker/exec.js'
import { UserError } from '../../../src/util/errors.js'

/** A probe that answers `result` and counts its calls. */
function probe(result: ExecResult | Error) {
  const calls: number[] = []
  const fn = async (timeoutMs: number) => {
    calls.push(timeoutMs)
    if (result instanceof Error) throw result
    return result
  }
  return { fn, calls }
}

const WHAT_TO_DO =
  /runner label that has one .*ubuntu-slim and macOS runners have none.*set DOCKER_HOST/

describe('is there a Docker engine here', () => {
  it("gives the engine's version when it answers", async () => {
    const p = probe({ exitCode: 0, stdout: '28.5.2\n', stderr: '' })
    await expect(requireEngine(p.fn, 'the default socket')).resolves.toBe('28.5.2')
    expect(p.calls).toHaveLength(1)
  })

  it('no daemon at the address: one UserError naming the address and what to do, asked once', async () => {
    const said =
      'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?'
    const p = probe({ exitCode: 1, stdout: '\n', stderr: `${said}\n` })
    const error = await requireEngine(p.fn, 'the default unix:///var/run/docker.sock').catch(
      (e: unknown) => e
    )
    expect(error).toBeInstanceOf(UserError)
    const message = (error as Error).message
    expect(message).toContain(
      'No Docker engine is reachable at the default unix:///var/run/docker.sock'
    )
    expect(message).toContain(said)
    expect(message).toMatch(WHAT_TO_DO)
    expect(message).not.toMatch(/transient|retry|attempt/i)
    expect(p.calls).toHaveLength(1)
  })

  it('an engine that does not answer in time', async () => {
    const p = probe({ exitCode: -1, stdout: '', stderr: '', timedOut: true })
    await expect(requireEngine(p.fn, 'DOCKER_HOST=tcp://10.0.0.9:2375', 5000)).rejects.toThrow(
      /^No Docker engine answered at DOCKER_HOST=tcp:\/\/10\.0\.0\.9:2375 within 5 s\. This action/
    )
    expect(p.calls).toEqual([5000])
  })

  it('no docker CLI at all', async () => {
    const p = probe(new Error('docker is not installed on this runner (not found on PATH: ENOENT)'))
    await expect(requireEngine(p.fn, 'x')).rejects.toThrow(
      /^There is no docker CLI on this runner, so no Docker engine\. This action builds/
    )
  })

  it('an engine that refuses this user says so, not that there is no engine', async () => {
    const p = probe({
      exitCode: 1,
      stdout: '',
      stderr:
        'permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/version": dial unix /var/run/docker.sock: connect: permission denied\n'
    })
    const message = await requireEngine(p.fn, 'the default socket').catch(
      (e: unknown) => (e as Error).message
    )
    expect(message).toMatch(
      /^The Docker engine at the default socket does not let this runner's user in/
    )
    expect(message).toContain('docker group')
  })

  it('the address: DOCKER_HOST without a user name in it, else the platform default', () => {
    expect(engineAddress({ DOCKER_HOST: 'ssh://deploy@build-host:22' }, 'linux')).toBe(
      'DOCKER_HOST=ssh://build-host:22'
    )
    expect(engineAddress({}, 'linux')).toBe(
      'the default unix:///var/run/docker.sock (no DOCKER_HOST)'
    )
    expect(engineAddress({ DOCKER_HOST: ' ' }, 'win32')).toBe(
      'the default npipe:////./pipe/docker_engine (no DOCKER_HOST)'
    )
  })
})

describe('a command that outlasts its time limit', () => {
  it('is stopped, and the result says it timed out', async () => {
    const started = Date.now()
    const r = await execCommand('sh', ['-c', 'echo started; sleep 30'], {
      silent: true,
      env: { PATH: process.env.PATH ?? '' },
      timeoutMs: 300
    })
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(r.timedOut).toBe(true)
    expect(r.stdout).toBe('started\n')
    const quick = await execCommand('sh', ['-c', 'exit 0'], {
      silent: true,
      env: { PATH: process.env.PATH ?? '' },
      timeoutMs: 10_000
    })
    expect(quick).toEqual({ exitCode: 0, stdout: '', stderr: '' })
  })
})
