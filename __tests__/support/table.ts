/** Table-driven tests of a function of one value. */
import { expect, it } from '@jest/globals'

/** One test per `[input, expected]` row, titled by `title` (it.each's format): `fn(input)` is `expected`. */
export function itMaps<I, O>(title: string, fn: (input: I) => O, rows: [I, O][]): void {
  it.each(rows)(title, (input, expected) => {
    expect(fn(input)).toBe(expected)
  })
}
