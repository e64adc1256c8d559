/** How the step fails: one clear line for the user; stack traces only in debug logs, for our bugs. */
import * as core from '@actions/core'
import { DockerCommandError } from '../docker/errors.js'
import { UserError, errorMessage } from '../util/errors.js'

export function fail(error: unknown): void {
  if (error instanceof UserError || error instanceof DockerCommandError) {
    core.setFailed(error.message)
    return
  }
  core.debug(error instanceof Error ? (error.stack ?? error.message) : String(error))
  core.setFailed(errorMessage(error))
}
