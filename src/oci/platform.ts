/**
 * Platforms as the OCI image index spells them (`os/architecture[/variant]`), and how two are told
 * apart. Pure functions.
 */
export interface Platform {
  os: string
  architecture: string
  variant?: string
}

/** `linux/arm64` → { os, architecture }; `linux/arm/v7` → with variant. */
export function parsePlatform(text: string): Platform {
  const [os = '', architecture = '', variant] = text.split('/')
  return variant ? { os, architecture, variant } : { os, architecture }
}

/** os/architecture[/variant], `unknown` for what is missing (as docker shows an attestation). */
export function platformString(p: Partial<Platform> | undefined): string {
  return [p?.os || 'unknown', p?.architecture || 'unknown', p?.variant].filter(Boolean).join('/')
}

/**
 * The platform as containerd matches it: arm64 without a variant is arm64/v8, arm without one is
 * arm/v7 (containerd's platforms.Normalize). So linux/arm64 and linux/arm64/v8 are one platform.
 */
export function platformKey(p: Platform): string {
  const defaults: Record<string, string> = { arm64: 'v8', arm: 'v7' }
  const variant = p.variant || defaults[p.architecture] || ''
  return [p.os, p.architecture, variant].filter(Boolean).join('/')
}

/**
 * Whether two platforms are one as containerd matches them (platformKey): linux/arm is
 * linux/arm/v7, not linux/arm/v6. Fields beyond os, architecture and variant are not compared.
 */
export function samePlatform(a: Platform | undefined, b: Platform | undefined): boolean {
  return a !== undefined && b !== undefined && platformKey(a) === platformKey(b)
}

/** The platform fields of an index entry (OCI image index), as a config or an index names them. */
export interface PlatformFields {
  os?: unknown
  architecture?: unknown
  variant?: unknown
  'os.version'?: unknown
  'os.features'?: unknown
}

/**
 * Each field's grammar, as containerd parses platforms (docs/facts/registry-protocol.md): os,
 * architecture and variant are [A-Za-z0-9_.-]+; os.version and each of os.features
 * [A-Za-z0-9_.%-]+. Nothing else may go into an index this action writes.
 */
const SPECIFIER = /^[A-Za-z0-9_.-]{1,128}$/
const OS_PART = /^[A-Za-z0-9_.%-]{1,128}$/

/**
 * The first field of `p` outside the platform grammar (with its value), or undefined when every
 * field present is well formed; os and architecture must be present.
 */
export function badPlatformField(p: PlatformFields): { field: string; value: unknown } | undefined {
  for (const field of ['os', 'architecture'] as const) {
    if (typeof p[field] !== 'string' || !SPECIFIER.test(p[field])) return { field, value: p[field] }
  }
  if (p.variant !== undefined && (typeof p.variant !== 'string' || !SPECIFIER.test(p.variant))) {
    return { field: 'variant', value: p.variant }
  }
  const version = p['os.version']
  if (version !== undefined && (typeof version !== 'string' || !OS_PART.test(version))) {
    return { field: 'os.version', value: version }
  }
  const features = p['os.features']
  if (
    features !== undefined &&
    (!Array.isArray(features) || features.some(f => typeof f !== 'string' || !OS_PART.test(f)))
  ) {
    return { field: 'os.features', value: features }
  }
  return undefined
}
