/**
 * BuildKit pushed the build itself (produce/way.ts): read it back from the registry (the first
 * tag, or the digest buildx reported when it pushed by digest) and tag the rest.
 */
import * as core from '@actions/core'
import type { ImageNames } from '../plan/names.js'
import type { PushedImage } from '../produce/build.js'
import type { RegistryClient } from '../registry/client.js'
import { phase } from '../report/phase.js'
import { describeOrWarn, type Published } from './describe.js'
import { tagAndVerify } from './tags.js'

export async function checkBuildxPush(
  registry: RegistryClient,
  names: ImageNames,
  built: PushedImage
): Promise<Published> {
  const title = !names.tags.length
    ? 'Read the digest back'
    : names.tags.length > 1
      ? `Tag ${names.tags.length - 1} more through the registry API, and read the digest back`
      : 'Read the digest back from the registry'
  // The description (size, platform: the config's GET) is read while the other tags are PUT.
  let described: Promise<Published> | undefined
  const describe = (digest: string, bytes: Buffer): Promise<Published> =>
    (described = describeOrWarn(registry, names.image, names.path, digest, { manifest: bytes }))
  const manifest = await phase('read-back', names.registry, () =>
    core.group(title, async () => {
      if (names.tags.length) {
        const m = await tagAndVerify(registry, names, built.digest, 'docker buildx build', 8, m =>
          describe(m.digest, m.bytes)
        )
        for (const tag of names.tags) core.info(`${names.image}:${tag} → ${m.digest}`)
        return m
      }
      if (!built.digest) {
        throw new Error(
          'docker buildx build did not report the digest it pushed (no containerimage.digest in its --metadata-file): update buildx'
        )
      }
      return registry.getManifest(names.path, built.digest)
    })
  )
  core.info(`Digest: ${manifest.digest} (${registry.requests} registry API requests)`)
  const published = await (described ?? describe(manifest.digest, manifest.bytes))
  return { ...published, manifest: manifest.bytes }
}
