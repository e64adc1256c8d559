/** Platform fields as they may go into an index: containerd's grammar, nothing else. */
import { describe, expect, it } from '@jest/globals'
import { badPlatformField, parsePlatform, samePlatform } from '../../../src/oci/platform.js'

describe('badPlatformField', () => {
  it.each([
    [{ os: 'linux', architecture: 'amd64' }],
    [{ os: 'linux', architecture: 'arm', variant: 'v7' }],
    [{ os: 'windows', architecture: 'amd64', 'os.version': '10.0.20348.2113' }],
    [{ os: 'windows', architecture: 'amd64', 'os.features': ['win32k'] }],
    [{ os: 'unknown', architecture: 'unknown' }]
  ])('accepts %j', p => {
    expect(badPlatformField(p)).toBeUndefined()
  })

  it.each([
    [{ os: 'linux\n::error::x', architecture: 'amd64' }, 'os'],
    [{ os: 'linux', architecture: 'amd64\u001b[31m' }, 'architecture'],
    [{ os: 'linux', architecture: '' }, 'architecture'],
    [{ os: 'linux' }, 'architecture'],
    [{ os: 'linux', architecture: 'arm', variant: 'v7 ' }, 'variant'],
    [{ os: 'linux', architecture: 'arm', variant: 7 }, 'variant'],
    [{ os: 'linux', architecture: 'amd64', 'os.version': '1::add-mask::x' }, 'os.version'],
    [{ os: 'linux', architecture: 'amd64', 'os.features': ['a', 'b\nc'] }, 'os.features'],
    [{ os: 'linux', architecture: 'amd64', 'os.features': 'sse4' }, 'os.features'],
    [{ os: 'l'.repeat(129), architecture: 'amd64' }, 'os']
  ])('refuses %j (field %s)', (p, field) => {
    expect(badPlatformField(p)?.field).toBe(field)
  })
})

describe('samePlatform', () => {
  it.each([
    ['linux/arm', 'linux/arm/v7', true],
    ['linux/arm', 'linux/arm/v6', false],
    ['linux/arm64', 'linux/arm64/v8', true],
    ['linux/amd64', 'linux/amd64', true],
    ['linux/amd64', 'windows/amd64', false]
  ])('%s and %s: %s', (a, b, same) => {
    expect(samePlatform(parsePlatform(a), parsePlatform(b))).toBe(same)
    expect(samePlatform(parsePlatform(b), parsePlatform(a))).toBe(same)
  })
  it('no platform is never the same', () => {
    expect(samePlatform(undefined, parsePlatform('linux/amd64'))).toBe(false)
  })
})
