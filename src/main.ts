/**
 * The main step, top to bottom: inputs → names → (checks) → own docker config → login → build (or
 * tag the local source-image) → push → read the digest back from the registry → outputs and summary.
 */
import * as core from '@actions/core'
import * as os from 'node:os'
import { createActionConfig, runnerConfigDir } from './docker-config.js'
import { Docker } from './docker.js'
import { DockerCommandError, UserError, errorMessage } from './errors.js'
import { checkBuildFiles, checkCredentials, readInputs } from './inputs.js'
import { resolveNames } from './naming.js'
import { buildImage, findSourceImage, tagSourceImage } from './image.js'
import { setOutputs, writeSummary } from './outputs.js'
import { verifyPushedDigest } from './verify.js'
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
    // 3. A source-image must exist locally: checked before anything is sent anywhere.
    const sourceId = inputs.sourceImage ? await findSourceImage(docker, inputs.sourceImage) : ''

    // 4. Log in, get the image (build it, or tag the source-image), push, read the digest back.
    if (inputs.token) {
      await core.group(`Log in to ${names.registry}`, () =>
        docker.login(names.registry, inputs.username, inputs.token).catch(error => {
          throw loginHint(error, names.registry)
        })
      )
      core.saveState(STATE.loggedIn, 'true')
    } else {
      core.info('No token given and push is false: not logging in.')
    }

    const { imageId, builder } = inputs.sourceImage
      ? await tagSourceImage(docker, inputs.sourceImage, sourceId, names)
      : await buildImage(docker, inputs, names)

    let digest = ''
    if (inputs.push) {
      const reported = await core.group(`Push ${names.references.length} tag(s)`, async () => {
        const digests: (string | undefined)[] = []
        for (const ref of names.references) digests.push(await docker.push(ref))
        return digests
      })
      digest = await core.group('Read the digest back from the registry', () =>
        verifyPushedDigest(names, inputs.username, inputs.token, reported)
      )
      core.info(`Digest: ${digest}`)
    } else {
      core.info('push is false: the image was tagged locally, nothing was pushed.')
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
