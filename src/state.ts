/** Names of the values the main step hands to the post step (GITHUB_STATE → STATE_*). */
export const STATE = {
  isPost: 'isPost',
  configDir: 'configDir',
  registry: 'registry',
  loggedIn: 'loggedIn',
  /** The push's work folder (compressed layers) under RUNNER_TEMP. */
  workDir: 'workDir',
  /** keep-login: what to undo in the runner's Docker config (docker/keep-login.ts KeptLogin, JSON). */
  keptLogin: 'keptLogin'
} as const
