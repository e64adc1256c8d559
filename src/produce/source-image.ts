/**
 * Publishing an existing local image (`source-image`) instead of building: found by ID or
 * reference before anything is sent anywhere, then tagged by its ID under the first reference (the
 * one `docker push` names, publish/route.ts); every other tag is put through the registry API
 * after the push (publish/tags.ts), so a thousand tags cost no thousand `docker tag` runs first.
 */
import * as core from '@actions/core'
import type { Docker } from '../docker/cli.js'
import type { ImageNames } from '../plan/names.js'
import { UserError } from '../util/errors.js'
import type { LocalImage } from './build.js'
import { quote } from '../util/text.js'

/**
 * The full ID of the `source-image`, or a UserError when the runner's engine does not have it.
 * Runs before login, so a typo fails before anything is sent anywhere.
 */
export async function findSourceImage(docker: Docker, sourceImage: string): Promise<string> {
  const id = await docker.localImageId(sourceImage)
  if (!id) {
    throw new UserError(
      `source-image ${quote(sourceImage)} is not an image on this runner's Docker engine: build, load or ` +
        'pull it in an earlier step of the same job (`docker images` lists what is there), or give its image ID.'
    )
  }
  return id
}

/**
 * `docker tag` of the (already found) source image under the first computed reference, by ID (the
 * image published is exactly the one found, even if the name moves meanwhile), started while
 * docker logs in: it needs no credential. Resolves to the failure, if any (tagSourceImage reports
 * it), so a step that fails elsewhere first leaves no rejection unhandled.
 */
export function startTagging(
  docker: Docker,
  imageId: string,
  names: ImageNames
): Promise<unknown> | undefined {
  const [first] = names.references
  if (!first) return undefined // push-by-digest: no tag
  return docker.tag(imageId, first, { silent: true }).then(
    () => undefined,
    (error: unknown) => error ?? new Error('docker tag failed')
  )
}

/** The source image tagged under the first computed reference (startTagging's work, said). */
export async function tagSourceImage(
  docker: Docker,
  sourceImage: string,
  imageId: string,
  names: ImageNames,
  started: Promise<unknown> | undefined = startTagging(docker, imageId, names)
): Promise<LocalImage> {
  const builder = `none: published the local image ${sourceImage}`
  const [first] = names.references
  if (!first) return { imageId, builder } // push-by-digest: no tag
  await core.group(`Tag ${sourceImage} (${imageId.slice(0, 19)}…) as ${names.image}`, async () => {
    const failed = await started
    if (failed) throw failed
    core.info(`Tagged ${first} (docker tag by image ID, run while docker logged in)`)
    const more = names.references.length - 1
    if (more) core.info(`The other ${more} tag(s) go through the registry API after the push.`)
  })
  return { imageId, builder }
}
