/**
 * End to end: a runner with a docker CLI and no engine to talk to (ubuntu-slim; a self-hosted
 * runner whose DOCKER_HOST points nowhere), and a runner with no docker CLI at all (macOS). The
 * step fails once, before any login, saying there is no engine and what to do; merge-digests,
 * which needs no docker, goes on. Runs on any engine (the engine itself is never asked).
 */
import { describe, expect, it } from '@jest/globals'
import { mkdirSync } from 'node:fs'
import * as path from 'node:path'
import { closedPort, e2eEnv, inputsFor, Runner } from './harness.js'

const env = e2eEnv()

/** The main step's error lines, and what it says it ran. */
function lines(out: string): { errors: string[]; commands: string[] } {
  const all = out.split('\n')
  return {
    errors: all.filter(l => l.startsWith('::error::')),
    commands: all.filter(l => l.startsWith('[command]'))
  }
}

const inputs = {
  ...inputsFor(env, 'no-engine')
}

describe('a runner with no Docker engine', () => {
  it.each([
    ['a unix socket that does not exist', () => Promise.resolve('unix:///nonexistent/docker.sock')],
    ['a TCP port where nothing listens', async () => `tcp://127.0.0.1:${await closedPort()}`]
  ])(
    'DOCKER_HOST is %s: one error before any login, naming the address and what to do',
    async (_what, host) => {
      const dockerHost = await host()
      const runner = new Runner()
      runner.write('Dockerfile', 'FROM scratch\n')
      const main = await runner.mainAsync(inputs, { DOCKER_HOST: dockerHost })
      expect(main.code).toBe(1)
      const { errors, commands } = lines(main.out)
      expect(errors).toHaveLength(1)
      expect(errors[0]).toContain(`No Docker engine is reachable at DOCKER_HOST=${dockerHost}: `)
      expect(errors[0]).toMatch(/Cannot connect to the Docker daemon/)
      expect(errors[0]).toMatch(
        /a runner label that has one .*ubuntu-slim and macOS runners have none\), or set DOCKER_HOST to an engine this runner can reach/
      )
      // Nothing ran after the question: no login, no build, no retry.
      expect(commands).toEqual([])
      expect(main.out).not.toMatch(/docker login|transient|retry|attempts/i)
    }
  )

  it('a source-image is looked up beside the probe: still the one engine error, before any login', async () => {
    const dockerHost = 'unix:///nonexistent/docker.sock'
    const runner = new Runner()
    const main = await runner.mainAsync(
      { ...inputs, 'source-image': 'app:built-earlier' },
      { DOCKER_HOST: dockerHost }
    )
    expect(main.code).toBe(1)
    const { errors, commands } = lines(main.out)
    // The engine's error, not the lookup's (which fails too, with no engine to ask).
    expect(errors).toHaveLength(1)
    expect(errors[0]).toContain(`No Docker engine is reachable at DOCKER_HOST=${dockerHost}: `)
    expect(main.out).not.toMatch(/is not an image on this runner|unhandled/i)
    expect(commands).toEqual([])
  })

  it('no docker CLI on PATH at all: the same advice, before any login', async () => {
    const runner = new Runner()
    runner.write('Dockerfile', 'FROM scratch\n')
    // A PATH with nothing on it: the action runs on its own node, by absolute path.
    const bin = path.join(runner.root, 'empty-bin')
    mkdirSync(bin)
    const main = await runner.mainAsync(inputs, { PATH: bin })
    expect(main.code).toBe(1)
    const { errors, commands } = lines(main.out)
    expect(errors).toEqual([
      expect.stringMatching(
        /^::error::There is no docker CLI on this runner, so no Docker engine\. This action builds and pushes through a Docker engine: run the job on a runner label that has one/
      )
    ])
    expect(commands).toEqual([])
  })

  it('merge-digests needs no engine: it goes on to the registry', async () => {
    const runner = new Runner()
    const absent = `sha256:${'0'.repeat(64)}`
    const main = await runner.mainAsync(
      { ...inputs, 'merge-digests': `${absent}\n` },
      { DOCKER_HOST: 'unix:///nonexistent/docker.sock' }
    )
    expect(main.code).toBe(1)
    const { errors } = lines(main.out)
    expect(errors).toHaveLength(1)
    // The registry answered about the digest: the step never asked for an engine.
    expect(errors[0]).toContain(absent)
    expect(errors[0]).not.toMatch(/Docker engine|docker CLI/)
  })
})
