/**
 * Tags without re-push: the image is pushed once (first tag); every further tag is one manifest
 * PUT of the same bytes through the registry client, checked against the digest the registry
 * answers its PUT with (a HEAD where it does not answer one).
 */
import { UserError } from './errors.js'
import type { ImageNames } from './naming.js'
import type { RegistryClient } from './registry.js'

export interface PublishedManifest {
  digest: string
  mediaType: string
  bytes: Buffer
}

/** Runs `fn` over `items` with at most `limit` at a time; the first failure rejects. */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<R>
): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i])
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

/**
 * The image is in the registry under the first tag already (`manifest`, with the digest the
 * registry answered); every further tag is one PUT of the same bytes, and must be answered with
 * the same digest (read back with a HEAD where the registry does not say).
 */
export async function tagAndVerify(
  client: RegistryClient,
  names: ImageNames,
  manifest: PublishedManifest,
  concurrency = 8
): Promise<PublishedManifest> {
  const rest = names.tags.slice(1)
  const served = await mapLimit(rest, concurrency, async tag => {
    const said = await client.putManifest(names.path, tag, manifest.bytes, manifest.mediaType)
    return said ?? (await client.headManifest(names.path, tag))?.digest
  })
  const wrong = rest.filter((_, i) => served[i] !== manifest.digest)
  if (wrong.length) {
    const list = wrong.map(t => `${t} → ${served[rest.indexOf(t)] ?? 'missing'}`).join(', ')
    throw new UserError(
      `the pushed tags do not all resolve to ${manifest.digest} on ${names.registry} (${list}). ` +
        'Another job may be pushing the same tags at the same time; give concurrent jobs distinct tags or a concurrency group.'
    )
  }
  return manifest
}
