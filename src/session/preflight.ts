/**
 * Before the build, all at once: a classic token's scopes (github/token-scopes.ts), the engine's
 * version (docker/engine.ts found it) against the registry's rules, and `docker login` with its
 * retry policy. A failure is reported in that order (the most specific first), whichever came first
 * in time.
 */
import * as core from '@actions/core'
import { loginWithRetries } from '../docker/login.js'
import { checkEngineForRegistry } from '../plan/registry-rules.js'
import { checkTokenScopes } from '../github/token-scopes.js'
import { phase } from '../report/phase.js'
import { saveState } from '../state.js'
import type { Session } from './session.js'
import { outside } from '../util/text.js'

/** After main.ts's probe: the session holds the version of the engine docker/engine.ts found. */
export async function preflightAndLogin(session: Session): Promise<void> {
  const { plan, run, registry, engineVersion } = session
  const { inputs, names, push } = plan
  const { docker } = session.docker
  const scopes = session.background(
    checkTokenScopes({ token: inputs.token, push, registry: names.registry, server: run.server })
  )
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
  const [scopesDone, loginDone] = await Promise.allSettled([scopes, login])
  if (scopesDone.status === 'rejected') throw scopesDone.reason
  // The GHES Docker registry refuses Engine 25+ (docs/facts/github-registries.md, "Limits").
  if (names.registryType === 'docker' && push) checkEngineForRegistry(names, engineVersion)
  if (loginDone.status === 'rejected') throw loginDone.reason
  if (inputs.token) saveState('loggedIn', true)
  else core.info('No token given and push is false: not logging in.')

  const { warning, notice, scopes: list } = scopesDone.value
  if (warning) core.warning(warning)
  if (notice) core.notice(notice)
  if (list) core.info(`Classic token scopes: ${outside(list.join(', '))}`)
}
