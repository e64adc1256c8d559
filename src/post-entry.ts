/**
 * Entry point of the post step (action.yml runs.post: dist/post/index.js). It holds the cleanup
 * only: nothing in this bundle logs in, builds or pushes, whatever the step's state says.
 */
import { post } from './post.js'

await post()
