/**
 * Where the registry may hold an image's layers already, besides the repository pushed to: the
 * repositories of the same registry that the image, or a local image it was built on, was pulled
 * from (their RepoDigests). Their layers are mounted rather than uploaded (known-layers.ts).
 */
import type { ImageNames } from '../plan/names.js'

/**
 * The repository@digest references of the local images this one was built on (their layers are
 * the first of its layers), closest first, at most `most` images: a base image pulled from the
 * same registry, by `docker pull` or by the build.
 */
export function baseImages(
  diffIds: string[],
  pulled: { repoDigests: string[]; diffIds: string[] }[],
  most = 3
): string[] {
  return pulled
    .filter(i => i.diffIds.length <= diffIds.length && i.diffIds.every((d, n) => d === diffIds[n]))
    .sort((a, b) => b.diffIds.length - a.diffIds.length)
    .slice(0, most)
    .flatMap(i => i.repoDigests)
}

/** repository@digest references on this registry, other than the repository pushed to, once each. */
export function origins(
  names: Pick<ImageNames, 'registry' | 'path'>,
  repoDigests: string[]
): { repository: string; reference: string }[] {
  const seen = new Set<string>()
  return repoDigests.flatMap(ref => {
    const m = /^([^/]+)\/(.+)@(sha256:[0-9a-f]{64})$/.exec(ref)
    if (!m || m[1] !== names.registry || m[2] === names.path || seen.has(ref)) return []
    seen.add(ref)
    return [{ repository: m[2], reference: m[3] }]
  })
}
