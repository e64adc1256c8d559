/**
 * Which layer of an image a `<id>/layer.tar` of a pre-25 `docker save` is, before reading it.
 *
 * Engines before 25 name each layer's folder by a "v1 ID", not by the layer's digest, and write
 * the folder's `json` before its `layer.tar`. The engine makes that ID as the sha256 of the
 * folder's JSON without its `id`, with `parent` as a full digest, with `layer_id` (the layer's
 * chain ID) added, keys sorted, compact; for every layer but the top one, the JSON it hashes also
 * lacks the `os` that it writes. Recomputing that hash for each of the image's chain IDs (known
 * from `docker image inspect`) finds the one that gives the folder's own ID: a sha256 match, so
 * a proof, never a guess. When nothing matches (an engine that made its IDs differently), the
 * caller hashes the layer as before.
 */
import { createHash } from 'node:crypto'

const sha256 = (text: string): string => 'sha256:' + createHash('sha256').update(text).digest('hex')

/** The chain ID of each layer: the first diff_id, then sha256("<parent chain ID> <diff_id>"). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = []
  for (const [i, diffId] of diffIds.entries()) {
    out.push(i === 0 ? diffId : sha256(`${out[i - 1]} ${diffId}`))
  }
  return out
}

/**
 * The top-level members of a compact JSON object, each value as its raw text, in order; undefined
 * when the text is not a compact object (whitespace between tokens, or not an object).
 */
export function rawMembers(text: string): [string, string][] | undefined {
  const members: [string, string][] = []
  let i = 0
  const endOfString = (from: number): number => {
    // text[from] is the opening quote; returns the index after the closing one, or -1.
    for (let j = from + 1; j < text.length; j++) {
      if (text[j] === '\\') j++
      else if (text[j] === '"') return j + 1
    }
    return -1
  }
  if (text[i++] !== '{') return undefined
  if (text[i] === '}') return i + 1 === text.length ? members : undefined
  for (;;) {
    if (text[i] !== '"') return undefined
    const keyEnd = endOfString(i)
    if (keyEnd < 0 || text[keyEnd] !== ':') return undefined
    const key = text.slice(i, keyEnd)
    i = keyEnd + 1
    const start = i
    let depth = 0
    for (; i < text.length; i++) {
      const c = text[i]
      if (c === '"') {
        const end = endOfString(i)
        if (end < 0) return undefined
        i = end - 1
      } else if (c === '{' || c === '[') depth++
      else if (c === '}' || c === ']') {
        if (depth === 0) break
        depth--
      } else if (c === ',' && depth === 0) break
      else if (c === ' ' || c === '\n' || c === '\r' || c === '\t') return undefined
    }
    if (i === start || i >= text.length) return undefined
    members.push([key, text.slice(start, i)])
    if (text[i] === '}') return i + 1 === text.length ? members : undefined
    i++ // the comma
  }
}

/**
 * The diff_id of the layer whose v1 folder JSON is `json` (the text of `<id>/json`), or undefined
 * when it matches none of the image's layers.
 */
export function legacyLayerDiffId(json: string, diffIds: string[]): string | undefined {
  const members = rawMembers(json)
  if (!members) return undefined
  const get = (key: string): string | undefined => members.find(([k]) => k === `"${key}"`)?.[1]
  const id = /^"([0-9a-f]{64})"$/.exec(get('id') ?? '')?.[1]
  if (!id) return undefined
  const parentHex = get('parent')
  const parent = parentHex === undefined ? undefined : /^"([0-9a-f]{64})"$/.exec(parentHex)?.[1]
  if (parentHex !== undefined && !parent) return undefined
  const rest = members.filter(([k]) => k !== '"id"' && k !== '"parent"' && k !== '"layer_id"')
  const variants = [rest]
  // Every layer but the top one: hashed without the `os` written afterwards.
  if (rest.some(([k]) => k === '"os"')) variants.push(rest.filter(([k]) => k !== '"os"'))
  const chains = chainIds(diffIds)
  for (const [i, chain] of chains.entries()) {
    for (const variant of variants) {
      const all: [string, string][] = [...variant, ['"layer_id"', `"${chain}"`]]
      if (parent) all.push(['"parent"', `"sha256:${parent}"`])
      // Keys as Go sorts a map's: byte order (the keys here are ASCII).
      all.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      const text = '{' + all.map(([k, v]) => `${k}:${v}`).join(',') + '}'
      if (sha256(text) === `sha256:${id}`) return diffIds[i]
    }
  }
  return undefined
}
