/**
 * The main step, top to bottom: inputs and event → tags, push default and names → (checks) →
 * labels → own docker config → login → build → push → read the digest, size and platform back
 * from the registry → outputs and summary.
 */
import * as core from '@actions/core'
import * as os from 'node:os'
import { createActionConfig, runnerConfigDir } from './docker-config.js'
import { Docker } from './docker.js'
import { DockerCommandError, UserError, errorMessage } from './errors.js'
import { readEventContext } from './event.js'
import { resolveRepositoryInfo } from './github-api.js'
import { describePushedImage, platformString, type ImageInfo } from './image-info.js'
import { checkBuildFiles, checkCredentials, readInputs } from './inputs.js'
import {
  createdTimestamp,
  imageLabels,
  packagePageUrl,
  resolvePush,
  resolveTags
} from './metadata.js'
import { resolveNames, type ImageNames } from './naming.js'
import { setOutputs, writeSummary } from './outputs.js'
import { RegistryClient } from './registry.js'
import { verifyPushedDigest } from './verify.js'
import { STATE } from './state.js'

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
    checkBuildFiles(inputs)
    core.info(`Image: ${names.image}`)
    core.info(`Tags: ${names.tags.join(', ')}`)

    // 2. OCI labels (the user's win); the repository's description and licence come from the
    //    payload, or from one GitHub API call when the payload lacks them.
    const repo = await resolveRepositoryInfo(event, names.registry, inputs.token)
    if (repo.message) (repo.failed ? core.notice : core.info)(repo.message)
    const version = names.tags[0]
    const labels = imageLabels({
      ctx: event,
      version,
      created: createdTimestamp(process.env.SOURCE_DATE_EPOCH, new Date()),
      repo: repo.info,
      userLabels: inputs.labels
    })

    // 3. A Docker config directory of our own; the post step removes it.
    const config = createActionConfig(
      names.registry,
      runnerConfigDir(),
      process.env.RUNNER_TEMP || os.tmpdir()
    )
    core.saveState(STATE.configDir, config.dir)
    core.saveState(STATE.registry, names.registry)
    config.warnings.forEach(w => core.warning(w))
    const docker = new Docker(config.dir)

    // 4. Log in, build, then push and read back (or describe the local image).
    if (inputs.token) {
      await core.group(`Log in to ${names.registry}`, () =>
        docker.login(names.registry, inputs.username, inputs.token).catch(error => {
          throw loginHint(error, names.registry)
        })
      )
      core.saveState(STATE.loggedIn, 'true')
    } else {
      core.info('No token given and push is false: building without logging in.')
    }

    const builder = (await docker.hasBuildx()) ? 'buildx' : 'classic'
    const imageId = await core.group(
      `Build ${names.image} (${builder === 'buildx' ? 'docker buildx build --load' : 'docker build'})`,
      () =>
        docker.build(
          {
            context: inputs.context,
            file: inputs.file,
            tags: names.references,
            buildArgs: inputs.buildArgs,
            labels: [...labels.added, ...inputs.labels],
            target: inputs.target,
            pull: inputs.pull,
            noCache: inputs.noCache
          },
          builder
        )
    )
    core.info(`Built image ${imageId}`)

    const published = push
      ? await pushAndReadBack(docker, names, inputs.username, inputs.token)
      : await describeLocalImage(docker, imageId)

    // 5. Outputs and job summary.
    const result = {
      names,
      imageId,
      builder,
      version,
      labels: labels.all,
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

/** Pushes every tag, then reads the digest (all tags must agree), size and platform back. */
async function pushAndReadBack(
  docker: Docker,
  names: ImageNames,
  username: string,
  token: string
): Promise<Published> {
  const reported = await core.group(`Push ${names.references.length} tag(s)`, async () => {
    const digests: (string | undefined)[] = []
    for (const ref of names.references) digests.push(await docker.push(ref))
    return digests
  })
  const registry = new RegistryClient({ registry: names.registry, username, password: token })
  return core.group('Read the digest, size and platform back from the registry', async () => {
    const digest = await verifyPushedDigest(names, reported, registry)
    core.info(`Digest: ${digest}`)
    // Size and platform are for the summary and the metadata output: a failure is not fatal.
    const info = await describePushedImage(registry, names.path, digest).catch(error => {
      core.warning(`Could not read the size and platform of ${names.image}: ${errorMessage(error)}`)
      return { size: null, platform: '' }
    })
    return { digest, ...info }
  })
}

/** Not pushed: platform and uncompressed size of the local image. */
async function describeLocalImage(docker: Docker, imageId: string): Promise<Published> {
  core.info('push is false: the image was built and tagged locally, nothing was pushed.')
  try {
    const local = await docker.inspectImage(imageId)
    return { digest: '', size: null, platform: platformString(local), localSize: local.size }
  } catch (error) {
    core.warning(`Could not inspect the local image ${imageId}: ${errorMessage(error)}`)
    return { digest: '', size: null, platform: '' }
  }
}

/** Adds what to check to docker's own reason for a failed login. */
function loginHint(error: unknown, registry: string): unknown {
  if (!(error instanceof DockerCommandError)) return error
  return new UserError(
    `${error.message}. Check that the token is valid for ${registry} and belongs to the username: ` +
      'GITHUB_TOKEN (with `permissions: packages: write`) or a classic personal access token with ' +
      'write:packages; fine-grained tokens are not accepted by GitHub Packages.'
  )
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
