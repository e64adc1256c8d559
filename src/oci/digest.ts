import { createHash } from 'node:crypto'

/** `sha256:<hex>` of some bytes: the digest a registry stores them under. */
export function sha256(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex')
}
