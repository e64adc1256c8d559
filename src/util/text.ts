/**
 * How text from outside (inputs, docker's and registries' words) is shown in a message: on one
 * line, with nothing hidden, and without credentials.
 *
 * - quote(value): an input as the message shows it, in single quotes, escaped JSON-like so that it
 *   stays on one line (a newline inside a name must not split the ::error:: annotation) and shows
 *   what is invisible or misleading (\u200b, bidi controls, combining marks, no-break spaces).
 * - oneLine(text): the same escaping, without quotes, for text a server or docker sent.
 * - redactCredentials(text): `Authorization: …`, `Bearer …` and `Basic …` removed, for anything a
 *   server echoes back.
 * - outside(text): the one way a string from outside (a registry, the engine, an image config) is
 *   printed: oneLine, and nothing the runner would read as a workflow command.
 */

const NAMED: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t'
}
/**
 * What is escaped: controls, format characters (zero-width, bidi), line and paragraph
 * separators, spaces other than ' ', combining marks (they would combine with the quote), private
 * use, unassigned code points and lone surrogates.
 */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{M}\p{Co}\p{Cn}\p{Cs}]|(?! )\p{Zs}/u
const HIDDEN_ALL = new RegExp(HIDDEN.source, 'gu')
const QUOTED_ALL = new RegExp(`[\\\\']|${HIDDEN.source}`, 'gu')

function codePoint(c: string): string {
  const cp = c.codePointAt(0) ?? 0
  return cp > 0xffff ? `\\u{${cp.toString(16)}}` : `\\u${cp.toString(16).padStart(4, '0')}`
}

function escapeChar(c: string): string {
  return NAMED[c] ?? codePoint(c)
}

/** Cuts `value` after `max` characters (code points), with '…'. */
function cut(value: string, max: number): { text: string; more: boolean } {
  if (value.length <= max) return { text: value, more: false }
  const chars = [...value]
  return chars.length <= max
    ? { text: value, more: false }
    : { text: chars.slice(0, max).join(''), more: true }
}

/** An input as a message shows it: `'…'`, escaped to one line, invisible characters made visible. */
export function quote(value: string, max = Infinity): string {
  const { text, more } = cut(value, max)
  return `'${text.replace(QUOTED_ALL, escapeChar)}${more ? '…' : ''}'`
}

/** Text from outside (a server's or docker's words) on one line, invisible characters visible. */
export function oneLine(text: string, max = Infinity): string {
  const c = cut(text, max)
  const escaped = c.text.replace(HIDDEN_ALL, ch =>
    ch === '\n' || ch === '\r' ? ' ' : escapeChar(ch)
  )
  return escaped + (c.more ? '…' : '')
}

/**
 * A string from outside (a registry's tag names and error text, the engine's words, an image
 * config's platform) fit for the log: on one line (newlines become spaces, control characters
 * and ESC are shown escaped, as oneLine does), and unable to start a workflow command — the
 * runner reads `::name::` at the start of a line and `##[name]` anywhere in it
 * (docs/facts/registry-protocol.md), so every `::` becomes `:\:` and every `##[` `#\#[`.
 */
export function outside(text: string, max = Infinity): string {
  return oneLine(text, max)
    .replace(/:(?=:)/g, ':\\')
    .replace(/#(?=#\[)/g, '#\\')
}

/** Whether `value` holds a character quote() would escape (control, invisible, …). */
export function hasHiddenCharacters(value: string): boolean {
  return HIDDEN.test(value)
}

/**
 * The distinct characters of `value` that `allowed` (a one-character pattern) refuses, each shown
 * with its code point when it is not plain ASCII: `'@', 'K' (U+212A), '\u200b' (U+200B)`.
 */
export function describeCharacters(value: string, allowed: RegExp): string {
  const bad = [...new Set([...value].filter(c => !allowed.test(c)))]
  return bad
    .map(c => {
      const cp = c.codePointAt(0) ?? 0
      const name = cp < 0x80 ? '' : ` (U+${cp.toString(16).toUpperCase().padStart(4, '0')})`
      return `${quote(c)}${name}`
    })
    .join(', ')
}

/**
 * Credentials a server may echo back (a registry or token server that repeats the request's
 * headers in its error), removed: the value of an Authorization header, and any Bearer or Basic
 * credentials. `known` values (the client's own secrets) go too, wherever they are.
 */
export function redactCredentials(text: string, known: readonly string[] = []): string {
  let out = text
  for (const secret of [...known].filter(Boolean).sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join('***')
  }
  return out
    .replace(
      /\b((?:proxy-)?authorization)(["']?\s*[:=]\s*["']?)(?:(?:Bearer|Basic|Token|Digest)\s+)?[^\s"',;}\]]+/gi,
      '$1$2***'
    )
    .replace(/\b(Bearer|Basic)(\s+|%20|\+)[A-Za-z0-9._~+/=-]{4,}/gi, '$1 ***')
}
