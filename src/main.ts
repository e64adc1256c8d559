/**
 * The main step, top to bottom: inputs and event → tags, push default and names → (checks, token
 * advice) → own docker config → source-image exists? → login (meanwhile: registry token, buildx
 * probe, repository info) → labels → build (or tag the source-image) → push the first tag → tag the
 * rest through the registry API and read the digest back → outputs and summary.
 */
import * as core from '@actions/core'
import * as os from 'node:os'
import { createActionConfig, runnerConfigDir } from './docker-config.js'
import { Docker } from './docker.js'
import { tokenAdvice, withExplanation, type Phase, type TokenContext } from './diagnostics.js'
import { DockerCommandError, UserError, errorMessage } from './errors.js'
import { readEventContext } from './event.js'
import { resolveRepositoryInfo } from './github-api.js'
import { describePushedImage, platformString, type ImageInfo } from './image-info.js'
import { buildImage, findSourceImage, tagSourceImage } from './image.js'
import { checkBuildFiles, checkCredentials, readInputs, type ActionInputs } from './inputs.js'
import {
  createdTimestamp,
  imageLabels,
  packagePageUrl,
  resolvePush,
  resolveTags
} from './metadata.js'
import { resolveNames, type ImageNames } from './naming.js'
import { setOutputs, writeSummary } from './outputs.js'
import { RegistryClient, repositoryScope } from './registry.js'
import {
  DEFAULT_POLICY,
  RetriesExhausted,
  classifyDockerText,
  withRetries,
  type RetryPolicy
} from './retry.js'
import { STATE } from './state.js'
import { pushImage } from './push.js'
import { tagAndVerify } from './tags.js'

export async function run(): Promise<void> {
  try {
    core.saveState(STATE.isPost, 'true')
    // 1. Everything that can be checked without docker or the network.
    const inputs = readInputs()
    const event = readEventContext()
    event.warnings.forEach(w => core.warning(w))
    const derived = resolveTags(inputs.tags, inputs.tagsMode, event)
    const names = resolveNames({ ...inputs, tags: derived.tags })
    const { push, notice: pushNotice } = resolvePush(inputs.push, event)
    for (const notice of [...derived.notices, ...names.notices]) core.notice(notice)
    if (pushNotice) core.notice(pushNotice)
    checkCredentials(inputs, push)
    if (!inputs.sourceImage) checkBuildFiles(inputs)
    for (const advice of tokenAdvice(tokenContext(inputs, names, push))) {
      core[advice.level](advice.message)
    }
    core.info(`Image: ${names.image}`)
    core.info(`Tags: ${names.tags.join(', ')}`)

    // 2. A Docker config directory of our own; the post step removes it.
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
    // A failure of the registry steps is explained from its text where GitHub's guidance can.
    const explain =
      (phase: Phase) =>
      (error: unknown): never => {
        throw withExplanation(error, { phase, registry: names.registry })
      }

    // 3. While docker logs in: the registry client gets its push token (no 401 round trip after
    //    the push), docker says whether buildx is there, and the repository's description and
    //    licence come from the event payload (or one GitHub API call when it lacks them).
    const retry: RetryPolicy = { ...DEFAULT_POLICY, retries: inputs.retries }
    const registry = new RegistryClient({
      registry: names.registry,
      username: inputs.username,
      password: inputs.token,
      retry,
      onRetry: message => core.info(`Transient failure: ${message}`)
    })
    const warmUp = push
      ? registry.authorize([repositoryScope(names.path, ['pull', 'push'])]).catch(() => undefined)
      : undefined
    const buildxProbe =
      inputs.sourceImage || inputs.buildx.mode === 'false'
        ? Promise.resolve(false)
        : docker.hasBuildx()
    const repoInfo = resolveRepositoryInfo(event, names.registry, inputs.token)
    if (inputs.token) {
      await core
        .group(`Log in to ${names.registry}`, () =>
          retryDocker('docker login', retry, registry, () =>
            docker.login(names.registry, inputs.username, inputs.token)
          ).catch(error => loginOutlasted(error, push, registry))
        )
        .catch(explain('login'))
      core.saveState(STATE.loggedIn, 'true')
    } else {
      core.info('No token given and push is false: not logging in.')
    }

    // 4. OCI labels (the user's win), then the build with every tag (or tag the source-image).
    const repo = await repoInfo
    if (repo.message) (repo.failed ? core.notice : core.info)(repo.message)
    const version = names.tags[0]
    const labels = imageLabels({
      ctx: event,
      version,
      created: createdTimestamp(process.env.SOURCE_DATE_EPOCH, new Date()),
      repo: repo.info,
      userLabels: inputs.labels
    })
    const { imageId, builder } = inputs.sourceImage
      ? await tagSourceImage(docker, inputs.sourceImage, sourceId, names)
      : await buildImage(
          docker,
          inputs,
          names,
          config.dir,
          [...labels.added, ...inputs.labels],
          buildxProbe
        )

    // 5. Push once, tag the rest through the registry API, read the digest back.
    const published = push
      ? await publish(docker, registry, names, imageId, warmUp, explain)
      : await describeLocalImage(docker, imageId)

    // 6. Outputs and job summary.
    const result = {
      names,
      imageId,
      builder,
      version,
      // A source-image is published as it is: it carries its own labels, none were added.
      labels: inputs.sourceImage ? {} : labels.all,
      ...published,
      packageUrl: packagePageUrl(names, event)
    }
    setOutputs(result)
    await writeSummary(result)
  } catch (error) {
    fail(error)
  }
}

interface Published extends ImageInfo {
  /** '' when nothing was pushed. */
  digest: string
  localSize?: number
}

/**
 * `docker push` of the first tag; every further tag is one manifest PUT of the same bytes. The
 * digest is what the registry serves. Size comes from the manifest's layers; the platform from the
 * local image's config (inspected while the push runs) when it is the config that was pushed.
 */
async function publish(
  docker: Docker,
  registry: RegistryClient,
  names: ImageNames,
  imageId: string,
  warmUp: Promise<unknown> | undefined,
  explain: (phase: Phase) => (error: unknown) => never
): Promise<Published> {
  const [firstTag] = names.tags
  const local = docker.inspectImage(imageId).catch(() => undefined)
  await warmUp // its failure, if any, resurfaces in the requests below with a clear error
  const pushed = await core
    .group(`Push ${names.image}:${firstTag}`, async () => {
      const report = await pushImage(
        docker,
        registry,
        names.path,
        imageId,
        firstTag,
        process.env.RUNNER_TEMP || os.tmpdir(),
        message => core.info(message)
      )
      core.info(
        `${report.layers} layer(s); ${report.uploaded} blob(s) uploaded (${registry.uploadedBytes} bytes), ` +
          `${report.existing} already in the registry`
      )
      return report
    })
    .catch(explain('push'))
  const manifest = await core
    .group(
      names.tags.length > 1
        ? `Tag ${names.tags.length - 1} more through the registry API`
        : 'The registry’s digest',
      async () => {
        const m = await tagAndVerify(registry, names, pushed)
        for (const tag of names.tags) core.info(`${names.image}:${tag} → ${m.digest}`)
        return m
      }
    )
    .catch(explain('read-back'))
  core.info(`Digest: ${manifest.digest} (${registry.requests} registry API requests)`)
  const localImage = await local
  // Size and platform are for the summary and the metadata output: a failure is not fatal.
  const info = await describePushedImage(registry, names.path, manifest.digest, {
    manifest: manifest.bytes,
    config: localImage && { digest: imageId, platform: platformString(localImage) }
  }).catch(error => {
    core.warning(`Could not read the size and platform of ${names.image}: ${errorMessage(error)}`)
    return { size: null, platform: '' }
  })
  return { digest: manifest.digest, ...info }
}

/** Not pushed: platform and uncompressed size of the local image. */
async function describeLocalImage(docker: Docker, imageId: string): Promise<Published> {
  core.info('push is false: the image was tagged locally, nothing was pushed.')
  try {
    const local = await docker.inspectImage(imageId)
    return { digest: '', size: null, platform: platformString(local), localSize: local.size }
  } catch (error) {
    core.warning(`Could not inspect the local image ${imageId}: ${errorMessage(error)}`)
    return { digest: '', size: null, platform: '' }
  }
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
