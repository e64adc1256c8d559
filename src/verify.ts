/**
 * The `digest` output comes from the registry, not from local image data: every pushed tag is read
 * back, and all of them must serve the same manifest.
 */
import { UserError } from './errors.js'
import type { ImageNames } from './naming.js'
import type { RegistryClient } from './registry.js'

export async function verifyPushedDigest(
  names: ImageNames,
  reportedByPush: (string | undefined)[],
  client: Pick<RegistryClient, 'getManifest'>
): Promise<string> {
  const served: string[] = []
  for (const tag of names.tags) served.push((await client.getManifest(names.path, tag)).digest)
  const distinct = [...new Set(served)]
  if (distinct.length !== 1) {
    const list = names.tags.map((t, i) => `${t} → ${served[i]}`).join(', ')
    throw new UserError(
      `the pushed tags do not all resolve to one image on ${names.registry} (${list}). ` +
        'Another job may be pushing the same tags at the same time; give concurrent jobs distinct tags or a concurrency group.'
    )
  }
  const digest = distinct[0]
  const mismatch = reportedByPush.find(d => d !== undefined && d !== digest)
  if (mismatch) {
    throw new UserError(
      `docker push reported ${mismatch} but ${names.registry} serves ${digest} for ${names.image}: ` +
        'another push changed the tags in between; re-run the job.'
    )
  }
  return digest
}
