/**
 * The workflow run's context: what the runner tells a step through its environment (GITHUB_*,
 * RUNNER_*) and the event payload (@actions/github's context reads the file at GITHUB_EVENT_PATH).
 * The only module that reads the run's environment; every stage takes what it needs from here.
 */
import * as os from 'node:os'
import * as path from 'node:path'
import { DEFAULT_CERTS_D, DEFAULT_DAEMON_JSON, type TlsSources } from '../registry/tls.js'
import { UserError, errorMessage } from '../util/errors.js'
import { runnerServer, type GitHubServer } from './hosts.js'

/** The fields of a repository object in an event payload that the action uses. */
export interface PayloadRepository {
  name?: string
  full_name?: string
  html_url?: string
  /** null when the repository has none; absent when the payload does not carry it. */
  description?: string | null
  default_branch?: string
  license?: { spdx_id?: string | null } | null
  owner?: { login?: string; type?: string }
}

/** The parts of an event payload the action reads; all optional, as payloads differ by event. */
export interface EventPayload {
  repository?: PayloadRepository
  number?: number
  /** push events: the commit pushed, with its committer timestamp (ISO 8601). */
  head_commit?: { id?: string; timestamp?: string } | null
  pull_request?: {
    number?: number
    head?: { repo?: { full_name?: string } | null }
    base?: { repo?: { full_name?: string } | null }
  }
}

export interface RunContext {
  /** GITHUB_EVENT_NAME: push, pull_request, schedule, workflow_dispatch, … */
  eventName: string
  /** GITHUB_REF: refs/heads/BRANCH, refs/tags/TAG, refs/pull/N/merge. */
  ref: string
  /** GITHUB_SHA: the commit the run builds. */
  sha: string
  /** GITHUB_REPOSITORY: OWNER/REPO ('' when unset). */
  repository: string
  /** GITHUB_REPOSITORY_OWNER, else the owner part of GITHUB_REPOSITORY. */
  repositoryOwner: string
  /** GITHUB_ACTOR: the default username. */
  actor: string
  /** The server the workflow runs on (GITHUB_SERVER_URL, GITHUB_API_URL). */
  server: GitHubServer
  /** GITHUB_SERVER_URL, without a trailing slash (https://github.com when unset). */
  serverUrl: string
  payload: EventPayload
  /** RUNNER_TEMP, else the OS temp folder: where the action's own files go. */
  temp: string
  /** Where the runner's docker CLI keeps its config: $DOCKER_CONFIG or ~/.docker. */
  dockerConfig: string
  /** Running in a workflow (GITHUB_ACTIONS=true), not on a developer's machine. */
  inWorkflow: boolean
  /** SOURCE_DATE_EPOCH, for reproducible builds. */
  sourceDateEpoch?: string
  /** GITHUB_STEP_SUMMARY is set (always on a runner). */
  hasStepSummary: boolean
  /**
   * Where the registry client finds CAs (registry/tls.ts): NODE_EXTRA_CA_CERTS, and the certs.d
   * root, /etc/docker/certs.d as the daemon reads it, or PUBLISH_CONTAINER_CERTS_D (for tests, and
   * runners whose daemon keeps it elsewhere, e.g. rootless docker's ~/.config/docker/certs.d).
   */
  tls: TlsSources
  /**
   * The step's environment, for what the workflow hands the build by name (secret-envs, the
   * cache service's ACTIONS_* variables); read, never changed.
   */
  env: Readonly<Env>
}

type Env = Record<string, string | undefined>

/** What the action reads of @actions/github's context. */
export interface GitHubContextLike {
  eventName?: string
  ref?: string
  sha?: string
  payload?: unknown
  serverUrl?: string
  apiUrl?: string
}

/** The run's context from an environment and @actions/github's context (pure). */
export function runContextFrom(env: Env, github: GitHubContextLike): RunContext {
  const payload =
    github.payload && typeof github.payload === 'object' && !Array.isArray(github.payload)
      ? (github.payload as EventPayload)
      : {}
  const repository = env.GITHUB_REPOSITORY ?? ''
  const server = runnerServer(
    github.serverUrl || env.GITHUB_SERVER_URL,
    github.apiUrl || env.GITHUB_API_URL
  )
  return {
    eventName: github.eventName ?? env.GITHUB_EVENT_NAME ?? '',
    ref: github.ref ?? env.GITHUB_REF ?? '',
    sha: github.sha ?? env.GITHUB_SHA ?? '',
    repository,
    repositoryOwner: env.GITHUB_REPOSITORY_OWNER || repository.split('/')[0] || '',
    actor: env.GITHUB_ACTOR ?? '',
    server,
    serverUrl: (github.serverUrl || env.GITHUB_SERVER_URL || 'https://github.com').replace(
      /\/+$/,
      ''
    ),
    payload,
    temp: env.RUNNER_TEMP || os.tmpdir(),
    dockerConfig: env.DOCKER_CONFIG || path.join(env.HOME || os.homedir(), '.docker'),
    inWorkflow: env.GITHUB_ACTIONS === 'true',
    sourceDateEpoch: env.SOURCE_DATE_EPOCH,
    hasStepSummary: Boolean(env.GITHUB_STEP_SUMMARY),
    tls: {
      certsDir: env.PUBLISH_CONTAINER_CERTS_D || DEFAULT_CERTS_D,
      extraCaFile: env.NODE_EXTRA_CA_CERTS || undefined,
      daemonJson: DEFAULT_DAEMON_JSON
    },
    env
  }
}

type GitHubModule = typeof import('@actions/github')
let loaded: Promise<GitHubModule> | undefined

/**
 * @actions/github, loaded on first use: its context reads the event payload as it loads, and an
 * unreadable payload is reported as such instead of crashing the step before it starts. The post
 * step never loads it.
 */
export function gitHub(
  importer: () => Promise<GitHubModule> = () => import('@actions/github')
): Promise<GitHubModule> {
  loaded ??= importer().catch((error: unknown) => {
    loaded = undefined
    if (!(error instanceof SyntaxError)) throw error
    throw new UserError(
      `the event payload at GITHUB_EVENT_PATH could not be read (${errorMessage(error)}): the ` +
        'runner writes it; if you set GITHUB_EVENT_PATH yourself, point it at a JSON file.'
    )
  })
  return loaded
}

/** The run's context, as the runner gives it to this step. */
export async function readRunContext(env: Env = process.env): Promise<RunContext> {
  return runContextFrom(env, (await gitHub()).context)
}
