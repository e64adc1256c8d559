/** How text from outside is shown in a message: one line, nothing hidden, no credentials. */
import { describe, expect, it } from '@jest/globals'
import {
  describeCharacters,
  hasHiddenCharacters,
  oneLine,
  outside,
  quote,
  redactCredentials
} from '../../../src/util/text.js'
import { itMaps } from '../../support/table.js'

describe('quote: an input as a message shows it', () => {
  itMaps('%j → %s', quote, [
    ['my-app', "'my-app'"],
    ['a\nb', "'a\\nb'"],
    ['a\r\nb\tc', "'a\\r\\nb\\tc'"],
    ['zero\u200bwidth', "'zero\\u200bwidth'"],
    ['rtl\u202eevil', "'rtl\\u202eevil'"],
    ['no\u00a0break', "'no\\u00a0break'"],
    ['e\u0301', "'e\\u0301'"],
    ['bom\ufeff', "'bom\\ufeff'"],
    ['tag\u{e0041}', "'tag\\u{e0041}'"],
    ['lone\ud800', "'lone\\ud800'"],
    ['nul\u0000', "'nul\\u0000'"],
    ["it's", "'it\\'s'"],
    ['a\\b', "'a\\\\b'"],
    ['Ünïcode 😀', "'Ünïcode 😀'"],
    ['\u212aelvin', "'\u212aelvin'"]
  ])
  it('always stays on one line, whatever the input', () => {
    const all = Array.from({ length: 0x3000 }, (_, i) => String.fromCharCode(i)).join('')
    expect(quote(all)).not.toMatch(/[\n\r\u2028\u2029\u0085]/)
  })
  it('cuts long values, counting characters (not UTF-16 units)', () => {
    expect(quote('a'.repeat(70), 60)).toBe(`'${'a'.repeat(60)}…'`)
    expect(quote('😀'.repeat(3), 2)).toBe("'😀😀…'")
    expect(quote('abc', 3)).toBe("'abc'")
  })
})

describe('oneLine: a server’s or docker’s words', () => {
  it('puts line breaks as blanks and shows invisible characters', () => {
    expect(oneLine('denied:\r\nno\u200b')).toBe('denied:  no\\u200b')
    expect(oneLine('x'.repeat(10), 4)).toBe('xxxx…')
  })
})

describe('describeCharacters', () => {
  it('lists the refused characters once each, with the code point when not ASCII', () => {
    expect(describeCharacters('o#c@#', /[a-z]/)).toBe("'#', '@'")
    expect(describeCharacters('\u212aelvin', /[A-Za-z]/)).toBe("'\u212a' (U+212A)")
    expect(describeCharacters('a\u200bb', /[a-z]/)).toBe("'\\u200b' (U+200B)")
  })
  it('hasHiddenCharacters', () => {
    expect(hasHiddenCharacters('plain text')).toBe(false)
    expect(hasHiddenCharacters('a\u200bb')).toBe(true)
    expect(hasHiddenCharacters('a\nb')).toBe(true)
  })
})

describe('redactCredentials: what a server echoes back', () => {
  const basic = Buffer.from('octocat:ghp_secret123').toString('base64')
  itMaps('%s', redactCredentials, [
    [`Authorization: Basic ${basic}`, 'Authorization: ***'],
    ['authorization=Bearer eyJhbGciOi.payload.sig', 'authorization=***'],
    ['{"Authorization":"Bearer abc.def-ghi"}', '{"Authorization":"***"}'],
    [`echo: header Bearer eyJ0eXAi.x.y was refused`, 'echo: header Bearer *** was refused'],
    [`got basic ${basic}`, 'got basic ***'],
    ['Proxy-Authorization: Basic Zm9vOmJhcg==', 'Proxy-Authorization: ***']
  ])
  it('removes the known secrets wherever they are', () => {
    expect(redactCredentials('token=s3cret;x=s3cret2', ['s3cret', 's3cret2'])).toBe(
      'token=***;x=***'
    )
  })
  it('leaves ordinary words alone', () => {
    expect(redactCredentials('unauthorized: authentication required')).toBe(
      'unauthorized: authentication required'
    )
    expect(redactCredentials('denied: requested access to the resource is denied')).toBe(
      'denied: requested access to the resource is denied'
    )
  })
})

describe('outside: a string from a registry, the engine or an image config, fit for the log', () => {
  itMaps('%j → %s', outside, [
    ['v1\n::error::forged', 'v1 :\\:error:\\:forged'],
    ['::add-mask::secret', ':\\:add-mask:\\:secret'],
    [':::', ':\\:\\:'],
    ['x ##[error]forged', 'x #\\#[error]forged'],
    ['###[', '##\\#['],
    ['red\u001b[31m', 'red\\u001b[31m'],
    ['cr\r::warning::x', 'cr :\\:warning:\\:x'],
    ['linux/arm64/v8', 'linux/arm64/v8'],
    ['127.0.0.1:5000', '127.0.0.1:5000']
  ])

  it('leaves no line that the runner would read as a command', () => {
    const hostile = '\n::error::a\r\n  ::add-mask::b ##[warning]c \u2028::notice::d'
    const shown = outside(hostile)
    expect(shown.split(/\r?\n/)).toHaveLength(1)
    expect(shown).not.toMatch(/::|##\[/)
  })
})
