/**
 * The main step, top to bottom: inputs → names → (checks) → own docker config → login → build →
 * push → read the digest back from the registry → outputs and summary.
 */
import * as core from '@actions/core'
import * as os from 'node:os'
import { createActionConfig, runnerConfigDir } from './docker-config.js'
import { Docker } from './docker.js'
import { DockerCommandError, UserError, errorMessage } from './errors.js'
import { checkBuildFiles, checkCredentials, readInputs } from './inputs.js'
import { resolveNames } from './naming.js'
import { setOutputs, writeSummary } from './outputs.js'
import { RegistryClient, repositoryScope } from './registry.js'
import { tagAndVerify } from './tags.js'
import { STATE } from './state.js'

export async function run(): Promise<void> {
  try {
    core.saveState(STATE.isPost, 'true')
    // 1. Everything that can be checked without docker or the network.
    const inputs = readInputs()
    const names = resolveNames(inputs)
    for (const notice of names.notices) core.notice(notice)
    checkCredentials(inputs)
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

    // While docker logs in, the registry client gets its push token (no extra round trip after
    // the push),
    // and docker says whether the buildx plugin is there.
    const registry = new RegistryClient({
      registry: names.registry,
      username: inputs.username,
      password: inputs.token
    })
    const warmUp = inputs.push
      ? registry.authorize([repositoryScope(names.path, ['pull', 'push'])]).catch(() => undefined)
      : undefined
    const buildxProbe = docker.hasBuildx()
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
            labels: inputs.labels,
            target: inputs.target,
            pull: inputs.pull,
            noCache: inputs.noCache
          },
          builder
        )
    )
    core.info(`Built image ${imageId}`)

    let digest = ''
    if (inputs.push) {
      const [firstRef] = names.references
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
      digest = manifest.digest
      core.info(`Digest: ${digest} (${registry.requests} registry API requests)`)
    } else {
      core.info('push is false: the image was built and tagged locally, nothing was pushed.')
    }

    const result = { names, imageId, digest, builder }
    setOutputs(result)
    await writeSummary(result)
  } catch (error) {
    fail(error)
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
