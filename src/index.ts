/** Entry point for both the main and the post step (action.yml runs this file for both). */
import * as core from '@actions/core'
import { run } from './main.js'
import { post } from './post.js'
import { STATE } from './state.js'

if (core.getState(STATE.isPost)) await post()
else await run()
