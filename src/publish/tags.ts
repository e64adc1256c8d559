/**
 * Tags without re-push: the image is stored once, under the first tag (by the action's upload, or
 * by buildx for platforms); every further tag is one manifest PUT of the same bytes through the
 * registry client. Then every tag, the first one included, is read back (HEAD): a tag that serves
 * another digest fails the step, saying what was PUT and what the HEAD answered. After a
 * buildx push the first tag is read back (GET, hashed). An index made by the action
 * (merge-digests) is PUT under every tag the same way.
 */
import { sha256 } from '../oci/digest.js'
import type { ImageNames } from '../plan/names.js'
import type { RegistryClient } from '../registry/client.js'
import { mapLimit } from '../util/concurrency.js'
import { UserError } from '../util/errors.js'
import { putAndRead } from './upload.js'

export interface PublishedManifest {
  digest: string
  mediaType: string
  bytes: Buffer
}

export async function tagAndVerify(
  client: RegistryClient,
  names: ImageNames,
  reportedByPush: string | undefined,
  /** What pushed the image, for the message when the tag moved in between. */
  pushedBy: string,
  concurrency = 8,
  /** Work on the manifest read back (its description), run while the other tags are PUT. */
  alongside?: (manifest: PublishedManifest) => Promise<unknown>
): Promise<PublishedManifest> {
  const [first, ...rest] = names.tags
  const manifest = await client.getManifest(names.path, first)
  if (reportedByPush && reportedByPush !== manifest.digest) {
    throw new UserError(
      `${pushedBy} reported ${reportedByPush} but ${names.registry} serves ${manifest.digest} for ` +
        `${names.image}:${first}: another push changed the tag in between; give concurrent jobs ` +
        'distinct tags or a concurrency group, and re-run.'
    )
  }
  await Promise.all([putTags(client, names, rest, manifest, concurrency), alongside?.(manifest)])
  return manifest
}

/**
 * PUTs a manifest the action made (an index, or the OCI manifest over an engine push) under every
 * tag: the first tag first, then the rest concurrently, unless `firstAlone` is false (the
 * repository exists already: the engine's push just wrote its first tag), then all at once. Each
 * must be stored under the sha256 of the bytes sent; every tag is then read back.
 */
export async function putUnderEveryTag(
  client: RegistryClient,
  names: ImageNames,
  bytes: Buffer,
  mediaType: string,
  { concurrency = 8, firstAlone = true }: { concurrency?: number; firstAlone?: boolean } = {}
): Promise<PublishedManifest> {
  const manifest = { digest: sha256(bytes), mediaType, bytes }
  if (firstAlone) {
    const [first, ...rest] = names.tags
    await putTags(client, names, [first], manifest, 1)
    await putTags(client, names, rest, manifest, concurrency)
  } else {
    await putTags(client, names, names.tags, manifest, concurrency)
  }
  await readBackTags(client, names, names.tags, manifest.digest, concurrency)
  return manifest
}

/** One manifest PUT per tag; fails when any tag does not then resolve to `manifest.digest`. */
async function putTags(
  client: RegistryClient,
  names: ImageNames,
  tags: string[],
  manifest: PublishedManifest,
  concurrency: number
): Promise<void> {
  const served = await mapLimit(tags, concurrency, tag =>
    putAndRead(client, names.path, tag, manifest.bytes, manifest.mediaType)
  )
  const wrong = tags.filter((_, i) => served[i] !== manifest.digest)
  if (wrong.length) {
    const list = wrong.map(t => `${t} → ${served[tags.indexOf(t)] ?? 'missing'}`).join(', ')
    throw new UserError(
      `the pushed tags do not all resolve to ${manifest.digest} on ${names.registry} (${list}). ` +
        'Another job may be pushing the same tags at the same time; give concurrent jobs distinct tags or a concurrency group.'
    )
  }
}

/**
 * The image is in the registry under the first tag already (`manifest`, stored under the digest
 * the registry answered); every further tag is one PUT of the same bytes.
 */
export async function tagTheRest(
  client: RegistryClient,
  names: ImageNames,
  manifest: PublishedManifest,
  concurrency = 8
): Promise<PublishedManifest> {
  await putTags(client, names, names.tags.slice(1), manifest, concurrency)
  await readBackTags(client, names, names.tags, manifest.digest, concurrency)
  return manifest
}

/**
 * Every tag read back (HEAD): each must serve `digest`. One that serves another digest fails the
 * step with what was seen (the digest PUT, each tag's answer) and what can cause it, rather than
 * output a digest its tag does not serve. The cause is not known from here: a job that pushed the
 * same tag in between, or a registry (or a proxy before it) that does not serve what it stored.
 */
export async function readBackTags(
  client: RegistryClient,
  names: ImageNames,
  tags: string[],
  digest: string,
  concurrency = 8
): Promise<void> {
  const served = await digestsServed(client, names.path, tags, concurrency)
  const wrong = tags.flatMap((tag, i) =>
    served[i] === digest ? [] : [`${tag} → ${served[i] ?? 'nothing'}`]
  )
  if (wrong.length) {
    throw new UserError(
      `this job PUT the manifest ${digest}, but a HEAD right after it on ${names.registry} ` +
        `answers another one for ${names.image} (${wrong.join(', ')}). Either another job pushed ` +
        'the same tag in between (give concurrent jobs distinct tags or one concurrency group, and ' +
        're-run the one that should win), or the registry, or a proxy before it, does not serve ' +
        'what it stored.'
    )
  }
}

/** The digest each of `tags` serves (HEAD, `concurrency` at a time); undefined where none. */
export function digestsServed(
  client: Pick<RegistryClient, 'headManifest'>,
  repository: string,
  tags: string[],
  concurrency = 8
): Promise<(string | undefined)[]> {
  return mapLimit(
    tags,
    concurrency,
    async tag => (await client.headManifest(repository, tag))?.digest
  )
}
