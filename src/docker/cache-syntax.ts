/**
 * buildx's cache syntax (`--cache-from` / `--cache-to`: `type=TYPE,KEY=VALUE,…`), as the builder
 * reads it. plan/build-options.ts checks the inputs against it; build-args.ts writes it back.
 */

/** The cache types buildx (and the engine's built-in BuildKit, for some) know. */
export const CACHE_TYPES = ['registry', 'local', 'gha', 'inline', 's3', 'azblob'] as const

/** One cache-from / cache-to entry, in buildx's CSV syntax (`type=registry,ref=…`). */
export interface CacheEntry {
  type: (typeof CACHE_TYPES)[number]
  /** The attributes after type, in order (`ref`, `src`, `dest`, `mode`, `scope`, …). */
  attrs: [string, string][]
}

export function attr(entry: CacheEntry, key: string): string | undefined {
  return entry.attrs.find(([k]) => k === key)?.[1]
}

/** The entry in buildx's syntax again. */
export function cacheString(entry: CacheEntry): string {
  return [`type=${entry.type}`, ...entry.attrs.map(([k, v]) => `${k}=${v}`)].join(',')
}
