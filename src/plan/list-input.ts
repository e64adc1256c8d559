/**
 * How every list input is split, in one place: entries trimmed, empty ones dropped.
 *
 *   newline              labels, build-args, secrets, ssh, cache-from/-to, build-contexts,
 *                        annotations (an entry may hold a comma)
 *   comma-newline        tags, platforms
 *   comma-blank-newline  merge-digests (digests hold no blank: a list pasted from a log works too)
 */
export type ListSeparators = 'newline' | 'comma-newline' | 'comma-blank-newline'

const SEPARATORS: Record<ListSeparators, RegExp> = {
  newline: /\r?\n/,
  'comma-newline': /[\r\n,]+/,
  'comma-blank-newline': /[\s,]+/
}

/** Splits a list input on its separators; trims entries and drops empty ones. */
export function parseList(value: string, separators: ListSeparators): string[] {
  return value
    .split(SEPARATORS[separators])
    .map(s => s.trim())
    .filter(s => s !== '')
}
