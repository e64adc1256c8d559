/**
 * keep-login: the job's later steps (actions/attest-build-provenance with push-to-registry, a
 * `docker run` of the image) find the login in the runner's Docker config (docker/keep-login.ts);
 * what was changed goes into the step's state, and the post step undoes it.
 */
import { keepLogin } from '../docker/keep-login.js'
import { saveState } from '../state.js'
import type { Session } from './session.js'

export async function keepLoginForLaterSteps(session: Session): Promise<void> {
  const { plan, run } = session
  await keepLogin(
    run.dockerConfig,
    { registry: plan.names.registry, username: plan.inputs.username, token: plan.inputs.token },
    session.docker.configDir,
    kept => saveState('keptLogin', kept)
  )
}
