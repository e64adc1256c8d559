/**
 * The merge-digests input: which images (pushed by digest, one per platform) become one index.
 * Checked before anything is sent anywhere.
 */
import { UserError } from '../util/errors.js'
import { parseList } from './list-input.js'
import type { ImageNames } from './names.js'
import { quote } from '../util/text.js'

/** One merge-digests entry: a digest, and the image it was given with (IMAGE@DIGEST), if any. */
export interface MergeEntry {
  digest: string
  image?: string
}

const DIGEST = /^sha256:[0-9a-f]{64}$/

/**
 * The `merge-digests` input: digests separated by newlines (commas and blanks also work), each
 * `sha256:<64 hex>` or `IMAGE@sha256:<64 hex>` (the `digest` or `image-ref` output of a
 * push-by-digest job). Checked before anything is sent anywhere.
 */
export function parseMergeDigests(value: string): MergeEntry[] {
  const entries: MergeEntry[] = []
  const seen = new Set<string>()
  for (const raw of parseList(value, 'comma-blank-newline')) {
    const at = raw.lastIndexOf('@')
    const digest = at >= 0 ? raw.slice(at + 1) : raw
    const image = at >= 0 ? raw.slice(0, at) : undefined
    if (!DIGEST.test(digest) || image === '') {
      const hint =
        image === ''
          ? "it has no image name before '@': give the digest alone (sha256:…) or IMAGE@sha256:… (the image-ref output)"
          : /^[0-9a-f]{64}$/.test(digest)
            ? `add the prefix: 'sha256:${digest}'`
            : /^sha256:[0-9a-fA-F]{64}$/.test(digest)
              ? 'the hex digits must be lowercase'
              : 'give sha256: and 64 hex digits'
      throw new UserError(
        `merge-digests entry ${quote(raw, 80)} is not a digest: ${hint}. Give one digest per line, as ` +
          'the digest output of each push-by-digest job prints it.'
      )
    }
    if (seen.has(digest)) {
      throw new UserError(
        `merge-digests lists ${digest} twice: give each image once (a digest is one platform's image).`
      )
    }
    seen.add(digest)
    entries.push(image === undefined ? { digest } : { digest, image })
  }
  return entries
}

/**
 * Entries given as IMAGE@DIGEST must name the image the index is pushed to: an index can only
 * reference manifests of its own repository.
 */
export function checkMergeImages(entries: MergeEntry[], names: Pick<ImageNames, 'image'>): void {
  for (const entry of entries) {
    if (entry.image !== undefined && entry.image !== names.image) {
      throw new UserError(
        `merge-digests entry ${quote(`${entry.image}@${entry.digest}`)} is an image of ${quote(entry.image)}, but the ` +
          `index is pushed to ${names.image}: an index can only list images of its own repository. ` +
          'Give every job the same registry, owner and image-name.'
      )
    }
  }
}
