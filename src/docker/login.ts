/**
 * `docker login` with the action's retry policy. Docker's own error text is all there is to judge
 * a failure by (the daemon talks to the registry), so two more facts are asked of the registry
 * through the action's client:
 *
 * - A 401 from docker is final only if the registry also refuses the credentials. When the
 *   daemon's first `GET /v2/` meets a 503 or a dropped connection, it never learns the auth
 *   challenge, sends the next request without credentials and reports `401 Unauthorized`; if the
 *   registry accepts the credentials, that 401 is retried like any transient failure.
 * - Login kept failing transiently, but the registry accepts the credentials: the push does not
 *   need docker's login (it goes through the action's client), so the step goes on with a warning.
 */
import * as core from '@actions/core'
import { RetriesExhausted, withRetries, type RetryPolicy, type Verdict } from '../util/retry.js'
import { DockerCommandError, classifyDockerText } from './errors.js'

export interface LoginRequest {
  registry: string
  username: string
  token: string
  /** Whether the run pushes (only then can a login that outlasted the retries be gone without). */
  push: boolean
}

/** What the policy asks of the registry itself. */
export interface CredentialCheck {
  /** Whether the registry accepts the credentials (asked the way `docker login` does). */
  verifyCredentials(): Promise<boolean>
}

export interface LoginHooks {
  info?: (message: string) => void
  warning?: (message: string) => void
  sleep?: (ms: number) => Promise<void>
}

/** A docker 401 although the registry accepts the credentials: a transient fault in disguise. */
export class AuthenticationLost extends DockerCommandError {}

export async function loginWithRetries(
  docker: { login(registry: string, username: string, token: string): Promise<void> },
  request: LoginRequest,
  policy: RetryPolicy,
  registry: CredentialCheck,
  hooks: LoginHooks = {}
): Promise<void> {
  const info = hooks.info ?? core.info
  const warning = hooks.warning ?? core.warning
  const what = 'docker login'
  try {
    await withRetries(
      what,
      () =>
        docker
          .login(request.registry, request.username, request.token)
          .catch(error => reconsiderUnauthorized(error, registry)),
      classifyLoginFailure,
      policy,
      {
        sleep: hooks.sleep,
        onRetry: ({ attempt, delayMs, reason }) =>
          info(
            `${what}: transient failure (${reason}); retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s`
          )
      }
    )
  } catch (error) {
    if (!(error instanceof RetriesExhausted) || !request.push) throw error
    if (!(await registry.verifyCredentials().catch(() => false))) throw error
    warning(
      `${error.what} failed after ${error.attempts} attempts, but ${request.registry} accepts the ` +
        'credentials: going on, since the push goes through the action’s own registry client. A ' +
        `build step that pulls a private image from ${request.registry} may fail for want of docker's login.`
    )
  }
}

/** Transient or not: docker's words, and AuthenticationLost (re-checked above) is transient. */
export function classifyLoginFailure(error: unknown): Verdict {
  if (error instanceof AuthenticationLost) {
    return { transient: true, reason: 'unauthorized, but the credentials are valid' }
  }
  if (error instanceof DockerCommandError) return classifyDockerText(error.detail)
  return { transient: false, reason: 'error' }
}

/** A docker 401 becomes AuthenticationLost when the registry accepts the credentials. */
async function reconsiderUnauthorized(error: unknown, registry: CredentialCheck): Promise<never> {
  if (
    error instanceof DockerCommandError &&
    /\b401\b|unauthorized/i.test(error.detail) &&
    !/denied/i.test(error.detail) &&
    (await registry.verifyCredentials().catch(() => false))
  ) {
    throw new AuthenticationLost(error.command, error.exitCode, error.detail)
  }
  throw error
}
