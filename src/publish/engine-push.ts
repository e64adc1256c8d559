/**
 * The engine's own push (publish/route.ts chose it): `docker push` of the first tag, with the
 * action's private Docker config (its login; no credential in argv). A transient failure (docker's
 * words: docker/errors.ts) pushes again within `retries`; nothing is rebuilt. Then, as on every
 * way, the rest of the tags through the registry API and every tag read back: the digest is what
 * the registry serves, and a tag moved by another job in between fails the step (tags.ts).
 *
 * With `oci` (the classic image store, whose push writes Docker v2 only): the Docker v2 manifest
 * the engine pushed is read back by the digest docker push reported (its bytes hash to it), its
 * config must be the local image's (on the classic store the image ID is the config's digest), and
 * the action PUTs the OCI image manifest over the same blobs, with the annotations, under every
 * tag; the digest is the OCI manifest's. Anything it cannot map throws CannotWriteOci, and the
 * route falls back to the action's own upload. Facts: docs/facts/classic-engine-push.md.
 */
import * as core from '@actions/core'
import type { Docker, LocalImageFacts } from '../docker/cli.js'
import { DockerCommandError, classifyDockerText } from '../docker/errors.js'
import { checkImageForRegistry } from '../plan/registry-rules.js'
import type { ImageNames } from '../plan/names.js'
import { phase } from '../report/phase.js'
import { RetriesExhausted, withRetries, type RetryPolicy, type Verdict } from '../util/retry.js'
import { oneLine } from '../util/text.js'
import { describeOrWarn, type Published } from './describe.js'
import { isAttestation, parseJson, type ManifestJson } from '../oci/descriptor.js'
import { FAMILY_TYPES, MEDIA_TYPES } from '../oci/media-types.js'
import { platformString } from '../oci/platform.js'
import type { RegistryClient } from '../registry/client.js'
import { errorMessage } from '../util/errors.js'
import type { PushEnvironment } from './push.js'
import { digestsServed, putUnderEveryTag, tagAndVerify, type PublishedManifest } from './tags.js'
import { manifestBytes } from './upload.js'
import { recallEnginePush, rememberEnginePush } from './known-layers.js'
import { sha256 } from '../oci/digest.js'

/** What the engine pushed cannot be rewritten as an OCI manifest (the message says why). */
export class CannotWriteOci extends Error {}

/** docker push failed in a way the action's own upload can take over (ownUploadTakesOverEnginePush). */
export class EnginePushGaveUp extends Error {}
/**
 * Whether the action's own upload takes over a failed docker push (the classic store's engine
 * way, publish/engine-push.ts): it kept failing transiently, or ended with a 401 (dockerd reports
 * a failed token request in its auth exchange, a 429 or a dropped answer, as "unauthorized:
 * authentication required"; the login worked, and the own upload tells a real 401 apart and
 * explains it). Never for a refusal (403, denied).
 */
export function ownUploadTakesOverEnginePush(error: unknown): boolean {
  if (error instanceof RetriesExhausted) return error.what.startsWith('docker push')
  if (!(error instanceof DockerCommandError) || error.command !== 'push') return false
  if (/\b403\b|denied|forbidden/i.test(error.detail)) return false
  return /\b401\b|unauthorized|authentication required/i.test(error.detail)
}

/** The media types of a classic-store push that have an OCI twin (the same bytes, renamed). */
const DOCKER_TO_OCI: Record<string, string> = {
  [FAMILY_TYPES.docker.config]: FAMILY_TYPES.oci.config,
  [FAMILY_TYPES.docker.layers.gzip!]: FAMILY_TYPES.oci.layers.gzip!
}

/**
 * The OCI image manifest over the blobs of the Docker v2 manifest `pushed` (pure): the same config
 * and layers, media types renamed, with `annotations`. Throws CannotWriteOci, saying why, when
 * `pushed` is not a Docker v2 image manifest of the image `imageId` or lists a blob of a type
 * without an OCI twin (a foreign layer, an uncompressed one).
 */
export function ociManifestOver(
  pushed: Buffer,
  imageId: string,
  annotations: Record<string, string> = {}
): Buffer {
  let manifest: ManifestJson
  try {
    manifest = parseJson<ManifestJson>(pushed)
  } catch {
    throw new CannotWriteOci('the manifest docker push reported is not JSON')
  }
  if (manifest.mediaType !== MEDIA_TYPES.dockerManifest || !manifest.config || !manifest.layers) {
    throw new CannotWriteOci(
      `docker push published ${manifest.mediaType ?? 'a manifest without a media type'}, not a Docker v2 image manifest`
    )
  }
  if (manifest.config.digest !== imageId) {
    throw new CannotWriteOci(
      `the manifest docker push published names the config ${manifest.config.digest}, not the built image ${imageId}`
    )
  }
  const unmapped = [manifest.config, ...manifest.layers].filter(d => !DOCKER_TO_OCI[d.mediaType])
  if (unmapped.length) {
    const types = [...new Set(unmapped.map(d => d.mediaType))].join(', ')
    throw new CannotWriteOci(`docker push published blobs of type ${types}, which has no OCI twin`)
  }
  return manifestBytes(
    { digest: manifest.config.digest, size: Number(manifest.config.size) },
    manifest.layers.map(l => ({ ...l, size: Number(l.size) })),
    annotations,
    'oci'
  )
}

/**
 * A connection that broke under the engine's upload: its error line quotes the request's URL
 * (whose upload-session state could hold any word), so these are looked for first.
 */
const BROKEN_CONNECTION =
  /use of closed network connection|connection reset by peer|broken pipe|unexpected EOF|i\/o timeout/i

/** A failed `docker push`: transient or not, from docker's own words. */
export function classifyPushError(error: unknown): Verdict {
  if (!(error instanceof DockerCommandError)) return { transient: false, reason: 'error' }
  if (BROKEN_CONNECTION.test(error.detail)) return { transient: true, reason: 'connection broken' }
  return classifyDockerText(error.detail)
}

export async function pushWithEngine(
  {
    docker,
    registry,
    warmUp,
    layerCache
  }: Pick<PushEnvironment, 'docker' | 'registry' | 'warmUp' | 'layerCache'>,
  names: ImageNames,
  local: Pick<LocalImageFacts, 'os' | 'id' | 'architecture' | 'variant'>,
  policy: RetryPolicy,
  /** Write the OCI manifest over what the engine pushed (the classic store), with these. */
  oci?: { annotations: Record<string, string> }
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
      ).catch(error => {
        // With the OCI manifest to write (the classic store), the own upload can take over.
        if (oci && ownUploadTakesOverEnginePush(error)) {
          throw new EnginePushGaveUp(`docker push failed (${oneLine(errorMessage(error), 300)})`)
        }
        throw error
      })
    )
  )
  await warmUp
  const manifest = oci
    ? await writeOciOver(registry, names, reported, local.id, oci.annotations, layerCache)
    : await phase('read-back', names.registry, () =>
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
  return finishEnginePublish(registry, names, local, manifest)
}

/**
 * After the engine's push (or none: already served), as on every way: the digest line, the
 * uncompressed layers said, and size and platform for the summary.
 */
async function finishEnginePublish(
  registry: RegistryClient,
  names: ImageNames,
  local: Pick<LocalImageFacts, 'os' | 'id' | 'architecture' | 'variant'>,
  manifest: PublishedManifest
): Promise<Published> {
  core.info(`Digest: ${manifest.digest} (${registry.requests} registry API requests)`)
  // Both read the platform manifests of an index: at once, not one after the other.
  const [, published] = await Promise.all([
    warnOfRawLayers(registry, names, manifest.bytes),
    // The local image's platform spares the config GET where its config is the one published:
    // on the classic store the image ID is the config's digest; on the containerd store the image
    // ID is the digest of the manifest it stores, so a manifest served under that digest names
    // the local image's config (describe.ts checks the config digest it is given against it).
    describeOrWarn(registry, names.image, names.path, manifest.digest, {
      manifest: manifest.bytes,
      config: {
        digest: manifest.digest === local.id ? configDigestOf(manifest.bytes) : local.id,
        platform: platformString(local)
      }
    })
  ])
  return { ...published, manifest: manifest.bytes }
}

/**
 * The containerd store: whether the registry serves this very image under every tag already. There
 * the image ID is the digest of the manifest or index the engine stores, which is what docker push
 * publishes, as it is; a tag that serves that digest serves those bytes and, through them, the
 * same blobs (content addressed). The first tag is read (GET, its bytes hashed), the others HEAD,
 * all at once. Undefined when any tag serves something else or nothing, or on any failure: then
 * the engine pushes as usual. Asked beside the route's other questions (publish/route.ts).
 */
export async function servedUnderEveryTag(
  registry: Pick<RegistryClient, 'getManifest' | 'headManifest'>,
  names: Pick<ImageNames, 'path' | 'tags'>,
  imageId: string,
  warmUp?: Promise<unknown>
): Promise<PublishedManifest | undefined> {
  const [first, ...rest] = names.tags
  if (!first || !imageId.startsWith('sha256:')) return undefined
  try {
    await warmUp
    const [manifest, others] = await Promise.all([
      registry.getManifest(names.path, first),
      digestsServed(registry, names.path, rest)
    ])
    if (manifest.digest !== imageId || others.some(d => d !== imageId)) return undefined
    return { digest: manifest.digest, mediaType: manifest.mediaType, bytes: manifest.bytes }
  } catch {
    return undefined
  }
}

/**
 * servedUnderEveryTag, asked only of an engine with the containerd image store (elsewhere the
 * image ID is not what a push publishes). Never rejects.
 */
export function servedFromContainerdStore(
  docker: Pick<Docker, 'imageStore'>,
  registry: Pick<RegistryClient, 'getManifest' | 'headManifest'>,
  names: Pick<ImageNames, 'path' | 'tags'>,
  imageId: string,
  warmUp?: Promise<unknown>
): Promise<PublishedManifest | undefined> {
  return docker
    .imageStore()
    .then(store =>
      store === 'containerd' ? servedUnderEveryTag(registry, names, imageId, warmUp) : undefined
    )
    .catch(() => undefined)
}

/**
 * Nothing to push (servedUnderEveryTag found the image under every tag): no docker push, the
 * answer read is the read-back; then as after a push.
 */
export async function publishedAlready(
  registry: RegistryClient,
  names: ImageNames,
  local: Pick<LocalImageFacts, 'os' | 'id' | 'architecture' | 'variant'>,
  manifest: PublishedManifest
): Promise<Published> {
  for (const tag of names.tags) core.info(`${names.image}:${tag} → ${manifest.digest}`)
  return finishEnginePublish(registry, names, local, manifest)
}

/**
 * The classic store, the engine's push then the OCI manifest: whether every tag serves already the
 * OCI manifest this runner wrote over its engine's push of this very image (recallEnginePush: the
 * engine compressed those layers from this image, so they are its layers), with these
 * annotations. One HEAD per tag, all at once, and only when this runner pushed this image before.
 * Undefined on any other answer or failure: then the engine pushes as usual.
 */
export async function unchangedOverEnginePush(
  registry: Pick<RegistryClient, 'headManifest'>,
  names: Pick<ImageNames, 'registry' | 'path' | 'tags'>,
  imageId: string,
  annotations: Record<string, string>,
  layerCache: string | undefined,
  warmUp?: Promise<unknown>
): Promise<PublishedManifest | undefined> {
  const pushed = recallEnginePush(layerCache, names.registry, names.path, imageId)
  if (!pushed || !names.tags.length) return undefined
  try {
    const bytes = ociManifestOver(pushed, imageId, annotations)
    const digest = sha256(bytes)
    await warmUp
    const served = await digestsServed(registry, names.path, names.tags)
    if (served.some(d => d !== digest)) return undefined
    return { digest, mediaType: MEDIA_TYPES.ociManifest, bytes }
  } catch {
    return undefined
  }
}

/** The config digest a manifest names ('' for an index, or bytes that are not a manifest). */
function configDigestOf(bytes: Buffer): string {
  try {
    return parseJson<ManifestJson>(bytes).config?.digest ?? ''
  } catch {
    return ''
  }
}

const RAW_LAYER_TYPES = new Set([FAMILY_TYPES.oci.layers.tar, FAMILY_TYPES.docker.layers.tar])

/**
 * The uncompressed layers of what docker push published (the image, or each platform image of an
 * index), that the route could not foresee from the engine's sizes (publish/route.ts): said, never
 * silent. Reads the registry; a failure to read is only logged.
 */
export async function warnOfRawLayers(
  registry: Pick<RegistryClient, 'getManifest'>,
  names: Pick<ImageNames, 'image' | 'path'>,
  bytes: Buffer
): Promise<number> {
  try {
    const top = parseJson<ManifestJson>(bytes)
    const images = top.manifests
      ? await Promise.all(
          top.manifests
            .filter(d => !isAttestation(d))
            .map(async d =>
              parseJson<ManifestJson>((await registry.getManifest(names.path, d.digest)).bytes)
            )
        )
      : [top]
    const raw = images.flatMap(m => (m.layers ?? []).filter(l => RAW_LAYER_TYPES.has(l.mediaType)))
    if (raw.length) {
      const bytesRaw = raw.reduce((sum, l) => sum + l.size, 0)
      core.warning(
        `${names.image} was published with ${raw.length} uncompressed layer(s) ` +
          `(${(bytesRaw / 1024 / 1024).toFixed(1)} MB), as the engine stores them: docker push ` +
          "sends stored blobs as they are, and the engine's sizes did not show it beforehand. " +
          'Build or load the image with compressed layers to publish it smaller.'
      )
    }
    return raw.length
  } catch (error) {
    core.debug(`could not check the published layers: ${errorMessage(error)}`)
    return 0
  }
}

/**
 * The OCI manifest over what docker push published (the Docker v2 manifest it reported, read back
 * by digest and checked), PUT under every tag and read back. CannotWriteOci before any PUT when
 * it cannot be written.
 */
async function writeOciOver(
  registry: RegistryClient,
  names: ImageNames,
  reported: string | undefined,
  imageId: string,
  annotations: Record<string, string>,
  /** The layer cache's file: what the engine pushed is noted beside it (unchangedOverEnginePush). */
  layerCache?: string
): Promise<PublishedManifest> {
  if (!reported) throw new CannotWriteOci('docker push reported no digest')
  const title = `Write the OCI image manifest over the pushed layers, under ${names.tags.length} tag(s)`
  return phase('read-back', names.registry, () =>
    core.group(title, async () => {
      // By digest: the bytes must hash to what docker push reported (the client checks).
      const pushed = await registry.retrying('reading what docker push published', () =>
        registry.getManifest(names.path, reported)
      )
      const bytes = ociManifestOver(pushed.bytes, imageId, annotations)
      core.info(
        `docker push published the Docker v2 manifest ${reported} (config ${imageId}, the built image)`
      )
      const m = await registry.retrying('tagging and reading back', () =>
        // The engine's push created the repository (under the first tag): every tag at once.
        putUnderEveryTag(registry, names, bytes, MEDIA_TYPES.ociManifest, { firstAlone: false })
      )
      rememberEnginePush(layerCache, names.registry, names.path, imageId, pushed.bytes)
      for (const tag of names.tags) core.info(`${names.image}:${tag} → ${m.digest}`)
      return m
    })
  )
}
