/**
 * The main step, top to bottom:
 *
 *   context   what the runner tells the step (github/context.ts)
 *   plan      inputs, names, tags, push, every user error: before any docker or network call
 *   session   the registry client, docker with the action's own config, background work
 *   engine    a Docker engine answers (docker/engine.ts), else one error before any login
 *   preflight the token's scopes and the engine's version, while docker logs in
 *   labels    from the event and the repository
 *   produce   build (BuildKit pushes, or into the engine: produce/way.ts), or take the source-image
 *   publish   upload under the tags, or by digest, or read buildx's push back, or nothing
 *   keep-login the login also in the runner's Docker config, for later steps (post undoes it)
 *   report    outputs and the job summary
 * merge-digests takes a shorter road: no docker; one index of the images pushed by digest.
 */
import * as core from '@actions/core'
import { requireEngine } from './docker/engine.js'
import { readRunContext, type RunContext } from './github/context.js'
import { packagePageUrl } from './github/hosts.js'
import { makePlan, type Plan } from './plan/plan.js'
import { readLabels } from './produce/labels.js'
import { BuildCache } from './produce/cache-source.js'
import { produce } from './produce/produce.js'
import { findSourceImage, startTagging } from './produce/source-image.js'
import { mergeDigests } from './publish/merge.js'
import { servedFromContainerdStore } from './publish/engine-push.js'
import { publish } from './publish/publish.js'
import { setOutputs, type PublishResult } from './report/outputs.js'
import { writeSummary } from './report/summary.js'
import { keepLoginForLaterSteps } from './session/keep-login.js'
import { preflightAndLogin } from './session/preflight.js'
import { Session, type Adapters } from './session/session.js'
import { fail } from './report/fail.js'

/** The main step; `adapters` replace docker and the registry client (in-process tests). */
export async function run(adapters: Adapters = {}): Promise<void> {
  let session: Session | undefined
  try {
    const context = await readRunContext()
    const plan = makePlan(context)
    announce(plan)
    session = new Session(context, plan, adapters)
    const result = plan.merging ? await mergeImages(session) : await buildAndPublish(session)
    // The outputs first: what was published stays reported if keep-login fails after it.
    setOutputs(result)
    await writeSummary(result, context.hasStepSummary)
    if (plan.inputs.keepLogin) await keepLoginForLaterSteps(session)
  } catch (error) {
    fail(error)
  } finally {
    await session?.close()
  }
}

function announce({ notices, advice, names }: Plan): void {
  notices.forEach(notice => core.notice(notice))
  advice.forEach(({ level, message }) => core[level](message))
  core.info(`Image: ${names.image}`)
  core.info(`Tags: ${names.tags.join(', ') || 'none (push-by-digest pushes no tag)'}`)
}

async function buildAndPublish(session: Session): Promise<PublishResult> {
  const { plan, run } = session
  const { inputs } = plan
  const { docker } = session.docker
  // An engine to build and push with, before anything else asks docker or logs in. A source-image
  // must exist locally, checked before anything is sent anywhere: asked beside the engine's
  // probe, and its answer read only once the engine answered (a missing engine is the error).
  const finding = inputs.sourceImage ? findSourceImage(docker, inputs.sourceImage) : undefined
  finding?.catch(() => undefined)
  session.engineVersion = await requireEngine(timeoutMs => docker.probeServer(timeoutMs))
  const sourceId = (await finding) ?? ''
  // docker login first: every other docker and registry call below starts while it runs.
  const loggingIn = preflightAndLogin(session)
  // Awaited below; this only keeps a throw in between from leaving it unhandled.
  loggingIn.catch(() => undefined)
  // Its docker tag needs no login: run while docker logs in (said in produce's Tag group).
  const tagging = sourceId ? startTagging(docker, sourceId, plan.names) : undefined
  // Ahead, while docker logs in: the push token, whether buildx is there, the labels.
  const warmUp = session.warmUp()
  const needsBuildx = !inputs.sourceImage && inputs.buildx.mode !== 'false'
  // Whether buildx is there, and what decides the way a build goes (produce/way.ts): the builder's
  // driver and, for the docker driver, the image store. One `docker buildx inspect`, asked while
  // docker logs in (Docker keeps the answer).
  const buildxProbe = session.background(
    needsBuildx ? docker.hasBuildx(inputs.builder) : Promise.resolve(false)
  )
  const labels = session.background(readLabels(plan, run))
  // A source-image: what the route asks of the engine (publish/route.ts), asked now (Docker
  // keeps the answers for the image ID).
  if (sourceId) {
    void Promise.all([
      docker.imageStore(),
      docker.inspectForPush(sourceId),
      docker.unpackedSize(sourceId)
    ]).catch(() => undefined)
  }
  // On the containerd store: do the tags serve this very image already (an unchanged republish:
  // publish/route.ts then pushes nothing)? Read now, so the push never waits for the answer.
  const served =
    sourceId && plan.push && !inputs.pushByDigest
      ? session.background(
          servedFromContainerdStore(docker, session.registry, plan.names, sourceId, warmUp)
        )
      : undefined
  const cache = inputs.sourceImage ? undefined : startBuildCache(session)
  await loggingIn
  const image = await produce(session, await labels, sourceId, buildxProbe, cache, tagging)
  const published = await publish(session, image, warmUp, served)
  const buildCache = await cache?.report(published.digest, published.manifest)
  if (buildCache) core.info(`Build cache: ${buildCache.replace(/<\/?code>/g, '')}`)
  // A source-image is published as it is: it carries its own labels.
  const shown = inputs.sourceImage ? {} : (await labels).all
  return {
    ...result(plan, run),
    imageId: image.imageId,
    builder: image.builder,
    way: image.way,
    labels: shown,
    buildCache,
    ...published
  }
}

/** The `cache` input's work, started beside the login: the previous version is looked up now. */
function startBuildCache(session: Session): BuildCache {
  const { plan, run, registry } = session
  const { inputs, names } = plan
  return new BuildCache({
    mode: inputs.cache,
    client: registry,
    docker: session.docker.docker,
    builder: inputs.builder,
    image: names.image,
    repository: names.path,
    tags: names.tags,
    push: plan.push,
    noCache: inputs.noCache,
    userGave: inputs.build.cacheFrom.length > 0 || inputs.build.cacheTo.length > 0,
    env: run.env
  })
}

/** merge-digests: one index of the images pushed by digest (publish/merge.ts). */
async function mergeImages(session: Session): Promise<PublishResult> {
  const { plan, run } = session
  const merged = `none: merged ${plan.inputs.mergeDigests.length} images into an index`
  if (!plan.push) {
    // Only on a pull request from a fork, where the build jobs pushed nothing either.
    core.notice('push is false, so the images are not merged: nothing was pushed.')
    const nothing = { digest: '', size: null, platform: '' }
    return { ...result(plan, run), imageId: '', builder: 'none', labels: {}, ...nothing }
  }
  const labels = session.background(readLabels(plan, run).then(l => l.all))
  const { annotations, ...published } = await mergeDigests(session, labels)
  const shown = { labels: annotations, labelsAre: 'annotations' as const }
  return { ...result(plan, run), imageId: '', builder: merged, ...shown, ...published }
}

/** What every result shows: the names, the version, the package's page. */
function result(
  plan: Plan,
  run: RunContext
): Pick<PublishResult, 'names' | 'version' | 'packageUrl'> {
  const packageUrl = packagePageUrl(plan.names, run.server, run.payload.repository?.owner)
  return { names: plan.names, version: plan.version, packageUrl }
}
