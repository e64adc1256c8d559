/**
 * Which tag of a repository names the version before the one being pushed (pure): what the push
 * learns known layers from (publish/known-layers.ts) and what a build takes as its cache source
 * (produce/cache-source.ts).
 */
import semverParse from 'semver/functions/parse.js'
import type { SemVer } from 'semver'

/**
 * The tags of the repository most likely to name the previous version of an image being pushed
 * under `pushing`: latest, then the highest semver versions (v-prefix allowed), else the last
 * listed; at most `most`.
 */
export function previousTags(tags: string[], pushing: string[], most = 2): string[] {
  const others = tags.filter(t => !pushing.includes(t))
  const versions = others
    .map(t => ({ t, v: semverParse(t.replace(/^v(?=\d)/, ''), { loose: false }) }))
    .filter((e): e is { t: string; v: SemVer } => e.v !== null)
    .sort((a, b) => b.v.compare(a.v))
    .map(e => e.t)
  const ordered = [...others.filter(t => t === 'latest'), ...versions, ...others.slice().reverse()]
  return [...new Set(ordered)].slice(0, most)
}
