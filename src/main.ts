/**
 * The main step, top to bottom: inputs and event → tags, push default and names → (checks) →
 * own docker config → login (meanwhile: registry token, buildx probe, repository info) → labels →
 * build → push the first tag → tag the rest through the registry API and read the digest back →
 * outputs and summary.
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
import { RegistryClient, repositoryScope } from './registry.js'
import { STATE } from './state.js'
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
    checkBuildFiles(inputs)
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

    // 3. While docker logs in: the registry client gets its push token (no 401 round trip after
    //    the push), docker says whether buildx is there, and the repository's description and
    //    licence come from the event payload (or one GitHub API call when it lacks them).
    const registry = new RegistryClient({
      registry: names.registry,
      username: inputs.username,
      password: inputs.token
    })
    const warmUp = push
      ? registry.authorize([repositoryScope(names.path, ['pull', 'push'])]).catch(() => undefined)
      : undefined
    const buildxProbe = docker.hasBuildx()
    const repoInfo = resolveRepositoryInfo(event, names.registry, inputs.token)
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

    // 4. OCI labels (the user's win), then the build with every tag.
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
    const builder = (await buildxProbe) ? 'buildx' : 'classic'
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

    // 5. Push once, tag the rest through the registry API, read the digest back.
    const published = push
      ? await publish(docker, registry, names, imageId, warmUp)
      : await describeLocalImage(docker, imageId)

    // 6. Outputs and job summary.
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
  warmUp: Promise<unknown> | undefined
): Promise<Published> {
  const [firstRef] = names.references
  const local = docker.inspectImage(imageId).catch(() => undefined)
  const reported = await core.group(`Push ${firstRef}`, () => docker.push(firstRef))
  await warmUp // its failure, if any, resurfaces in the requests below with a clear error
  const manifest = await core.group(
    names.tags.length > 1
      ? `Tag ${names.tags.length - 1} more through the registry API, and read the digest back`
      : 'Read the digest back from the registry',
    async () => {
      const m = await tagAndVerify(registry, names, reported)
      for (const tag of names.tags) core.info(`${names.image}:${tag} → ${m.digest}`)
      return m
    }
  )
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
