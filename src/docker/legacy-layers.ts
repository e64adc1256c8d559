/**
 * Telling which layer a `docker save` of an engine before 25 holds in `<id>/layer.tar` before
 * reading it. Those saves name a layer directory by its "v1 ID", not by a digest of its content,
 * but each directory's `json` (which the save writes before `layer.tar`) is what that ID was made
 * from: the sha256 of the same JSON object without `id`, with `layer_id` (the layer's chain ID)
 * and `parent` (the previous layer's v1 ID) added, keys sorted, as Go's encoding/json writes a
 * map. Recomputing it for each of the image's chain IDs finds the one whose hash is the directory
 * name: then the layer's diff_id is known, so a layer the repository holds is drained unread and a
 * new one is compressed straight from the stream. A match is a sha256 match, so a JSON this code
 * does not reproduce exactly only means "not told" (the layer is hashed as before), never a wrong
 * layer.
 */
import { sha256 as digestOf } from '../oci/digest.js'

const sha256 = (text: string): string => digestOf(Buffer.from(text))

/** The chain IDs of an image's layers: the first diff_id, then sha256("<previous> <diff_id>"). */
export function chainIds(diffIds: string[]): string[] {
  const chain: string[] = []
  for (const [i, diffId] of diffIds.entries()) {
    chain.push(i === 0 ? diffId : sha256(`${chain[i - 1]} ${diffId}`))
  }
  return chain
}

/** The end of the JSON string starting at `text[i]` (a quote): the index after its closing quote. */
function stringEnd(text: string, i: number): number {
  let j = i + 1
  while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1
  if (j >= text.length) throw new Error('unterminated string')
  return j + 1
}

/**
 * The members of a compact JSON object as written (key → the value's exact text), in order.
 * Throws on anything but a compact object (the engine writes json.Marshal's output).
 */
export function objectMembers(text: string): Map<string, string> {
  const members = new Map<string, string>()
  if (text[0] !== '{') throw new Error('not an object')
  let i = 1
  while (text[i] !== '}') {
    if (text[i] !== '"') throw new Error(`a key expected at ${i}`)
    const keyEnd = stringEnd(text, i)
    const key = JSON.parse(text.slice(i, keyEnd)) as string
    if (text[keyEnd] !== ':') throw new Error(`':' expected at ${keyEnd}`)
    i = keyEnd + 1
    const start = i
    let depth = 0
    for (;;) {
      if (i >= text.length) throw new Error('unterminated value')
      const c = text[i]
      if (c === '"') {
        i = stringEnd(text, i)
        if (depth === 0) break
        continue
      }
      if (c === '{' || c === '[') depth++
      else if (c === '}' || c === ']') {
        if (depth === 0) break
        depth--
        if (depth === 0) {
          i++
          break
        }
      } else if (c === ',' && depth === 0) break
      i++
    }
    members.set(key, text.slice(start, i))
    if (text[i] === ',') i++
  }
  return members
}

/**
 * Which of the image's layers (an index into `chain`) the directory `id` of a pre-25 save holds,
 * given that directory's `json`; undefined when no chain ID reproduces the ID.
 */
export function legacyLayerIndex(id: string, json: string, chain: string[]): number | undefined {
  let members: Map<string, string>
  try {
    members = objectMembers(json.trim())
  } catch {
    return undefined
  }
  members.delete('id')
  // The save writes the parent's ID as bare hex; the ID was made with it as a digest. (A
  // one-layer image keeps its own `parent`, a digest already, as it was.)
  const parent = members.get('parent')
  if (parent && !parent.startsWith('"sha256:')) members.set('parent', `"sha256:${parent.slice(1)}`)
  // Every layer but the top one got its `os` only after its ID was made.
  for (const withOs of [false, true]) {
    if (withOs && !members.has('os')) continue
    for (const [index, chainId] of chain.entries()) {
      const fields = new Map(members)
      if (!withOs) fields.delete('os')
      fields.set('layer_id', JSON.stringify(chainId))
      const keys = [...fields.keys()].sort()
      const text = `{${keys.map(k => `${JSON.stringify(k)}:${fields.get(k)}`).join(',')}}`
      if (sha256(text) === `sha256:${id}`) return index
    }
  }
  return undefined
}
