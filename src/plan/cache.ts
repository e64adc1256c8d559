/**
 * The `cache` input: where a build finds its build cache and where it leaves one for the next run
 * (produce/cache-source.ts carries it out; docs/cache.md says it for users).
 *
 *   auto      the previous version in the repository is the cache source (BuildKit's inline cache,
 *             written into every image the action publishes)
 *   registry  a full cache (mode=max: every stage) under one tag of the same repository
 *   gha       the runner's cache service (type=gha)
 *   off       no cache source and no cache export (the action's behaviour before the input)
 */
import { UserError } from '../util/errors.js'
import { quote } from '../util/text.js'
import type { BuildOptions } from './build-options.js'

export type CacheMode = 'auto' | 'registry' | 'gha' | 'off'

const MODES: CacheMode[] = ['auto', 'registry', 'gha', 'off']

/** The tag of the repository that holds the full cache of `cache: registry`. */
export const CACHE_TAG = 'buildcache'

/** `cache`: auto (also when empty), registry, gha or off. */
export function parseCacheMode(value: string): CacheMode {
  const v = value.trim().toLowerCase()
  if (v === '') return 'auto'
  if ((MODES as string[]).includes(v)) return v as CacheMode
  throw new UserError(
    `cache ${quote(value)} is not one of auto, registry, gha, off: auto uses the version already ` +
      `published as the build cache, registry keeps a full cache under the tag ${CACHE_TAG}, gha ` +
      "uses the runner's cache service, off builds without a cache source."
  )
}

/**
 * How `cache` goes with the other inputs. `auto` is the default and gives way to cache-from and
 * cache-to; an explicit registry or gha next to them, or where nothing is built, is refused
 * rather than ignored.
 */
export function checkCacheInput(inputs: {
  cache: CacheMode
  build: Pick<BuildOptions, 'cacheFrom' | 'cacheTo'>
  sourceImage: string
  mergeDigests: unknown[]
  tags: string[]
}): void {
  const { cache } = inputs
  if (cache !== 'registry' && cache !== 'gha') return
  const own = [
    inputs.build.cacheFrom.length > 0 && 'cache-from',
    inputs.build.cacheTo.length > 0 && 'cache-to'
  ].filter(Boolean)
  if (own.length) {
    throw new UserError(
      `cache ${cache} and ${own.join(' and ')} both say where the build cache goes: keep one ` +
        `(remove ${own.join(' and ')} to let cache: ${cache} set it up, or remove cache to use yours as given).`
    )
  }
  const nothingBuilt = inputs.sourceImage
    ? 'source-image publishes an existing image'
    : inputs.mergeDigests.length
      ? 'merge-digests merges images that are already pushed'
      : ''
  if (nothingBuilt) {
    throw new UserError(
      `cache ${cache} configures a build, but ${nothingBuilt}: remove cache from this step.`
    )
  }
  if (cache === 'registry' && inputs.tags.includes(CACHE_TAG)) {
    throw new UserError(
      `cache registry keeps its cache under the tag ${CACHE_TAG}, which is also one of the tags: ` +
        `choose another tag for the image, or another cache mode.`
    )
  }
}
