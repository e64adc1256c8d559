/** Entry point for both the main and the post step (action.yml runs this file for both). */
import * as core from '@actions/core'
import { errorMessage } from './errors.js'
import { run } from './main.js'
import { post } from './post.js'
import { STATE } from './state.js'

if (core.getState(STATE.isPost)) {
  try {
    await post()
  } catch (error) {
    core.setFailed(`Cleaning up failed: ${errorMessage(error)}`)
  }
} else {
  await run()
}
// Work started in the background (the registry token warm-up, the buildx probe) must not keep a
// finished step alive, e.g. a fetch to a registry that drops packets after the step has failed.
process.exit()
