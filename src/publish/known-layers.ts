/**
 * What the repository holds already, learnt before a byte is compressed: the manifests and configs
 * under the tags being pushed (for a re-run or the next version, most layers are there), the
 * repositories on the same registry that the image came from (its RepoDigests: a base image pulled
 * from there), and, on a self-hosted runner, a small local cache of diff_id → blob from earlier
 * pushes. Each candidate is confirmed on the registry (HEAD in this repository, or a cross-repository
 * mount from another one) before its layer is skipped: a layer is only ever drained unread when
 * the repository is known to hold its blob.
 *
 * What the registry says a blob holds is a claim, not a proof: anyone who can push to the
 * repository can put up a config whose diff_ids name this image's layers over other blobs. So a
 * mapping diff_id → blob is used only when it is proven (docs/facts/content-trust.md): the blob is
 * read back and unpacks to the diff_id (layer-proof.ts; in the background, a few at a time, while
 * the save goes on), or this runner proved it before — the local cache records only mappings this
 * runner compressed itself or read back, and is trusted only as a file of the runner's own user
 * that nobody else can write. A mapping that fails is dropped with a warning naming where it came
 * from, and the layer is compressed and uploaded.
 */
import * as core from '@actions/core'
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseJson, type ImageConfigJson, type ManifestJson } from '../oci/descriptor.js'
import type { LayerBlob } from '../oci/layer-blob.js'
import { MEDIA_TYPES } from '../oci/media-types.js'
import { samePlatform, type Platform } from '../oci/platform.js'
import type { RegistryClient } from '../registry/client.js'
import { limiter } from '../util/concurrency.js'
import { errorMessage } from '../util/errors.js'
import { disproveLayer } from './layer-proof.js'
import type { KnownLayers } from './save-layers.js'
import { previousTags } from '../plan/previous-version.js'
import { outside } from '../util/text.js'

/** A candidate blob for a diff_id, the repository it is in, and where the mapping was read. */
interface Candidate extends LayerBlob {
  repository: string
  from: string
}

export interface Knowledge extends KnownLayers {
  /**
   * This very image (same config) is in the repository already, under one of the tags, as the
   * action's own OCI manifest: nothing to save, compress nor upload.
   */
  sameImage?: { digest: string; config: Buffer; layers: LayerBlob[] }
  /** Layers known to be in the repository (or mounted there), of this image's. */
  known: number
  sources: string[]
}

const CACHE_LIMIT = 4000
/** Blobs read back at once to prove them (each is streamed through a hash and a decompressor). */
const PROOFS_AT_ONCE = 3

/**
 * The local cache's file: under the runner's tool cache (RUNNER_TOOL_CACHE), kept between jobs on
 * self-hosted runners. None without one.
 */
export function cacheFile(toolCache: string | undefined): string | undefined {
  return toolCache ? path.join(toolCache, 'publish-container', 'layers.json') : undefined
}

/**
 * registry → diff_id → blob. `proven`: this runner compressed the layer itself or read the blob
 * back and unpacked it to the diff_id; entries without it (written by earlier versions) are only
 * candidates, proven like any other.
 */
type CacheData = Record<
  string,
  Record<string, LayerBlob & { repository: string; at: number; proven?: boolean }>
>
type ImagesData = Record<string, { config: string; at: number }>

/** Beside the layer cache: local image ID → the config digest it was published with. */
function imagesFile(file: string): string {
  return path.join(path.dirname(file), 'images.json')
}

/** A cache file's content; empty when there is none or it cannot be read. */
function readJson<T extends object>(file: string | undefined): Partial<T> {
  if (!file) return {}
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Partial<T>
  } catch {
    return {}
  }
}

/**
 * Whether the cache file may be believed: a file of this user's that no other user can write (the
 * runner's tool cache is the runner user's; whatever else runs as that user could as well change
 * the action's code or the engine, so believing the file gives nobody a power they lack).
 */
function ownFile(file: string): boolean {
  try {
    const stat = statSync(file)
    const uid = os.userInfo().uid
    return (uid < 0 || stat.uid === uid) && (stat.mode & 0o022) === 0
  } catch {
    return false
  }
}

/** The `CACHE_LIMIT` most recently noted entries. */
function newest<E extends { at: number }>(
  entries: Record<string, E>,
  limit = CACHE_LIMIT
): Record<string, E> {
  const all = Object.entries(entries).sort((a, b) => b[1].at - a[1].at)
  return Object.fromEntries(all.slice(0, limit))
}

/** Writes a cache file whole (a reader never sees half of it); best effort: failures are logged. */
function writeJson(file: string, data: object, what: string): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true })
    writeFileSync(`${file}.tmp`, JSON.stringify(data), { mode: 0o600 })
    renameSync(`${file}.tmp`, file)
  } catch (error) {
    core.debug(`${what} not written: ${errorMessage(error)}`)
  }
}

/**
 * Remembers where this push put each layer (best effort: a cache that cannot be written is
 * skipped), as proven: every layer of a push with a diff_id was compressed by this run or read back
 * (learnKnownLayers gives no other).
 */
export function rememberLayers(
  file: string | undefined,
  registry: string,
  repository: string,
  layers: LayerBlob[]
): void {
  if (!file) return
  const data = readJson<CacheData>(file)
  const entries = data[registry] ?? {}
  const now = Date.now()
  for (const l of layers) {
    if (l.diffId) {
      entries[l.diffId] = {
        digest: l.digest,
        size: l.size,
        mediaType: l.mediaType,
        diffId: l.diffId,
        repository,
        at: now,
        proven: true
      }
    }
  }
  writeJson(file, { ...data, [registry]: newest(entries) }, 'layer cache')
}

/**
 * Remembers the config digest of a local image whose ID is not its config's (the containerd image
 * store names an image by its manifest's or index's digest, which fixes the config): the next push
 * of the same image then knows its config without a `docker save`. Best effort, like the layers.
 */
export function rememberImage(
  file: string | undefined,
  localId: string,
  configDigest: string
): void {
  if (!file || localId === configDigest) return
  const data = readJson<ImagesData>(imagesFile(file))
  const entries = { ...data, [localId]: { config: configDigest, at: Date.now() } } as ImagesData
  writeJson(imagesFile(file), newest(entries), 'image cache')
}

type OciOverData = Record<string, { v2: string; at: number }>
const ENGINE_PUSH_LIMIT = 200

/** Beside the layer cache: what this runner's engine pushed, for the OCI manifest written over it. */
function ociOverFile(file: string): string {
  return path.join(path.dirname(file), 'engine-pushes.json')
}

const ociOverKey = (registry: string, repository: string, imageId: string): string =>
  `${registry}/${repository}@${imageId}`

/**
 * Remembers the Docker v2 manifest this runner's engine pushed for the classic-store image
 * `imageId` (its config's digest) to REGISTRY/REPOSITORY, over which the action wrote the OCI
 * manifest (engine-push.ts). The engine compressed those layers from this very image, so they are
 * its layers: an unchanged republish from the same runner can then be recognised without a push
 * (recallEnginePush). Best effort, like the layers.
 */
export function rememberEnginePush(
  file: string | undefined,
  registry: string,
  repository: string,
  imageId: string,
  v2Manifest: Buffer
): void {
  if (!file) return
  const target = ociOverFile(file)
  const data = readJson<OciOverData>(target)
  const entries = {
    ...data,
    [ociOverKey(registry, repository, imageId)]: {
      v2: v2Manifest.toString('base64'),
      at: Date.now()
    }
  } as OciOverData
  // Each entry holds a manifest (~1–2 KB): fewer of them than of the layers.
  writeJson(target, newest(entries, ENGINE_PUSH_LIMIT), 'engine push record')
}

/**
 * The Docker v2 manifest rememberEnginePush noted for this image and repository, from a file only
 * this user can write (ownFile); undefined when there is none.
 */
export function recallEnginePush(
  file: string | undefined,
  registry: string,
  repository: string,
  imageId: string
): Buffer | undefined {
  if (!file) return undefined
  const target = ociOverFile(file)
  if (!ownFile(target)) return undefined
  const entry = readJson<OciOverData>(target)[ociOverKey(registry, repository, imageId)]
  return typeof entry?.v2 === 'string' ? Buffer.from(entry.v2, 'base64') : undefined
}

/**
 * The image manifest under `reference` for this platform (through an index), with its config's
 * diff_ids; undefined when there is none, or it cannot be read.
 */
async function readImage(
  client: RegistryClient,
  repository: string,
  reference: string,
  platform: Platform
): Promise<
  | {
      digest: string
      mediaType: string
      bytes: Buffer
      configDigest: string
      config: Buffer
      layers: LayerBlob[]
    }
  | undefined
> {
  if (!(await client.headManifest(repository, reference))) return undefined
  let m = await client.getManifest(repository, reference)
  let body = parseJson<ManifestJson>(m.bytes)
  if (body.manifests) {
    const child = body.manifests.find(d => samePlatform(d.platform, platform))
    if (!child) return undefined
    m = await client.getManifest(repository, child.digest)
    body = parseJson<ManifestJson>(m.bytes)
  }
  if (!body.config || !body.layers) return undefined
  const configBytes = await client.getBlob(repository, body.config.digest)
  const config = parseJson<ImageConfigJson>(configBytes)
  const diffIds = config.rootfs?.diff_ids ?? []
  if (diffIds.length !== body.layers.length) return undefined
  return {
    ...m,
    configDigest: body.config.digest,
    config: configBytes,
    layers: body.layers.map((l, i) => ({
      digest: l.digest,
      size: l.size,
      mediaType: l.mediaType,
      diffId: diffIds[i]
    }))
  }
}

export async function learnKnownLayers(
  client: RegistryClient,
  options: {
    repository: string
    tags: string[]
    /** The local image: its config digest (image ID, classic store), diff_ids, platform. */
    imageId: string
    diffIds: string[]
    platform: Platform
    /** repository@digest references on the same registry that the image came from. */
    origins: { repository: string; reference: string }[]
    /** The local cache's file (cacheFile), if the runner has a tool cache. */
    cacheFile?: string
  }
): Promise<Knowledge> {
  const { repository } = options
  const wanted = new Set(options.diffIds)
  const candidates = new Map<string, Candidate[]>()
  const sources: string[] = []
  let sameImage: Knowledge['sameImage']
  // The config digest of this very local image, when an earlier push from this runner noted it.
  const localConfig = options.cacheFile
    ? readJson<ImagesData>(imagesFile(options.cacheFile))[options.imageId]?.config
    : undefined
  const add = (layer: LayerBlob, repo: string, from: string): void => {
    if (!layer.diffId || !wanted.has(layer.diffId)) return
    const list = candidates.get(layer.diffId) ?? []
    if (!list.some(c => c.digest === layer.digest && c.repository === repo)) {
      list.push({ ...layer, repository: repo, from })
      candidates.set(layer.diffId, list)
    }
  }
  const read = async ({
    repository: repo,
    reference
  }: {
    repository: string
    reference: string
  }) => {
    try {
      const image = await readImage(client, repo, reference, options.platform)
      if (!image) return
      const from = `${repo}:${reference}`
      sources.push(from)
      image.layers.forEach(l => add(l, repo, from))
      if (
        repo === repository &&
        (image.configDigest === options.imageId || image.configDigest === localConfig) &&
        image.mediaType === MEDIA_TYPES.ociManifest &&
        !sameImage
      ) {
        sameImage = { digest: image.digest, config: image.config, layers: image.layers }
      }
    } catch (error) {
      core.debug(outside(`could not read ${repo}:${reference}: ${errorMessage(error)}`))
    }
  }
  await Promise.all(
    [...options.tags.map(tag => ({ repository, reference: tag })), ...options.origins].map(read)
  )
  if (!sources.some(source => source.startsWith(`${repository}:`))) {
    // None of the tags being pushed is there yet (a new version under a new tag only): the
    // previous version, under another tag of the repository, most likely holds the base layers.
    const tags = await client.listTags(repository).catch(() => [] as string[])
    const previous = previousTags(tags, options.tags)
    await Promise.all(previous.map(tag => read({ repository, reference: tag })))
  }
  const cacheFile = options.cacheFile
  const cached =
    (cacheFile && ownFile(cacheFile) ? readJson<CacheData>(cacheFile)[client.registry] : {}) ?? {}
  /** blob digest → the diff_id this runner proved it unpacks to. */
  const proven = new Map<string, string>()
  for (const entry of Object.values(cached)) {
    if (entry.proven && entry.diffId) proven.set(entry.digest, entry.diffId)
  }
  for (const diffId of wanted) {
    const c = cached[diffId]
    if (c) add(c, c.repository, 'the local layer cache')
  }
  if (Object.keys(cached).length) sources.push('local cache')

  // Confirm: HEAD in this repository, else mount from where it was seen.
  const known = new Map<string, Candidate>()
  const blobs = new Map<string, Promise<boolean>>()
  const has = (digest: string): Promise<boolean> => {
    let p = blobs.get(digest)
    if (!p) {
      p = client.headBlob(repository, digest).then(
        size => size !== undefined,
        () => false
      )
      blobs.set(digest, p)
    }
    return p
  }
  await Promise.all(
    [...candidates.entries()].map(async ([diffId, list]) => {
      for (const c of list) {
        if (await has(c.digest)) {
          known.set(diffId, { ...c, diffId })
          return
        }
        if (c.repository !== repository) {
          try {
            if (await client.mountBlob(repository, c.digest, c.repository)) {
              blobs.set(c.digest, Promise.resolve(true))
              known.set(diffId, { ...c, diffId })
              return
            }
          } catch (error) {
            core.debug(`mount of ${c.digest} from ${c.repository}: ${errorMessage(error)}`)
          }
        }
      }
    })
  )

  // Prove: each mapping not proven before is read back, in the image's layer order, a few at a
  // time, while the save drains the claimed layers; a failed proof makes the save run again
  // (save-layers.ts), and the sameImage shortcut waits for every proof.
  const prove = limiter(PROOFS_AT_ONCE)
  const proofs = new Map<string, Promise<LayerBlob | undefined>>()
  const claims = new Map<string, LayerBlob>()
  let toProve = 0
  for (const diffId of options.diffIds) {
    const c = known.get(diffId)
    if (!c || proofs.has(diffId)) continue
    const layer = { digest: c.digest, size: c.size, mediaType: c.mediaType, diffId }
    claims.set(diffId, layer)
    if (proven.get(c.digest) === diffId) {
      proofs.set(diffId, Promise.resolve(layer))
      continue
    }
    toProve++
    proofs.set(
      diffId,
      prove(() => disproveLayer(client, repository, c, diffId)).then(why => {
        if (!why) return layer
        claims.delete(diffId)
        core.warning(
          `${c.from} gives the blob ${c.digest} as the layer ${diffId} of this image, but that ` +
            `blob ${why}: it is not reused; the layer is compressed and uploaded.`
        )
        return undefined
      })
    )
  }
  if (toProve) core.info(`Reading back ${toProve} layer(s) to prove what they hold before reuse.`)
  const byDiffId = async (diffId: string): Promise<LayerBlob | undefined> => proofs.get(diffId)
  if (sameImage) {
    // Nothing is saved for the same image: every one of its layers must be proven first.
    const layers = await Promise.all(options.diffIds.map(byDiffId))
    if (layers.some(l => l === undefined)) sameImage = undefined
  }
  return {
    byDiffId,
    claimed: diffId => claims.get(diffId),
    hasBlob: has,
    sameImage,
    known: known.size,
    sources
  }
}
