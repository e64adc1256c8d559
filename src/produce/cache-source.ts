/**
 * The build cache of the `cache` input (plan/cache.ts): which cache-from / cache-to entries a
 * build gets, and afterwards how many layers the published image shares with the previous version.
 *
 * `auto`: the previous version in the repository (the tags being pushed, else the tag
 * publish/known-layers.ts would read: latest, else the highest version) is read by digest as
 * `--cache-from type=registry,ref=IMAGE@DIGEST`, and every build writes BuildKit's inline cache
 * into its image (`--cache-to type=inline`), so the next run finds one. BuildKit reads an inline
 * cache from the image's config (`moby.buildkit.cache.v0`): docs/facts/build-cache.md. A version
 * without it (pushed by another tool), none at all, or one that cannot be read: the build goes on
 * without a cache source, with one notice. A self-hosted runner whose engine holds the previous
 * version's image (it built it) uses its own build cache: reading the registry's would hold the
 * build up (BuildKit resolves a cache import before it takes the context) for steps it has. The
 * registry credentials are the action's own docker login (its private DOCKER_CONFIG); nothing
 * goes into argv.
 */
import * as core from '@actions/core'
import type { Builder, BuildRequest } from '../docker/build-args.js'
import type { Docker } from '../docker/cli.js'
import { isAttestation, parseJson, type Descriptor, type ManifestJson } from '../oci/descriptor.js'
import type { CacheEntry } from '../docker/cache-syntax.js'
import { CACHE_TAG, type CacheMode } from '../plan/cache.js'
import { REVISION_LABEL } from '../plan/labels.js'
import { previousTags } from '../plan/previous-version.js'
import { repositoryScope } from '../registry/auth.js'
import type { ManifestResult, RegistryClient } from '../registry/client.js'
import { RegistryError } from '../registry/errors.js'
import { formatBytes } from '../report/summary.js'
import { errorMessage } from '../util/errors.js'

/** The key of an image config under which BuildKit writes its inline cache. */
export const INLINE_CACHE_KEY = 'moby.buildkit.cache.v0'

/** A tag as the distribution spec writes it. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/

/** The previous version of the image in the repository, as far as the cache needs it. */
export interface PreviousVersion {
  tag: string
  digest: string
  /** Whether its image config carries an inline cache (of any of its platforms). */
  inlineCache: boolean
  /** Its layers (every platform of an index): digest → compressed size. */
  layers: Map<string, number>
  /** The digests of its image configs (on the classic store, the image IDs it has when pulled). */
  configs?: string[]
  /** The org.opencontainers.image.revision labels of its image configs (the commit built). */
  revisions?: string[]
}

/** The previous version as its manifests tell it, before its configs are read. */
type LocatedVersion = Omit<PreviousVersion, 'inlineCache' | 'revisions'>

/** The revision label of an image config, when it has a string one. */
function revisionOf(config: Record<string, unknown>): string | undefined {
  const labels = (config.config as { Labels?: Record<string, unknown> } | undefined)?.Labels
  const revision = labels?.[REVISION_LABEL]
  return typeof revision === 'string' && revision ? revision : undefined
}

export type PreviousLookup = { found: PreviousVersion } | { none: true } | { unreadable: string }

/** Image manifests under a manifest or index (attestations left out), with their layers. */
async function imageManifests(
  client: RegistryClient,
  repository: string,
  reference: string,
  /** The manifest of `reference`, when it was read already. */
  read?: ManifestResult
): Promise<{ digest: string; manifests: ManifestJson[] }> {
  const top = read ?? (await client.getManifest(repository, reference))
  const body = parseJson<ManifestJson>(top.bytes)
  if (!body.manifests) return { digest: top.digest, manifests: [body] }
  const children = body.manifests.filter((d: Descriptor) => !isAttestation(d))
  const manifests = await Promise.all(
    children.map(async d =>
      parseJson<ManifestJson>((await client.getManifest(repository, d.digest)).bytes)
    )
  )
  return { digest: top.digest, manifests }
}

/** The manifest under `tag`, or undefined when the repository has no such tag (404). */
async function manifestIfAny(
  client: RegistryClient,
  repository: string,
  tag: string
): Promise<ManifestResult | undefined> {
  try {
    return await client.getManifest(repository, tag)
  } catch (error) {
    if (error instanceof RegistryError && error.status === 404) return undefined
    throw error
  }
}

function layersOf(manifests: ManifestJson[]): Map<string, number> {
  const layers = new Map<string, number>()
  for (const m of manifests)
    for (const l of m.layers ?? []) layers.set(l.digest, Number(l.size) || 0)
  return layers
}

/**
 * The version a build of `pushing` follows: the first of the tags being pushed that the
 * repository holds, else the tag known-layers reads (latest, else the highest semver version).
 * Never rejects: a registry that cannot be read is `unreadable`, with the reason. `located`, when
 * given, hears of the version as soon as its manifests are read, before its configs are (all a
 * self-hosted runner's own-cache check needs).
 */
export async function findPreviousVersion(
  client: RegistryClient,
  repository: string,
  pushing: string[],
  located?: (found: LocatedVersion | undefined) => void
): Promise<PreviousLookup> {
  try {
    // Credentials first: requests that meet the registry's first 401 together would not all
    // answer it (the client switches to Basic once).
    await client.authorize([repositoryScope(repository, ['pull'])])
    // GET, not HEAD: the manifest found is the one read next (one round trip less).
    const tops = await Promise.all(pushing.map(tag => manifestIfAny(client, repository, tag)))
    const at = tops.findIndex(Boolean)
    let tag = at >= 0 ? pushing[at] : undefined
    if (!tag) {
      // Only names of the tag grammar: a tag from the registry reaches the log and the summary.
      const tags = (await client.listTags(repository)).filter(t => TAG.test(t))
      tag = previousTags(tags, [...pushing, CACHE_TAG], 1)[0]
    }
    if (!tag) {
      located?.(undefined)
      return { none: true }
    }
    const { digest, manifests } = await imageManifests(client, repository, tag, tops[at])
    const version = {
      tag,
      digest,
      layers: layersOf(manifests),
      configs: manifests.flatMap(m => (m.config ? [m.config.digest] : []))
    }
    located?.(version)
    const configs = await Promise.all(
      manifests
        .filter(m => m.config)
        .map(async m =>
          parseJson<Record<string, unknown>>(await client.getBlob(repository, m.config!.digest))
        )
    )
    return {
      found: {
        ...version,
        inlineCache: configs.some(c => c[INLINE_CACHE_KEY] !== undefined),
        revisions: configs.flatMap(c => revisionOf(c) ?? [])
      }
    }
  } catch (error) {
    located?.(undefined)
    return { unreadable: errorMessage(error) }
  }
}

/**
 * Whether the builder buildx uses can export a cache (registry, gha): any driver but `docker`
 * can; the docker driver only on the containerd image store (docs/facts/build-cache.md). Never
 * rejects: what cannot be told is a no, with the reason.
 */
export async function builderExportsCache(
  docker: Docker,
  builder: string
): Promise<{ can: boolean; why: string }> {
  try {
    const driver = (await docker.builderDriver(builder)) ?? 'unknown'
    if (driver !== 'docker') return { can: true, why: `the buildx ${driver} driver` }
    return (await docker.builderStore(builder)) === 'containerd'
      ? { can: true, why: 'the docker driver on the containerd image store' }
      : { can: false, why: 'the docker driver on the classic image store' }
  } catch (error) {
    return { can: false, why: `the builder could not be inspected (${errorMessage(error)})` }
  }
}

/**
 * Whether the engine holds an image under any of `ids`: image IDs or references. For a previous
 * version: its digest (the containerd store names an image by its manifest's or index's digest)
 * or a config's digest (the classic store's image ID). Never rejects: what cannot be told is a no.
 */
export async function engineHolds(
  docker: Docker,
  ids: string[],
  /** IDs of local images known already (what the tags name in the engine): no docker call. */
  known: string[] = []
): Promise<boolean> {
  if (ids.some(id => known.includes(id))) return true
  const found = await Promise.all(ids.map(id => docker.localImageId(id).catch(() => undefined)))
  return found.some(Boolean)
}

/** What the build gets, and what the log, a notice and the summary say about it. */
export interface CacheDecision {
  cacheFrom: CacheEntry[]
  cacheTo: CacheEntry[]
  /** One line for the log. */
  line: string
  /** At most one notice. */
  notice?: string
  /** The previous version the layers are compared with after the push (auto). */
  previous?: PreviousVersion
  /** A short text for the job summary. */
  summary: string
}

export interface CacheFacts {
  mode: CacheMode
  builder: Builder
  /** REGISTRY/PATH. */
  image: string
  push: boolean
  noCache: boolean
  /** The user gave cache-from or cache-to. */
  userGave: boolean
  previous: PreviousLookup
  /** For registry and gha: whether the builder exports caches. */
  exports?: { can: boolean; why: string }
  /** The runner's cache service is there (ACTIONS_RUNTIME_TOKEN and a cache URL). */
  cacheService: boolean
  /**
   * A self-hosted runner whose engine holds the previous version's image (it built it): its
   * own build cache has the steps, so reading the registry's would only cost time.
   */
  engineHasPrevious?: boolean
}

const registryEntry = (ref: string, more: [string, string][] = []): CacheEntry => ({
  type: 'registry',
  attrs: [['ref', ref], ...more]
})

/** The cache of one build, from what is known (pure). */
export function decideCache(f: CacheFacts): CacheDecision {
  const none = { cacheFrom: [], cacheTo: [] }
  if (f.mode === 'off') {
    return { ...none, line: 'Build cache: off (cache: off).', summary: 'off' }
  }
  if (f.userGave) {
    return {
      ...none,
      line: 'Build cache: your cache-from / cache-to, as given (they win over cache: auto).',
      summary: 'your cache-from / cache-to'
    }
  }
  if (f.builder === 'classic') {
    // The builder's own notice already says that there is no BuildKit here (docker/buildx.ts):
    // one notice is enough.
    return {
      ...none,
      line:
        'Build cache: none (the classic builder reads no build cache from the registry; ' +
        'buildx: true installs buildx, which does).',
      summary: 'none (classic builder)'
    }
  }
  if (f.mode === 'registry' || f.mode === 'gha') {
    const can = f.builder === 'buildx' && f.exports?.can
    const service = f.mode === 'registry' || f.cacheService
    if (can && service) return full(f)
    const why =
      f.builder !== 'buildx'
        ? "the engine's built-in BuildKit (no buildx) exports only an inline cache"
        : !can
          ? `${f.exports?.why ?? 'this builder'} exports only an inline cache`
          : "the runner's cache service is not there (ACTIONS_RUNTIME_TOKEN and ACTIONS_CACHE_URL or ACTIONS_RESULTS_URL)"
    const inline = auto(f)
    const fallback =
      `cache: ${f.mode} needs a builder that exports a cache, but ${why}: the previous version is ` +
      'the cache source and the image carries an inline cache instead (a docker-container builder ' +
      'from docker/setup-buildx-action, or the containerd image store, exports every backend).'
    return {
      ...inline,
      notice: inline.notice ? `${fallback} ${inline.notice}` : fallback,
      summary: `${inline.summary} (cache: ${f.mode} not available here)`
    }
  }
  return auto(f)
}

/** cache: registry or gha, on a builder that exports them. */
function full(f: CacheFacts): CacheDecision {
  if (f.mode === 'registry') {
    const ref = `${f.image}:${CACHE_TAG}`
    const cacheTo = f.push
      ? [
          registryEntry(ref, [
            ['mode', 'max'],
            ['ignore-error', 'true']
          ])
        ]
      : []
    return {
      cacheFrom: f.noCache ? [] : [registryEntry(ref)],
      cacheTo,
      line:
        `Build cache: every stage under ${ref} (cache: registry, mode=max)` +
        (f.push ? '' : '; read only: push is false, so nothing is written'),
      summary: `registry cache <code>${ref}</code> (mode=max)`
    }
  }
  const scope: [string, string] = ['scope', f.image]
  return {
    cacheFrom: f.noCache ? [] : [{ type: 'gha', attrs: [scope] }],
    cacheTo: [{ type: 'gha', attrs: [scope, ['mode', 'max'], ['ignore-error', 'true']] }],
    line: `Build cache: the runner's cache service (cache: gha, scope ${f.image}, mode=max).`,
    summary: `GitHub Actions cache, scope <code>${f.image}</code> (mode=max)`
  }
}

/** cache: auto, or the fallback of registry / gha: the previous version, and an inline cache. */
function auto(f: CacheFacts): CacheDecision {
  const cacheTo: CacheEntry[] = [{ type: 'inline', attrs: [] }]
  const writes = 'the image carries an inline build cache for the next run'
  const p = f.previous
  if ('found' in p && f.engineHasPrevious && !f.noCache) {
    const { tag } = p.found
    return {
      cacheFrom: [],
      cacheTo,
      previous: p.found,
      line:
        `Build cache: this self-hosted runner's own (its engine holds the previous version ` +
        `${f.image}:${tag}, which it built), not read from the registry; ${writes}.`,
      summary: `the runner's own (it built <code>${f.image}:${tag}</code>)`
    }
  }
  if ('found' in p && p.found.inlineCache && !f.noCache) {
    const { tag, digest } = p.found
    return {
      cacheFrom: [registryEntry(`${f.image}@${digest}`)],
      cacheTo,
      previous: p.found,
      line: `Build cache: from the previous version ${f.image}:${tag} (${digest}); ${writes}.`,
      summary: `inline, from <code>${f.image}:${tag}</code>`
    }
  }
  const without = 'built without a cache source'
  if (f.noCache) {
    return {
      cacheFrom: [],
      cacheTo,
      previous: 'found' in p ? p.found : undefined,
      line: `Build cache: none read (no-cache); ${writes}.`,
      summary: 'none read (no-cache); inline cache written'
    }
  }
  if ('found' in p) {
    return {
      cacheFrom: [],
      cacheTo,
      previous: p.found,
      line: `Build cache: none; ${writes}.`,
      notice:
        `The previous version ${f.image}:${p.found.tag} carries no build cache (pushed by another ` +
        `tool, or built without an inline cache): ${without}; ${writes}.`,
      summary: `none: <code>${f.image}:${p.found.tag}</code> has no build cache; inline cache written`
    }
  }
  if ('none' in p) {
    return {
      cacheFrom: [],
      cacheTo,
      line: `Build cache: none; ${writes}.`,
      notice: `First publish of ${f.image} (no earlier version in the repository): ${without}; ${writes}.`,
      summary: 'none (first publish); inline cache written'
    }
  }
  return {
    cacheFrom: [],
    cacheTo,
    line: `Build cache: none; ${writes}.`,
    notice: `The previous version of ${f.image} could not be read (${p.unreadable}): ${without}; ${writes}.`,
    summary: 'none (previous version unreadable); inline cache written'
  }
}

/**
 * The run's build cache: the previous version is looked up as soon as the run starts (beside the
 * login), the entries are chosen once the builder is known, and after the push the layers of what
 * was published are compared with the previous version's.
 */
export class BuildCache {
  private readonly lookup: Promise<PreviousLookup> | undefined
  private decision: CacheDecision | undefined

  constructor(
    private readonly options: {
      mode: CacheMode
      client: RegistryClient
      docker: Docker
      /** The builder input (empty: the selected builder). */
      builder: string
      /** REGISTRY/PATH, and PATH. */
      image: string
      repository: string
      tags: string[]
      push: boolean
      noCache: boolean
      userGave: boolean
      env: Readonly<Record<string, string | undefined>>
    }
  ) {
    const o = options
    const needed = o.mode !== 'off' && !o.userGave
    const selfHosted = needed && o.mode === 'auto' && o.env.RUNNER_ENVIRONMENT === 'self-hosted'
    let located: (found: LocatedVersion | undefined) => void = () => {}
    this.located = selfHosted
      ? new Promise(resolve => {
          located = resolve
        })
      : undefined
    this.lookup = needed ? findPreviousVersion(o.client, o.repository, o.tags, located) : undefined
    this.lookup?.catch(() => undefined)
    // A self-hosted runner: what the tags being pushed name in the engine now (its last build of
    // them, most likely the previous version), asked beside the lookup (engineHolds).
    this.localIds = selfHosted
      ? Promise.all(
          o.tags.map(tag => o.docker.localImageId(`${o.image}:${tag}`).catch(() => undefined))
        ).then(ids => ids.filter((id): id is string => Boolean(id)))
      : undefined
  }

  /** A self-hosted runner: the previous version as soon as its manifests are read. */
  private readonly located: Promise<LocatedVersion | undefined> | undefined
  private readonly localIds: Promise<string[]> | undefined

  /**
   * A self-hosted runner whose engine holds the previous version's image: that version, known
   * before its configs are read (the own cache needs nothing of them); undefined otherwise.
   */
  private async ownCacheVersion(): Promise<PreviousVersion | undefined> {
    if (!this.located || !this.localIds || this.options.noCache) return undefined
    const version = await this.located
    if (!version) return undefined
    const ids = [version.digest, ...(version.configs ?? [])]
    const holds = await engineHolds(this.options.docker, ids, await this.localIds)
    // inlineCache is not read on this way (the runner's own build cache serves the build).
    return holds ? { ...version, inlineCache: false } : undefined
  }

  /** Sets the request's cache-from / cache-to for `builder`, when the user gave none. */
  async apply(builder: Builder, req: BuildRequest): Promise<void> {
    const o = this.options
    const full = (o.mode === 'registry' || o.mode === 'gha') && builder === 'buildx' && !o.userGave
    const own = await this.ownCacheVersion()
    const [previous, exports] = await Promise.all([
      own
        ? Promise.resolve<PreviousLookup>({ found: own })
        : (this.lookup ?? Promise.resolve<PreviousLookup>({ none: true })),
      full ? builderExportsCache(o.docker, o.builder) : Promise.resolve(undefined)
    ])
    const engineHasPrevious = own !== undefined
    const d = decideCache({
      mode: o.mode,
      builder,
      image: o.image,
      push: o.push,
      noCache: o.noCache,
      userGave: o.userGave,
      previous,
      exports,
      cacheService: Boolean(
        o.env.ACTIONS_RUNTIME_TOKEN && (o.env.ACTIONS_CACHE_URL || o.env.ACTIONS_RESULTS_URL)
      ),
      engineHasPrevious
    })
    this.decision = d
    core.info(d.line)
    if (d.notice) core.notice(d.notice)
    if (d.cacheFrom.length || d.cacheTo.length) {
      req.cacheFrom = d.cacheFrom
      req.cacheTo = d.cacheTo
    }
  }

  /**
   * The previous version when the build reads it as its cache source (after apply), for
   * produce/prefetch.ts: IMAGE@DIGEST, and its image configs' digests; undefined otherwise.
   */
  cacheSource(): { reference: string; configs: string[]; revisions: string[] } | undefined {
    const d = this.decision
    if (!d?.previous) return undefined
    const reference = `${this.options.image}@${d.previous.digest}`
    const reads = d.cacheFrom.some(
      e => e.type === 'registry' && e.attrs.some(([k, v]) => k === 'ref' && v === reference)
    )
    return reads
      ? { reference, configs: d.previous.configs ?? [], revisions: d.previous.revisions ?? [] }
      : undefined
  }

  /**
   * For the job summary: the cache used, and for a pushed image how many of its layers the
   * previous version had, and the compressed size of the others (what had to be uploaded at most:
   * a layer the repository held from elsewhere was skipped too). Never rejects.
   */
  async report(publishedDigest: string, manifest?: Buffer): Promise<string | undefined> {
    const d = this.decision
    if (!d) return undefined
    const previous = d.previous
    if (!publishedDigest || !previous) return d.summary
    try {
      // The manifest read back after the push spares its GET.
      const read = manifest && { digest: publishedDigest, mediaType: '', bytes: manifest }
      const { manifests } = await imageManifests(
        this.options.client,
        this.options.repository,
        publishedDigest,
        read
      )
      const layers = layersOf(manifests)
      const kept = [...layers.keys()].filter(digest => previous.layers.has(digest))
      const newBytes = [...layers]
        .filter(([digest]) => !previous.layers.has(digest))
        .reduce((sum, [, size]) => sum + size, 0)
      return (
        `${d.summary}; ${kept.length} of ${layers.size} layers reused from ` +
        `<code>${previous.tag}</code>; new layers: ${layers.size - kept.length}, ` +
        `${formatBytes(newBytes)} (${newBytes.toLocaleString('en-US')} bytes, their compressed ` +
        'sizes: what was uploaded at most)'
      )
    } catch (error) {
      core.debug(`cache report: ${errorMessage(error)}`)
      return d.summary
    }
  }
}
