import { describe, expect, it } from '@jest/globals'
import { UserError } from '../../../src/util/errors.js'
import { parsePlatform, platformKey } from '../../../src/oci/platform.js'
import { parsePlatforms } from '../../../src/plan/platforms.js'

describe('the platforms input', () => {
  it('takes os/arch[/variant] separated by commas or newlines, in order', () => {
    expect(parsePlatforms('linux/amd64, linux/arm64\nlinux/arm/v7\r\n\n')).toEqual([
      'linux/amd64',
      'linux/arm64',
      'linux/arm/v7'
    ])
    expect(parsePlatforms('')).toEqual([])
    expect(parsePlatforms('windows/amd64,linux/riscv64,linux/ppc64le')).toHaveLength(3)
  })

  it.each([
    ['linux/x86_64', /docker calls x86_64 'amd64', so use 'linux\/amd64'/],
    ['linux/aarch64', /docker calls aarch64 'arm64', so use 'linux\/arm64'/],
    ['amd64', /name the OS too: 'linux\/amd64'/],
    ['x86_64', /use 'linux\/amd64'/],
    ['Linux/AMD64', /platforms are lowercase: 'linux\/amd64'/],
    ['linux/arm/v7/extra', /is not a platform: Write os\/architecture\[\/variant\]/],
    ['linux amd64', /is not a platform/],
    ['linux/', /is not a platform/],
    ['--platform=linux/amd64', /is not a platform/]
  ])('refuses %s, saying what to write', (value, message) => {
    expect(() => parsePlatforms(value)).toThrow(UserError)
    expect(() => parsePlatforms(value)).toThrow(message)
  })

  it('refuses the same platform twice, also as arm64 and arm64/v8', () => {
    expect(() => parsePlatforms('linux/amd64,linux/amd64')).toThrow(
      "platforms lists the same platform twice ('linux/amd64' and 'linux/amd64')"
    )
    expect(() => parsePlatforms('linux/arm64\nlinux/arm64/v8')).toThrow(/same platform twice/)
    expect(() => parsePlatforms('linux/arm,linux/arm/v7')).toThrow(/same platform twice/)
    expect(parsePlatforms('linux/arm/v6,linux/arm/v7')).toHaveLength(2)
  })
})

describe('platform keys (containerd normalisation)', () => {
  it.each([
    ['linux/arm64', 'linux/arm64/v8'],
    ['linux/arm64/v8', 'linux/arm64/v8'],
    ['linux/arm', 'linux/arm/v7'],
    ['linux/arm/v6', 'linux/arm/v6'],
    ['linux/amd64', 'linux/amd64'],
    ['linux/amd64/v3', 'linux/amd64/v3']
  ])('%s → %s', (text, key) => expect(platformKey(parsePlatform(text))).toBe(key))
})
