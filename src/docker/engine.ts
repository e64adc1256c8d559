/**
 * Is there a Docker engine to build and push with? Asked once, before any login: without an engine
 * `docker login` still succeeds (the CLI logs in by itself when the daemon does not answer), and
 * the step would only fail later, at the build, or in a login retry loop that blames the network.
 * Which runners have an engine: docs/facts/engines.md.
 */
import { UserError } from '../util/errors.js'
import { lastErrorLine } from './errors.js'
import type { ExecResult } from './exec.js'

/** How long `docker version` may take: a local engine answers in well under a second. */
export const ENGINE_ANSWER_LIMIT_MS = 30_000

/** What to do, said once for every way of having no engine. */
const WHAT_TO_DO =
  'This action builds and pushes through a Docker engine: run the job on a runner label that has ' +
  'one (ubuntu-latest, ubuntu-24.04, ubuntu-22.04, windows-latest, or a self-hosted runner with ' +
  'Docker; ubuntu-slim and macOS runners have none), or set DOCKER_HOST to an engine this runner ' +
  'can reach. (merge-digests alone needs no engine.)'

/** Where docker looks for its engine: DOCKER_HOST (without any user name in it), or the default. */
export function engineAddress(
  env: Record<string, string | undefined> = process.env,
  platform: NodeJS.Platform = process.platform
): string {
  const host = env.DOCKER_HOST?.trim()
  if (host) return `DOCKER_HOST=${host.replace(/\/\/[^/@]*@/, '//')}`
  const socket =
    platform === 'win32' ? 'npipe:////./pipe/docker_engine' : 'unix:///var/run/docker.sock'
  return `the default ${socket} (no DOCKER_HOST)`
}

/**
 * The engine's version, or a UserError that says there is no engine here and what to do.
 * `probe` is Docker.probeServer (one `docker version`, never retried).
 */
export async function requireEngine(
  probe: (timeoutMs: number) => Promise<ExecResult>,
  address: string = engineAddress(),
  timeoutMs: number = ENGINE_ANSWER_LIMIT_MS
): Promise<string> {
  let result: ExecResult
  try {
    result = await probe(timeoutMs)
  } catch {
    // The only way the probe rejects: docker itself could not be started.
    throw new UserError(`There is no docker CLI on this runner, so no Docker engine. ${WHAT_TO_DO}`)
  }
  const version = result.stdout.trim()
  if (result.exitCode === 0 && version) return version
  if (result.timedOut) {
    throw new UserError(
      `No Docker engine answered at ${address} within ${Math.round(timeoutMs / 1000)} s. ${WHAT_TO_DO}`
    )
  }
  const said = lastErrorLine(result.stderr, result.stdout) || `exit code ${result.exitCode}`
  if (/permission denied/i.test(said)) {
    throw new UserError(
      `The Docker engine at ${address} does not let this runner's user in (${said}). On a ` +
        "self-hosted runner, add the runner's user to the docker group and restart the runner, " +
        'or set DOCKER_HOST to an engine that user may use.'
    )
  }
  const sentence = /[.?!]$/.test(said) ? said : `${said}.`
  throw new UserError(`No Docker engine is reachable at ${address}: ${sentence} ${WHAT_TO_DO}`)
}
