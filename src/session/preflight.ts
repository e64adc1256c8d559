/**
 * Before the build, all at once: a classic token's scopes (github/token-scopes.ts), the engine's
 * version against the registry's rules, and `docker login` with its retry policy. A failure is
 * reported in that order (the most specific first), whichever came first in time.
 */
import * as core from '@actions/core'
import { loginWithRetries } from '../docker/login.js'
import { checkEngineForRegistry } from '../github/registry-rules.js'
import { checkTokenScopes } from '../github/token-scopes.js'
import { phase } from '../report/phase.js'
import { saveState } from '../state.js'
import type { Session } from './session.js'

export async function preflightAndLogin(session: Session): Promise<void> {
  const { plan, run, registry } = session
  const { inputs, names, push } = plan
  const { docker } = session.docker
  const scopes = session.background(
    checkTokenScopes({ token: inputs.token, push, registry: names.registry, server: run.server })
  )
  // The GHES Docker registry refuses Engine 25+ (REGISTRY-FACTS "Limits").
  const engine =
    names.registryType === 'docker' && push
      ? session.background(docker.serverVersion().catch(() => ''))
      : Promise.resolve('')
  const login = inputs.token
    ? session.background(
        phase('login', names.registry, () =>
          core.group(`Log in to ${names.registry}`, () =>
            loginWithRetries(
              docker,
              { registry: names.registry, username: inputs.username, token: inputs.token, push },
              session.policy,
              registry
            )
          )
        )
      )
    : Promise.resolve()
  const [scopesDone, engineDone, loginDone] = await Promise.allSettled([scopes, engine, login])
  if (scopesDone.status === 'rejected') throw scopesDone.reason
  if (engineDone.status === 'fulfilled' && engineDone.value) {
    checkEngineForRegistry(names, engineDone.value)
  }
  if (loginDone.status === 'rejected') throw loginDone.reason
  if (inputs.token) saveState('loggedIn', true)
  else core.info('No token given and push is false: not logging in.')

  const { warning, notice, scopes: list } = scopesDone.value
  if (warning) core.warning(warning)
  if (notice) core.notice(notice)
  if (list) core.info(`Classic token scopes: ${list.join(', ')}`)
}
