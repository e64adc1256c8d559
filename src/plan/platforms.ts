/**
 * The `platforms` input (`os/architecture[/variant]`, as docker and the OCI image index spell
 * them), checked before anything runs. Pure functions.
 */
import { parsePlatform, platformKey } from '../oci/platform.js'
import { UserError } from '../util/errors.js'
import { parseList } from './list-input.js'
import { quote } from '../util/text.js'

/** What people write instead of the name docker uses (uname -m, Go's GOARCH elsewhere, …). */
const ARCHITECTURE_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  x64: 'amd64',
  aarch64: 'arm64',
  armhf: 'arm/v7',
  armv7: 'arm/v7',
  armv7l: 'arm/v7',
  armv6: 'arm/v6',
  i686: '386',
  i386: '386'
}

const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9.]+)?$/

/**
 * The `platforms` input: `os/arch[/variant]` separated by commas or newlines, e.g.
 * `linux/amd64,linux/arm64`. Checked and de-duplicated (in the given order); a mistake is a
 * UserError that shows the spelling docker expects.
 */
export function parsePlatforms(value: string): string[] {
  const entries = parseList(value, 'comma-newline')
  const seen = new Map<string, string>()
  for (const entry of entries) {
    const arch = entry.split('/')[1] ?? entry
    if (!PLATFORM.test(entry) || arch in ARCHITECTURE_ALIASES) {
      throw new UserError(
        `platforms entry ${quote(entry)} is not a platform: ${platformHint(entry)}` +
          'Write os/architecture[/variant], e.g. linux/amd64, linux/arm64 or linux/arm/v7.'
      )
    }
    const key = platformKey(parsePlatform(entry))
    const earlier = seen.get(key)
    if (earlier !== undefined) {
      throw new UserError(
        `platforms lists the same platform twice (${quote(earlier)} and ${quote(entry)}): give each platform once.`
      )
    }
    seen.set(key, entry)
  }
  return [...seen.values()]
}

function platformHint(entry: string): string {
  const lower = entry.toLowerCase()
  const parts = lower.split('/')
  const arch = parts.length === 1 ? parts[0] : parts[1]
  const alias = ARCHITECTURE_ALIASES[arch]
  const os = parts.length === 1 ? 'linux' : parts[0]
  if (alias) return `docker calls ${arch} ${quote(alias)}, so use ${quote(`${os}/${alias}`)}. `
  if (parts.length === 1 && /^[a-z0-9_]+$/.test(lower))
    return `name the OS too: ${quote(`${os}/${lower}`)}. `
  if (lower !== entry && PLATFORM.test(lower)) return `platforms are lowercase: ${quote(lower)}. `
  return ''
}
