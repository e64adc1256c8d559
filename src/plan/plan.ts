/**
 * The plan of the run: everything decided from the inputs and the workflow context alone, before
 * any daemon or network call. Every user error is raised here.
 */
import { isGitHubRegistry } from '../github/hosts.js'
import { checkRegistryOpen } from './registry-rules.js'
import type { RunContext } from '../github/context.js'
import { UserError } from '../util/errors.js'
import type { ActionInputs } from './action-inputs.js'
import { readInputs } from './inputs.js'
import { resolveMediaTypes, type MediaTypesChoice } from './media-types.js'
import { checkMergeImages } from './merge-digests.js'
import { resolveNames, type ImageNames } from './names.js'
import { checkCacheInput } from './cache.js'
import {
  buildDecisions,
  checkBuildEnvironment,
  checkBuildFiles,
  checkCredentials,
  checkInputCombinations,
  checkUsername,
  type BuildDecisions
} from './rules.js'
import { tokenAdvice, type Advice } from './token-advice.js'
import { resolvePush, resolveTags, versionForDigestPush } from './tags.js'

/** The plan; what the build asks of its builder is decided here too (BuildDecisions, rules.ts). */
export interface Plan extends BuildDecisions {
  inputs: ActionInputs
  names: ImageNames
  push: boolean
  /** The version label: the first tag (or, pushing by digest, the first the event calls for). */
  version: string
  /** merge-digests: no build, no docker; an index of images already pushed. */
  merging: boolean
  /** The media types written: OCI or Docker v2 (plan/media-types.ts). */
  mediaTypes: MediaTypesChoice
  /** For the log, in order. */
  notices: string[]
  /** Advice on the token (plan/token-advice.ts). */
  advice: Advice[]
}

/**
 * The most tags one run publishes. GitHub documents no limit; each tag costs a manifest PUT and a
 * read-back (a `docker tag` too for a source-image), so ten thousand take minutes, and no real
 * workflow needs a thousand (docs/facts/content-trust.md).
 */
export const MAX_TAGS = 1000

function checkTagCount(count: number): void {
  if (count > MAX_TAGS) {
    throw new UserError(
      `tags lists ${count} tags, more than the ${MAX_TAGS} one run publishes: publish the ` +
        'versions that matter (e.g. 1.2.3, 1.2, 1, latest), or split the tags over several steps.'
    )
  }
}

export function makePlan(
  run: RunContext,
  getInput?: (name: string) => string,
  cwd = process.cwd()
): Plan {
  const inputs = readInputs(run, getInput)
  checkInputCombinations(inputs)
  checkCacheInput(inputs)
  // push-by-digest pushes no tag: the tags the event calls for only give the version label.
  const derived = inputs.pushByDigest
    ? { tags: [], notices: [] }
    : resolveTags(inputs.tags, inputs.tagsMode, run)
  checkTagCount(derived.tags.length)
  const names = resolveNames({ ...inputs, tags: derived.tags, allowNoTags: inputs.pushByDigest })
  const { push, notice: pushNotice } = resolvePush(inputs.push, run)
  const merging = inputs.mergeDigests.length > 0
  checkRegistryOpen(names, inputs.serverUrl)
  const mediaTypes = resolveMediaTypes(inputs, names.registryType, names.registry)
  checkCredentials(inputs, push)
  if (inputs.token && inputs.username) {
    checkUsername(inputs.username, isGitHubRegistry(names.registry, run.server))
  }
  if (merging) checkMergeImages(inputs.mergeDigests, names)
  if (!inputs.sourceImage && !merging) {
    checkBuildFiles(inputs, cwd)
    checkBuildEnvironment(inputs, run.env, cwd)
  }
  if (inputs.keepLogin && !inputs.token) {
    throw new UserError(
      "keep-login logs the job's later steps in with the token, but token is empty: pass a token, or remove keep-login."
    )
  }
  return {
    inputs,
    names,
    push,
    version: inputs.pushByDigest ? versionForDigestPush(run) : names.tags[0],
    merging,
    mediaTypes,
    ...buildDecisions(inputs),
    notices: [...derived.notices, ...names.notices, ...(pushNotice ? [pushNotice] : [])],
    advice: tokenAdvice({
      token: inputs.token,
      registry: names.registry,
      owner: names.owner,
      push,
      repositoryOwner: run.repositoryOwner,
      serverUrl: inputs.serverUrl,
      inWorkflow: run.inWorkflow
    })
  }
}
