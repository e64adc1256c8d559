/**
 * Advice on the token, before anything runs: a choice that works but is not the one GitHub
 * recommends, or one that cannot work. A table (TOKEN_RULES), so more cases are added as rows.
 * Facts cited are from docs/facts/github-registries.md ("Credentials"). Nothing here may echo the
 * token.
 */
import { isRunnersContainerRegistry, runnerServer } from '../github/hosts.js'
import { TOKEN_KINDS } from '../util/advice.js'

/** ghcr.io on github.com, containers.HOSTNAME on GHES: the registry GITHUB_TOKEN can push to. */
function isContainerRegistryOfServer(context: TokenContext): boolean {
  return isRunnersContainerRegistry(context.registry, runnerServer(context.serverUrl))
}

export interface TokenContext {
  token: string
  /** The registry pushed to, and the package owner, as resolved (lowercase). */
  registry: string
  owner: string
  push: boolean
  /** GITHUB_REPOSITORY_OWNER (or the owner part of GITHUB_REPOSITORY). */
  repositoryOwner: string
  serverUrl: string
  /** Running in a workflow (GITHUB_ACTIONS=true), not on a developer's machine. */
  inWorkflow: boolean
}

export interface Advice {
  level: 'notice' | 'warning'
  message: string
}

export interface TokenRule {
  id: string
  level: Advice['level']
  applies: (context: TokenContext) => boolean
  message: (context: TokenContext) => string
}

export const TOKEN_RULES: readonly TokenRule[] = [
  {
    // A classic PAT pushing to the repository's own package: GITHUB_TOKEN does that, scoped to
    // the repository and expiring with the job, and is what GitHub recommends.
    id: 'classic-pat-for-own-package',
    level: 'notice',
    applies: c =>
      c.inWorkflow &&
      c.push &&
      c.token.startsWith('ghp_') &&
      isContainerRegistryOfServer(c) &&
      c.repositoryOwner !== '' &&
      c.owner === c.repositoryOwner.toLowerCase(),
    message: c =>
      `A classic personal access token is used to push to ${c.registry}/${c.owner}, a package of ` +
      "this repository's owner. GITHUB_TOKEN with `permissions: packages: write` is the recommended, " +
      'safer choice: it is limited to this repository and expires with the job. Leave the token input ' +
      'unset (it defaults to GITHUB_TOKEN) and grant the job `packages: write`.'
  },
  {
    // docs/facts/github-registries.md, "Credentials": fine-grained tokens are not accepted by
    // GitHub Packages.
    id: 'fine-grained-pat',
    level: 'warning',
    applies: c => c.token.startsWith('github_pat_') && isContainerRegistryOfServer(c),
    message: c =>
      `A fine-grained personal access token (github_pat_…) is given, but ${c.registry} (GitHub ` +
      `Packages) does not accept them: use ${TOKEN_KINDS.replace(/; fine-grained.*$/, '')}.`
  }
]

export function tokenAdvice(
  context: TokenContext,
  rules: readonly TokenRule[] = TOKEN_RULES
): Advice[] {
  return rules
    .filter(rule => rule.applies(context))
    .map(rule => ({ level: rule.level, message: rule.message(context) }))
}
