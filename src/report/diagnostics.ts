/**
 * GitHub's guidance for a failed login, build, push or digest read-back, kept in a table
 * (FAILURE_RULES) so more cases are added as rows, not as code. A rule looks at the error text
 * (docker's last error line or the registry's message) and at whether the failure outlasted the
 * retries; the first matching rule wins, so specific rules come before general ones. (Advice on
 * the token itself, before anything runs, is plan/token-advice.ts.)
 *
 * Facts cited are from docs/facts/github-registries.md ("Credentials", "Error strings").
 * Nothing here may echo the token.
 */
import { DockerCommandError } from '../docker/errors.js'
import { MATRIX_WAY, TOKEN_KINDS } from '../util/advice.js'
import { RegistryError } from '../registry/errors.js'
import { UserError } from '../util/errors.js'
import { RetriesExhausted } from '../util/retry.js'

/** What the action was doing when it failed. */
export type Phase = 'login' | 'build' | 'push' | 'read-back'

export interface FailureContext {
  phase: Phase
  registry: string
  /** The failure outlasted the retries: the registry kept failing transiently. */
  exhausted?: boolean
}

export interface FailureRule {
  id: string
  /** Phases the rule applies to; all when absent. */
  phases?: readonly Phase[]
  matches: (text: string, context: FailureContext) => boolean
  explain: (context: FailureContext) => string
}

/** The host could not be resolved: docker says `no such host`, Node ENOTFOUND or EAI_AGAIN. */
const DNS_FAILURE =
  /no such host|server misbehaving|\bENOTFOUND\b|\bEAI_AGAIN\b|Temporary failure in name resolution|Name or service not known/i
/** Nothing answered: refused, unreachable, or no answer to the connection within the time limit. */
const CONNECT_FAILURE =
  /connection refused|\bECONNREFUSED\b|no route to host|\bEHOSTUNREACH\b|network is unreachable|\bENETUNREACH\b|dial tcp [^ ]+: i\/o timeout|\bUND_ERR_CONNECT_TIMEOUT\b|TLS handshake timeout/i

export const FAILURE_RULES: readonly FailureRule[] = [
  {
    // Before any rule about the token: the request never reached a registry.
    id: 'dns',
    matches: text => DNS_FAILURE.test(text),
    explain: ({ registry }) =>
      `The name ${registry.replace(/:\d+$/, '')} could not be resolved (DNS), so no registry was reached and ` +
      'the token was not tried: check the registry input for a typo. On GitHub Enterprise Server the ' +
      'Container registry is containers.HOSTNAME and needs subdomain isolation; a self-hosted runner ' +
      'needs a DNS server that knows the name.'
  },
  {
    id: 'connection',
    matches: text => CONNECT_FAILURE.test(text),
    explain: ({ registry }) =>
      `The connection to ${registry} failed (refused, unreachable or timed out), so the token was not ` +
      "tried: check the registry's host and port, and that this runner can reach it (firewall, proxy, " +
      "a self-hosted runner's network)."
  },
  {
    // A 403 from an organization that enforces SAML single sign-on: the token works, but has not
    // been authorized for that organization.
    id: 'saml-sso',
    matches: text =>
      /\b403\b|forbidden|denied/i.test(text) && /\bSAML\b|\bSSO\b|single sign-on/i.test(text),
    explain: () =>
      'The organization enforces SAML single sign-on, and the token is not authorized for it: ' +
      'authorize it (GitHub → Settings → Developer settings → Personal access tokens → Configure ' +
      'SSO → Authorize, next to the organization), or use GITHUB_TOKEN, which needs no SSO authorization.'
  },
  {
    // docs/facts/github-registries.md, "Error strings": the token may not write this package.
    id: 'write-package',
    matches: text =>
      /permission_denied: write_package|installation not allowed to (Create|Write) organization package/i.test(
        text
      ),
    explain: () =>
      'The token may not write this package: give the job `permissions: packages: write` (and ' +
      '`contents: read`). If the package already exists and is not linked to this repository, grant ' +
      "the repository access in the package's settings (Manage Actions access), or link it with the " +
      '`org.opencontainers.image.source` label (this action adds it). On a `pull_request` from a fork ' +
      'the token is read-only: set `push: false` there.'
  },
  {
    id: 'installation-missing',
    matches: text => /The requested installation does not exist/i.test(text),
    explain: () =>
      'The package does not exist yet and this token cannot create it: publish it first from a ' +
      'workflow of this repository with GITHUB_TOKEN and `permissions: packages: write`, or with a ' +
      'classic personal access token that has write:packages.'
  },
  {
    // Bad credentials at login: ghcr.io says `unauthorized: unauthenticated` or `denied: denied`.
    id: 'bad-credentials',
    phases: ['login'],
    matches: (text, { exhausted }) =>
      !exhausted && /unauthorized: unauthenticated|denied: denied|\b401\b|unauthorized/i.test(text),
    explain: ({ registry }) =>
      `The registry refused the credentials: the token is missing, expired or revoked, or does not ` +
      `belong to the username. Use ${TOKEN_KINDS}; check that the secret passed as token is set ` +
      `and valid for ${registry}.`
  },
  {
    id: 'forbidden-blob',
    phases: ['push', 'read-back'],
    matches: text => /\b403\b|forbidden/i.test(text),
    explain: () =>
      'The registry forbids this operation for the token (403): it needs write access to the ' +
      'package (`permissions: packages: write`, or write:packages on a classic token).'
  },
  {
    id: 'rate-limited',
    matches: (text, { exhausted }) => Boolean(exhausted) && /toomanyrequests|\b429\b/i.test(text),
    explain: () =>
      'The registry rate-limits this token or runner (429): re-run later, or spread the publishes of ' +
      'concurrent jobs (a concurrency group).'
  },
  {
    // BuildKit's own push (produce/way.ts) fails inside the build: "failed to push REF: … 401
    // Unauthorized" / "403 Forbidden" / "denied". Not retried (util/retry.ts calls it permanent).
    id: 'buildkit-push-denied',
    phases: ['build'],
    matches: (text, { exhausted }) =>
      !exhausted &&
      /\bpush/i.test(text) &&
      /\b(401|403)\b|unauthorized|denied|forbidden/i.test(text),
    explain: ({ registry }) =>
      `The registry refused BuildKit's push to ${registry}: the token must be valid for the ` +
      `registry and allowed to write the package (${TOKEN_KINDS}).`
  },
  {
    // buildx's default builder (the docker driver, classic image store) builds for one platform
    // only: "ERROR: Multi-platform build is not supported for the docker driver." followed by
    // "Switch to a different driver, …" and "Learn more at https://docs.docker.com/go/build-multi-platform/"
    // (the last line is what a DockerCommandError carries).
    id: 'multi-platform-docker-driver',
    phases: ['build'],
    matches: text =>
      /multi-platform build is not supported for the docker driver|\/go\/build-multi-platform\b/i.test(
        text
      ),
    explain: () =>
      'A platforms build needs a builder that can build for several platforms: add ' +
      'docker/setup-qemu-action and docker/setup-buildx-action steps before this one, ' +
      MATRIX_WAY +
      '.'
  },
  {
    // The same builder exports no cache but inline: "ERROR: failed to build: Cache export is not
    // supported for the docker driver.", then the same advice, then "Learn more at
    // https://docs.docker.com/go/build-cache-backends/" (docs/facts/engines.md).
    id: 'cache-docker-driver',
    phases: ['build'],
    matches: text =>
      /cache export is not supported for the docker driver|\/go\/build-cache-backends\b/i.test(
        text
      ),
    explain: () =>
      "This runner's buildx builder (the docker driver, on the classic image store) exports no cache " +
      'but type=inline: add a docker/setup-buildx-action step before this one, use cache-to ' +
      'type=inline, or run on a runner with the containerd image store (ubuntu-latest).'
  },
  {
    // Nor attestations: "ERROR: failed to build: Attestation is not supported for the docker
    // driver.", …, "Learn more at https://docs.docker.com/go/attestations/".
    id: 'attestation-docker-driver',
    phases: ['build'],
    matches: text =>
      /attestation is not supported for the docker driver|\/go\/attestations\/?$/i.test(text),
    explain: () =>
      "provenance and sbom need a builder that makes attestations, which this runner's (the docker " +
      'driver, on the classic image store) does not: add a docker/setup-buildx-action step before ' +
      'this one, or run on a runner with the containerd image store (ubuntu-latest).'
  },
  {
    id: 'login-failed',
    phases: ['login'],
    // Not after giving up on transient errors: the token is not the problem then.
    matches: (_text, { exhausted }) => !exhausted,
    explain: ({ registry }) =>
      `Check that the token is valid for ${registry} and belongs to the username: ${TOKEN_KINDS}.`
  }
]

/** The explanation of the first rule that matches, or undefined. */
export function explainFailure(
  text: string,
  context: FailureContext,
  rules: readonly FailureRule[] = FAILURE_RULES
): string | undefined {
  const rule = rules.find(
    r => (!r.phases || r.phases.includes(context.phase)) && r.matches(text, context)
  )
  return rule?.explain(context)
}

/**
 * A failure reported by docker or the registry, with its explanation appended, as a one-line
 * UserError (the user can act on it). Unchanged when no rule matches, and for anything else (a bug
 * of ours keeps its stack trace for the debug log).
 */
export function withExplanation(error: unknown, context: FailureContext): unknown {
  const external =
    error instanceof DockerCommandError ||
    error instanceof RegistryError ||
    error instanceof UserError
  if (!external) return error
  const message = error.message
  const explanation = explainFailure(message, {
    ...context,
    exhausted: error instanceof RetriesExhausted
  })
  if (!explanation) return error
  return new UserError(`${message.replace(/[.\s]+$/, '')}. ${explanation}`)
}
