/**
 * The post step (post-if: always()), its own entry (src/post-entry.ts → dist/post/index.js): undo
 * keep-login in the runner's Docker config, delete the action's Docker config directory (the only
 * place its login was written: docker/config.ts) and the push's work folder, so no credential for
 * the registry is left on the runner, also when the main step failed or was killed. It can only
 * clean up: the one docker command it may run is `docker logout` of the runner's own config (to
 * undo keep-login), and it acts only on state values that pass their checks (state.ts).
 */
import * as core from '@actions/core'
import { existsSync, rmSync } from 'node:fs'
import { removeActionConfig } from './docker/config.js'
import { undoKeptLogin } from './docker/kept-login.js'
import { dockerLogout } from './docker/logout.js'
import { readState, runnerDockerConfigDir, type PostState } from './state.js'
import { errorMessage } from './util/errors.js'

/** How the post step logs a Docker config folder out of a registry (tests give a fake). */
export type Logout = (configDir: string) => (registry: string) => Promise<void>

export async function post(
  state: PostState = readState(),
  logout: Logout = dir => dockerLogout(dir)
): Promise<void> {
  try {
    await cleanUp(state, logout)
  } catch (error) {
    core.setFailed(`Cleaning up failed: ${errorMessage(error)}`)
  }
}

async function cleanUp(state: PostState, logout: Logout): Promise<void> {
  removeWorkFolder(state.workDir)
  const failures: string[] = []
  // First: its copy of the runner's config lives in the action's config directory.
  if (state.keptLogin) {
    try {
      await undoKeptLogin(state.keptLogin, { logout: logout(state.keptLogin.dir) })
    } catch (error) {
      // The action's own credentials are removed below in any case.
      core.warning(`keep-login: could not undo the login for later steps (${errorMessage(error)}).`)
    }
  } else if (state.keptLoginCorrupt) {
    // The file cannot be put back as it was; the login at least must not outlive the job.
    const runnerDir = runnerDockerConfigDir()
    const { registry } = state.keptLoginCorrupt
    let done = false
    if (registry) {
      try {
        await logout(runnerDir)(registry)
        done = true
      } catch (error) {
        core.warning(`keep-login: docker logout ${registry} failed (${errorMessage(error)}).`)
      }
    }
    failures.push(
      `keep-login: the main step's record of the login it kept could not be read, so ${runnerDir}/config.json ` +
        (done
          ? `was not restored; the runner's Docker config was logged out of ${registry} instead.`
          : `was not restored and may still hold a login${registry ? ` to ${registry}` : ''}: run docker logout on the runner.`)
    )
  }
  const dir = state.configDir
  if (!dir) {
    core.info('Nothing to clean up.')
  } else {
    // No `docker logout` first: the action's config pins its registry to the plain file store
    // (docker/config.ts), so the login lives only in this directory's config.json; deleting the
    // directory is the logout, without starting the docker CLI once more.
    removeActionConfig(dir)
    core.info(
      state.loggedIn
        ? `Removed the action's Docker config directory ${dir}, and the login to ${state.registry ?? 'the registry'} in it.`
        : `Removed the action's Docker config directory ${dir}.`
    )
  }
  if (failures.length) core.setFailed(failures.join('\n'))
}

/**
 * The push's work folder, left behind when the main step was cancelled or killed mid-push (it
 * removes it itself otherwise). Only a folder of the action's own making (state.ts checks) is
 * removed.
 */
function removeWorkFolder(dir: string | undefined): void {
  if (!dir || !existsSync(dir)) return
  rmSync(dir, { recursive: true, force: true })
  core.info(`Removed the push's work folder ${dir}.`)
}

/** The post step under the name @github/local-action calls (`--post src/post.ts`). */
export { post as run }
