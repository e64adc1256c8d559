/**
 * The workflow run's context: the GITHUB_* variables and the event payload (the JSON file at
 * GITHUB_EVENT_PATH). This is the only file of the metadata code that does I/O; everything derived
 * from the context (tags, labels, push) is computed by the pure functions of metadata.ts.
 */
import { existsSync, readFileSync } from 'node:fs'

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

export interface EventContext {
  /** GITHUB_EVENT_NAME: push, pull_request, schedule, workflow_dispatch, … */
  eventName: string
  /** GITHUB_REF: refs/heads/BRANCH, refs/tags/TAG, refs/pull/N/merge. */
  ref: string
  /** GITHUB_SHA: the commit the run builds. */
  sha: string
  /** GITHUB_REPOSITORY: OWNER/REPO. */
  repository: string
  /** GITHUB_SERVER_URL: https://github.com or https://HOSTNAME on GHES. */
  serverUrl: string
  /** GITHUB_API_URL: https://api.github.com or https://HOSTNAME/api/v3. */
  apiUrl: string
  payload: EventPayload
  /** Problems reading the payload, for the log. */
  warnings: string[]
}

type Env = Record<string, string | undefined>

/** Reads the run's context from the environment and the event file (missing file: empty payload). */
export function readEventContext(env: Env = process.env): EventContext {
  const warnings: string[] = []
  let payload: EventPayload = {}
  const file = env.GITHUB_EVENT_PATH
  if (file && existsSync(file)) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'))
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        payload = parsed as EventPayload
      } else {
        warnings.push(`The event payload ${file} is not a JSON object; it is ignored.`)
      }
    } catch (error) {
      warnings.push(
        `Could not read the event payload ${file} (${(error as Error).message}); it is ignored.`
      )
    }
  }
  return {
    eventName: env.GITHUB_EVENT_NAME ?? '',
    ref: env.GITHUB_REF ?? '',
    sha: env.GITHUB_SHA ?? '',
    repository: env.GITHUB_REPOSITORY ?? '',
    serverUrl: (env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, ''),
    apiUrl: (env.GITHUB_API_URL ?? '').replace(/\/+$/, ''),
    payload,
    warnings
  }
}
