/**
 * The OCI labels of this run (plan/labels.ts): the action's, from the event and the repository's
 * description and licence (the payload, or one GitHub API call: github/repository-info.ts), and
 * the user's.
 */
import * as core from '@actions/core'
import type { RunContext } from '../github/context.js'
import { resolveRepositoryInfo } from '../github/repository-info.js'
import { createdTimestamp, imageLabels, type ImageLabels } from '../plan/labels.js'
import type { Plan } from '../plan/plan.js'

export async function readLabels(plan: Plan, run: RunContext): Promise<ImageLabels> {
  const repo = await resolveRepositoryInfo(run, plan.names.registry, plan.inputs.token)
  if (repo.message) (repo.failed ? core.notice : core.info)(repo.message)
  return imageLabels({
    ctx: run,
    version: plan.version,
    created: createdTimestamp(
      run.sourceDateEpoch,
      new Date(),
      run.payload.head_commit?.timestamp ?? undefined
    ),
    repo: repo.info,
    userLabels: plan.inputs.labels
  })
}
