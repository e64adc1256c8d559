/**
 * The post step (post-if: always()): undo keep-login in the runner's Docker config, log out and
 * delete the action's Docker config directory, so no credential for the registry is left on the
 * runner, also when the main step failed.
 */
import * as core from '@actions/core'
import { existsSync, rmSync } from 'node:fs'
import * as path from 'node:path'
import { Docker } from './docker/cli.js'
import { removeActionConfig } from './docker/config.js'
import { WORK_FOLDER_PREFIX } from './util/work-folder.js'
import { undoKeptLogin, type KeptLogin } from './docker/keep-login.js'
import { STATE } from './state.js'
import { errorMessage } from './util/errors.js'

export async function post(): Promise<void> {
  try {
    await cleanUp()
  } catch (error) {
    core.setFailed(`Cleaning up failed: ${errorMessage(error)}`)
  }
}

async function cleanUp(): Promise<void> {
  removeWorkFolder(core.getState(STATE.workDir))
  // First: its copy of the runner's config lives in the action's config directory.
  const kept = core.getState(STATE.keptLogin)
  if (kept) {
    try {
      await undoKeptLogin(JSON.parse(kept) as KeptLogin)
    } catch (error) {
      // The action's own credentials are removed below in any case.
      core.warning(`keep-login: could not undo the login for later steps (${errorMessage(error)}).`)
    }
  }
  const dir = core.getState(STATE.configDir)
  const registry = core.getState(STATE.registry)
  if (!dir) {
    core.info('Nothing to clean up.')
    return
  }
  if (registry && core.getState(STATE.loggedIn) && existsSync(dir)) {
    try {
      await new Docker(dir).logout(registry)
    } catch (error) {
      // The credentials live only in `dir`, which is deleted next; a failed logout leaves nothing.
      core.warning(
        `docker logout ${registry} failed (${errorMessage(error)}); removing the credentials anyway.`
      )
    }
  }
  removeActionConfig(dir)
  core.info(`Removed the action's Docker config directory ${dir}.`)
}

/**
 * The push's work folder, left behind when the main step was cancelled or killed mid-push (it
 * removes it itself otherwise). Only a folder of the action's own making is removed.
 */
function removeWorkFolder(dir: string): void {
  if (!dir || !path.basename(dir).startsWith(WORK_FOLDER_PREFIX) || !existsSync(dir)) return
  rmSync(dir, { recursive: true, force: true })
  core.info(`Removed the push's work folder ${dir}.`)
}

/** The post step under the name @github/local-action calls (`--post src/post.ts`). */
export { post as run }
