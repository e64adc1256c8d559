/** A layer of an image as the action pushes it: one blob, named by its digest. */

/**
 * A layer blob: what a manifest lists of it (digest, size, media type), the uncompressed tar's
 * sha256 when known (the config's diff_id), and, while it waits for its upload, the temporary
 * file that holds its bytes (none for a blob the repository holds already).
 */
export interface LayerBlob {
  digest: string
  size: number
  mediaType: string
  diffId?: string
  file?: string
}

/** A layer blob whose bytes are in a file: compressed or copied from the save, to upload. */
export type LayerInFile = LayerBlob & { file: string }
