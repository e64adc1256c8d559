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
