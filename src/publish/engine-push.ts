/**
 * The engine's own push (publish/route.ts chose it): `docker push` of the first tag, with the
 * action's private Docker config (its login; no credential in argv). A transient failure (docker's
 * words: docker/errors.ts) pushes again within `retries`; nothing is rebuilt. Then, as on every
 * way, the rest of the tags through the registry API and every tag read back: the digest is what
 * the registry serves, and a tag moved by another job in between fails the step (tags.ts).
 */
import * as core from '@actions/core'
import type { LocalImageFacts } from '../docker/cli.js'
import { DockerCommandError, classifyDockerText } from '../docker/errors.js'
import { checkImageForRegistry } from '../github/registry-rules.js'
import type { ImageNames } from '../plan/names.js'
import { phase } from '../report/phase.js'
import { withRetries, type RetryPolicy, type Verdict } from '../util/retry.js'
import { describeOrWarn, type Published } from './describe.js'
import type { PushEnvironment } from './push.js'
import { tagAndVerify } from './tags.js'

/** A failed `docker push`: transient or not, from docker's own words. */
export function classifyPushError(error: unknown): Verdict {
  return error instanceof DockerCommandError
    ? classifyDockerText(error.detail)
    : { transient: false, reason: 'error' }
}

export async function pushWithEngine(
  { docker, registry, warmUp }: Pick<PushEnvironment, 'docker' | 'registry' | 'warmUp'>,
  names: ImageNames,
  local: Pick<LocalImageFacts, 'os'>,
  policy: RetryPolicy
): Promise<Published> {
  // What the registry would refuse fails here, before any byte is sent.
  checkImageForRegistry(names, { os: local.os, layers: [] })
  const [reference] = names.references
  const reported = await phase('push', names.registry, () =>
    core.group(`Push ${reference} with docker push`, () =>
      withRetries(
        `docker push ${reference}`,
        () => docker.push(reference),
        classifyPushError,
        policy,
        {
          onRetry: ({ attempt, delayMs, reason }) =>
            core.info(
              `Transient failure: docker push ${reference}: ${reason}; again (attempt ${attempt + 1}) in ${(delayMs / 1000).toFixed(1)} s`
            )
        }
      )
    )
  )
  await warmUp
  const manifest = await phase('read-back', names.registry, () =>
    core.group(
      names.tags.length > 1
        ? `Tag ${names.tags.length - 1} more through the registry API, and read every tag back`
        : 'Read the digest back from the registry',
      async () => {
        const m = await registry.retrying('tagging and reading back', () =>
          tagAndVerify(registry, names, reported, 'docker push')
        )
        for (const tag of names.tags) core.info(`${names.image}:${tag} → ${m.digest}`)
        return m
      }
    )
  )
  core.info(`Digest: ${manifest.digest} (${registry.requests} registry API requests)`)
  return describeOrWarn(registry, names.image, names.path, manifest.digest, {
    manifest: manifest.bytes
  })
}
