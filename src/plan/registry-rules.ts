/**
 * What GitHub's registries accept (docs/facts/github-registries.md, "Limits"), checked before
 * anything is pushed, so a doomed upload fails at once with advice instead of after minutes of
 * bytes:
 *
 * - docker.pkg.github.com and the GHES Docker registry (the `docker` scheme): no Windows images
 *   (foreign layers), layers at most 5 GB, images over 10 GB degrade (a warning); Docker Engine 25
 *   and newer cannot push to the GHES Docker registry.
 * - ghcr.io: layers at most 10 GB.
 * - docker.pkg.github.com was closed on 2025-02-24 and its images moved to ghcr.io: refused in the
 *   plan, naming the ghcr.io image that replaces it.
 *
 * Sizes are the compressed layers as they will be uploaded (known before the upload starts).
 * GB here is 2^30 bytes, the lenient reading: the registry itself has the last word.
 */
import type { ImageNames } from './names.js'
import { UserError } from '../util/errors.js'
import { isClosedLegacyRegistry, runnerServer } from '../github/hosts.js'

const GB = 1024 ** 3
const FOREIGN = /foreign/i

export interface ImageToPush {
  os: string
  layers: { size: number; mediaType: string; digest: string }[]
}

function isLegacyDockerRegistry(names: ImageNames): boolean {
  return names.registryType === 'docker'
}

function gb(bytes: number): string {
  return `${(bytes / GB).toFixed(1)} GB`
}

/**
 * docker.pkg.github.com (github.com's Docker registry) was closed on 2025-02-24: a push there
 * cannot succeed, so it is refused from the names alone, before login, naming the ghcr.io image
 * that replaces it. Its scheme lives on in GHES's Docker registry (docker.HOST, HOST), which stays.
 * The host belongs to github.com whatever server the workflow runs on, so it is refused on GHES too.
 */
export function checkRegistryOpen(names: ImageNames, serverUrl: string): void {
  if (!isClosedLegacyRegistry(names.registry)) return
  const onGitHubCom = runnerServer(serverUrl).host === 'github.com'
  throw new UserError(
    'docker.pkg.github.com was closed on 2025-02-24 and GitHub moved its images to the Container ' +
      `registry: publish to ghcr.io/${names.owner}/${names.imageName} instead (` +
      (onGitHubCom
        ? 'remove registry and registry-type: ghcr.io is the default).'
        : "registry: ghcr.io, registry-type: container; or this server's own Container registry).")
  )
}

/** Throws a UserError for an image the registry will refuse; returns warnings for the rest. */
export function checkImageForRegistry(names: ImageNames, image: ImageToPush): string[] {
  const warnings: string[] = []
  const legacy = isLegacyDockerRegistry(names)
  if (legacy && (image.os === 'windows' || image.layers.some(l => FOREIGN.test(l.mediaType)))) {
    throw new UserError(
      `${names.registry} does not accept Windows images (foreign layers): publish it to the ` +
        'Container registry instead (ghcr.io, or containers.HOSTNAME on GitHub Enterprise Server), ' +
        'which does.'
    )
  }
  const limit = legacy ? 5 * GB : names.registry === 'ghcr.io' ? 10 * GB : Infinity
  const big = image.layers.find(l => l.size > limit)
  if (big) {
    throw new UserError(
      `layer ${big.digest.slice(0, 19)}… is ${gb(big.size)} compressed; ${names.registry} accepts ` +
        `layers of at most ${gb(limit)}. Split the work of that Dockerfile step into several ` +
        'steps (or a multi-stage build copying less), so that no layer is that large.'
    )
  }
  const total = image.layers.reduce((n, l) => n + l.size, 0)
  if (legacy && total > 10 * GB) {
    warnings.push(
      `the image is ${gb(total)} compressed; ${names.registry} handles images over 10 GB poorly ` +
        '(slow pulls, failures). The Container registry (ghcr.io) is the better home for it.'
    )
  }
  return warnings
}

/** The GHES Docker registry does not work with Docker Engine 25 and newer. */
export function checkEngineForRegistry(names: ImageNames, engineVersion: string): void {
  if (!isLegacyDockerRegistry(names) || isClosedLegacyRegistry(names.registry)) return
  const major = Number(/^(\d+)\./.exec(engineVersion)?.[1] ?? NaN)
  if (major >= 25) {
    throw new UserError(
      `Docker Engine ${engineVersion} cannot push to the GitHub Enterprise Server Docker registry ` +
        `(${names.registry}): it works with Engine 24 and older only. Use the Container registry ` +
        'instead (registry: containers.HOSTNAME, or leave registry unset), which GitHub recommends.'
    )
  }
}
