/**
 * The main step, top to bottom: inputs and event → tags, push default and names → (checks, token
 * advice) → then one of two flows:
 *
 *   merge-digests: no build, no docker: the registry client reads the images and pushes one index
 *     under every tag (merge.ts).
 *   build: own docker config → source-image exists? → login (meanwhile: registry token, buildx
 *     probe, repository info) → labels → build (or take the source-image) → push: the first tag by
 *     docker and the rest through the registry API; or by digest without a tag; or, for platforms,
 *     by buildx itself → read the digest back.
 *
 * → outputs and summary.
 */
import * as core from '@actions/core'
import * as os from 'node:os'
import { createActionConfig, runnerConfigDir } from './docker-config.js'
import { Docker } from './docker.js'
import { tokenAdvice, withExplanation, type Phase, type TokenContext } from './diagnostics.js'
import { DockerCommandError, UserError, errorMessage } from './errors.js'
import { readEventContext, type EventContext } from './event.js'
import { resolveRepositoryInfo } from './github-api.js'
import { buildForPlatforms, buildImage, findSourceImage, tagSourceImage } from './image.js'
import { checkBuildFiles, checkCredentials, readInputs, type ActionInputs } from './inputs.js'
import { checkMergeImages } from './merge.js'
import {
  createdTimestamp,
  imageLabels,
  packagePageUrl,
  type ImageLabels,
  resolvePush,
  resolveTags,
  versionForDigestPush
} from './metadata.js'
import { resolveNames, type ImageNames } from './naming.js'
import { setOutputs, writeSummary, type PublishResult } from './outputs.js'
import {
  checkBuildxPush,
  describeLocalImage,
  mergeIndex,
  pushByDigest,
  pushTags,
  type Published
} from './publish.js'
import { RegistryClient, repositoryScope } from './registry.js'
import { checkEngineForRegistry, registryNotices } from './registry-rules.js'
import { checkTokenScopes } from './token-scopes.js'
import {
  DEFAULT_POLICY,
  RetriesExhausted,
  classifyDockerText,
  withRetries,
  type RetryPolicy
} from './retry.js'
import { STATE } from './state.js'

export async function run(): Promise<void> {
  try {
    core.saveState(STATE.isPost, 'true')
    // 1. Everything that can be checked without docker or the network. push-by-digest pushes no
    //    tag: the tags the event calls for only give the version label.
    const inputs = readInputs()
    const event = readEventContext()
    event.warnings.forEach(w => core.warning(w))
    const derived = inputs.pushByDigest
      ? { tags: [], notices: [] }
      : resolveTags(inputs.tags, inputs.tagsMode, event)
    const names = resolveNames({ ...inputs, tags: derived.tags, allowNoTags: inputs.pushByDigest })
    const { push, notice: pushNotice } = resolvePush(inputs.push, event)
    for (const notice of [
      ...derived.notices,
      ...names.notices,
      ...registryNotices(names, inputs.serverUrl)
    ]) {
      core.notice(notice)
    }
    if (pushNotice) core.notice(pushNotice)
    checkCredentials(inputs, push)
    const merging = inputs.mergeDigests.length > 0
    if (merging) checkMergeImages(inputs.mergeDigests, names)
    if (!inputs.sourceImage && !merging) checkBuildFiles(inputs)
    for (const advice of tokenAdvice(tokenContext(inputs, names, push))) {
      core[advice.level](advice.message)
    }
    core.info(`Image: ${names.image}`)
    core.info(`Tags: ${names.tags.join(', ') || 'none (push-by-digest pushes no tag)'}`)
    const version = inputs.pushByDigest ? versionForDigestPush(event) : names.tags[0]
    // A failure of the registry steps is explained from its text where GitHub's guidance can.
    const explain =
      (phase: Phase) =>
      (error: unknown): never => {
        throw withExplanation(error, { phase, registry: names.registry })
      }

    // 2. Merge the images pushed by digest into one index, or build and push.
    const result = merging
      ? await mergeFlow(inputs, event, names, push, version, explain)
      : await buildFlow(inputs, event, names, push, version, explain)

    // 3. Outputs and job summary.
    setOutputs(result)
    await writeSummary(result)
  } catch (error) {
    fail(error)
  }
}

type Explain = (phase: Phase) => (error: unknown) => never

/** The OCI labels for this run: the action's (from the event and repository) and the user's. */
async function labelsFor(
  inputs: ActionInputs,
  event: EventContext,
  version: string,
  registry: string
): Promise<ImageLabels> {
  const repo = await resolveRepositoryInfo(event, registry, inputs.token)
  if (repo.message) (repo.failed ? core.notice : core.info)(repo.message)
  return imageLabels({
    ctx: event,
    version,
    created: createdTimestamp(
      process.env.SOURCE_DATE_EPOCH,
      new Date(),
      event.payload.head_commit?.timestamp ?? undefined
    ),
    repo: repo.info,
    userLabels: inputs.labels
  })
}

/**
 * merge-digests: no docker at all (no config directory, no login): the registry client reads each
 * image and PUTs the index under every tag. The labels become the index's annotations, where
 * GitHub reads a multi-platform image's description (shared/REGISTRY-FACTS.md, "Limits").
 */
async function mergeFlow(
  inputs: ActionInputs,
  event: EventContext,
  names: ImageNames,
  push: boolean,
  version: string,
  explain: Explain
): Promise<PublishResult> {
  const base = { names, imageId: '', version, packageUrl: packagePageUrl(names, event) }
  if (!push) {
    // Only on a pull request from a fork, where the build jobs pushed nothing either.
    core.notice('push is false, so the images are not merged: nothing was pushed.')
    return { ...base, builder: 'none', labels: {}, digest: '', size: null, platform: '' }
  }
  const registry = registryClient(inputs, names)
  const warmUp = registry
    .authorize([repositoryScope(names.path, ['pull', 'push'])])
    .catch(() => undefined)
  const labels = await labelsFor(inputs, event, version, names.registry)
  await warmUp
  const published = await mergeIndex(registry, names, inputs.mergeDigests, labels.all, explain)
  return {
    ...base,
    builder: `none: merged ${inputs.mergeDigests.length} images into an index`,
    labels: labels.all,
    labelsAre: 'annotations',
    ...published
  }
}

/** Build (or take the source-image) and push: by tag, by digest, or by buildx for platforms. */
async function buildFlow(
  inputs: ActionInputs,
  event: EventContext,
  names: ImageNames,
  push: boolean,
  version: string,
  explain: Explain
): Promise<PublishResult> {
  // A Docker config directory of our own; the post step removes it.
  const config = createActionConfig(
    names.registry,
    runnerConfigDir(),
    process.env.RUNNER_TEMP || os.tmpdir()
  )
  core.saveState(STATE.configDir, config.dir)
  core.saveState(STATE.registry, names.registry)
  config.warnings.forEach(w => core.warning(w))
  const docker = new Docker(config.dir)
  // A source-image must exist locally: checked before anything is sent anywhere.
  const sourceId = inputs.sourceImage ? await findSourceImage(docker, inputs.sourceImage) : ''

  // While docker logs in: the registry client gets its push token (no 401 round trip after the
  // push), docker says whether buildx is there, and the repository's description and licence
  // come from the event payload (or one GitHub API call when it lacks them).
  const registry = registryClient(inputs, names)
  const warmUp = push
    ? registry.authorize([repositoryScope(names.path, ['pull', 'push'])]).catch(() => undefined)
    : undefined
  const buildxProbe =
    inputs.sourceImage || inputs.buildx.mode === 'false'
      ? Promise.resolve(false)
      : docker.hasBuildx()
  const labelsPromise = labelsFor(inputs, event, version, names.registry)
  // A classic PAT's scopes, read from the GitHub API while docker logs in; checked before the build.
  const scopeCheck = checkTokenScopes({
    token: inputs.token,
    push,
    registry: names.registry,
    serverUrl: inputs.serverUrl,
    apiUrl: process.env.GITHUB_API_URL ?? ''
  }).then(
    result => () => result,
    (error: unknown) => () => {
      throw error
    }
  )
  // The GHES Docker registry refuses Engine 25+: asked while docker logs in, checked before the build.
  const engineCheck =
    names.registryType === 'docker' && push
      ? docker.serverVersion().then(
          v => () => checkEngineForRegistry(names, v),
          () => () => undefined
        )
      : Promise.resolve(() => undefined)
  if (inputs.token) {
    await core
      .group(`Log in to ${names.registry}`, () =>
        retryDocker('docker login', policy(inputs), registry, () =>
          docker.login(names.registry, inputs.username, inputs.token)
        ).catch(error => loginOutlasted(error, push, registry))
      )
      .catch(explain('login'))
    core.saveState(STATE.loggedIn, 'true')
  } else {
    core.info('No token given and push is false: not logging in.')
  }

  const checkEngine = await engineCheck
  checkEngine()
  const scopes = (await scopeCheck)()
  if (scopes.warning) core.warning(scopes.warning)
  if (scopes.notice) core.notice(scopes.notice)
  if (scopes.scopes) core.info(`Classic token scopes: ${scopes.scopes.join(', ')}`)
  // OCI labels (the user's win); a source-image is published as it is: it carries its own.
  const labels = await labelsPromise
  const buildLabels = [...labels.added, ...inputs.labels]
  const base = {
    names,
    version,
    labels: inputs.sourceImage ? {} : labels.all,
    packageUrl: packagePageUrl(names, event)
  }

  // platforms: buildx builds and pushes in one go; then the digest is read back.
  if (inputs.platforms.length) {
    const built = await buildForPlatforms(
      docker,
      inputs,
      names,
      config.dir,
      buildLabels,
      push,
      buildxProbe
    ).catch(explain('build'))
    await warmUp
    const published: Published = push
      ? await checkBuildxPush(registry, names, built, explain)
      : { digest: '', size: null, platform: inputs.platforms.join(',') }
    if (!push)
      core.info('push is false: the build was checked for every platform; nothing was stored.')
    return { ...base, imageId: built.imageId, builder: built.builder, ...published }
  }

  // Build with every tag (or tag the source-image), then push.
  const { imageId, builder } = inputs.sourceImage
    ? await tagSourceImage(docker, inputs.sourceImage, sourceId, names)
    : await buildImage(docker, inputs, names, config.dir, buildLabels, buildxProbe)
  const published = !push
    ? await describeLocalImage(docker, imageId)
    : inputs.pushByDigest
      ? await pushByDigest(docker, registry, names, imageId, warmUp, explain)
      : await pushTags(docker, registry, names, imageId, warmUp, explain)
  return { ...base, imageId, builder, ...published }
}

/** The retry policy of the `retries` input. */
function policy(inputs: ActionInputs): RetryPolicy {
  return { ...DEFAULT_POLICY, retries: inputs.retries }
}

/** The registry client, with the action's retries and a log line for each. */
function registryClient(inputs: ActionInputs, names: ImageNames): RegistryClient {
  return new RegistryClient({
    registry: names.registry,
    username: inputs.username,
    password: inputs.token,
    retry: policy(inputs),
    onRetry: message => core.info(`Transient failure: ${message}`)
  })
}

/**
 * A docker command retried on transient failures, judged from docker's own error text (the
 * daemon talks to the registry, so its words are all there is); the wait is logged.
 */
function retryDocker<T>(
  what: string,
  policy: RetryPolicy,
  registry: RegistryClient,
  run: () => Promise<T>
): Promise<T> {
  return withRetries(
    what,
    () => run().catch(error => reconsiderUnauthorized(error, registry)),
    error =>
      error instanceof DockerCommandError
        ? error instanceof AuthenticationLost
          ? { transient: true, reason: 'unauthorized, but the credentials are valid' }
          : classifyDockerText(error.detail)
        : { transient: false, reason: 'error' },
    policy,
    {
      onRetry: ({ attempt, delayMs, reason }) =>
        core.info(
          `${what}: transient failure (${reason}); retry ${attempt} in ${(delayMs / 1000).toFixed(1)} s`
        )
    }
  )
}

/**
 * docker login kept failing with transient errors, but the registry accepts the credentials when
 * our client asks (with its own per-request retries): the push does not need docker's login (it
 * goes through our client), so go on with a warning; only a build that pulls from this registry
 * would miss it. Anything else is rethrown.
 */
async function loginOutlasted(
  error: unknown,
  push: boolean,
  registry: RegistryClient
): Promise<void> {
  if (!(error instanceof RetriesExhausted) || !push) throw error
  if (!(await registry.verifyCredentials().catch(() => false))) throw error
  core.warning(
    `${error.message.split('; ')[0]}, but ${registry.registry} accepts the credentials: going on, ` +
      'since the push goes through the action’s own registry client. A build step that pulls a ' +
      `private image from ${registry.registry} may fail for want of docker's login.`
  )
}

/** A docker 401 although the registry accepts the credentials: a transient fault in disguise. */
class AuthenticationLost extends DockerCommandError {}

/**
 * When the daemon's first `GET /v2/` meets a 503 or a dropped connection, it never learns the
 * auth challenge, sends the next request without credentials and reports `401 Unauthorized`. A
 * 401 is final only if the registry also refuses the credentials when our client asks it (with
 * its own retries); if it accepts them, docker's 401 is retried like any transient failure.
 */
async function reconsiderUnauthorized(error: unknown, registry: RegistryClient): Promise<never> {
  if (
    error instanceof DockerCommandError &&
    /\b401\b|unauthorized/i.test(error.detail) &&
    !/denied/i.test(error.detail) &&
    (await registry.verifyCredentials().catch(() => false))
  ) {
    throw new AuthenticationLost(error.command, error.exitCode, error.detail)
  }
  throw error
}

/** What the token advice looks at: the token, where it pushes, and the workflow context. */
function tokenContext(inputs: ActionInputs, names: ImageNames, push: boolean): TokenContext {
  return {
    token: inputs.token,
    registry: names.registry,
    owner: names.owner,
    push,
    repositoryOwner:
      process.env.GITHUB_REPOSITORY_OWNER || inputs.contextRepository.split('/')[0] || '',
    serverUrl: inputs.serverUrl,
    inWorkflow: process.env.GITHUB_ACTIONS === 'true'
  }
}

/** One clear line for the user; stack traces only in debug logs, and only for our own bugs. */
export function fail(error: unknown): void {
  if (error instanceof UserError || error instanceof DockerCommandError) {
    core.setFailed(error.message)
    return
  }
  core.debug(error instanceof Error ? (error.stack ?? error.message) : String(error))
  core.setFailed(errorMessage(error))
}
