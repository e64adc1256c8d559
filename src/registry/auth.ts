/** The registry's authentication challenge, and the scopes a request asks a token for. */

export interface Challenge {
  scheme: string
  params: Record<string, string>
}

/** Parses `Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header)
  if (!m) return undefined
  const params: Record<string, string> = {}
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g
  let p: RegExpExecArray | null
  while ((p = re.exec(m[2])) !== null) {
    if (p[0] === '') break
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]
  }
  return { scheme: m[1].toLowerCase(), params }
}

export type Action = 'pull' | 'push'

/** `repository:NAME:pull` or `repository:NAME:pull,push`. */
export function repositoryScope(repository: string, actions: Action[]): string {
  return `repository:${repository}:${[...new Set(actions)].sort().join(',')}`
}
