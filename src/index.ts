/** Entry point of the main step (action.yml runs.main); the post step has its own (post-entry.ts). */
import { run } from './main.js'

await run()
