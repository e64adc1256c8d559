/** Names of the values the main step hands to the post step (GITHUB_STATE → STATE_*). */
export const STATE = {
  isPost: 'isPost',
  configDir: 'configDir',
  registry: 'registry',
  loggedIn: 'loggedIn'
} as const
