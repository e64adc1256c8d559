/**
 * The main step, top to bottom: inputs → names → (checks) → own docker config → login → build (or
 * tag the local source-image) → push → read the digest back from the registry → outputs and summary.
 */
import * as core from '@actions/core'
import * as os from 'node:os'
import { createActionConfig, runnerConfigDir } from './docker-config.js'
import { Docker } from './docker.js'
import { tokenAdvice, withExplanation, type Phase, type TokenContext } from './diagnostics.js'
import { DockerCommandError, UserError, errorMessage } from './errors.js'
import { checkBuildFiles, checkCredentials, readInputs, type ActionInputs } from './inputs.js'
import { resolveNames, type ImageNames } from './naming.js'
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
    for (const advice of tokenAdvice(tokenContext(inputs, names))) {
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
    // 3. A source-image must exist locally: checked before anything is sent anywhere.
    const sourceId = inputs.sourceImage ? await findSourceImage(docker, inputs.sourceImage) : ''

    // 4. Log in, get the image (build it, or tag the source-image), push, read the digest back.
    // A failure of the registry steps is explained from its text where GitHub's guidance can.
    const explain =
      (phase: Phase) =>
      (error: unknown): never => {
        throw withExplanation(error, { phase, registry: names.registry })
      }
    if (inputs.token) {
      await core
        .group(`Log in to ${names.registry}`, () =>
          docker.login(names.registry, inputs.username, inputs.token)
        )
        .catch(explain('login'))
      core.saveState(STATE.loggedIn, 'true')
    } else {
      core.info('No token given and push is false: not logging in.')
    }

    const { imageId, builder } = inputs.sourceImage
      ? await tagSourceImage(docker, inputs.sourceImage, sourceId, names)
      : await buildImage(docker, inputs, names, config.dir)

    let digest = ''
    if (inputs.push) {
      const reported = await core
        .group(`Push ${names.references.length} tag(s)`, async () => {
          const digests: (string | undefined)[] = []
          for (const ref of names.references) digests.push(await docker.push(ref))
          return digests
        })
        .catch(explain('push'))
      digest = await core
        .group('Read the digest back from the registry', () =>
          verifyPushedDigest(names, inputs.username, inputs.token, reported)
        )
        .catch(explain('read-back'))
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

/** What the token advice looks at: the token, where it pushes, and the workflow context. */
function tokenContext(inputs: ActionInputs, names: ImageNames): TokenContext {
  return {
    token: inputs.token,
    registry: names.registry,
    owner: names.owner,
    push: inputs.push,
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
