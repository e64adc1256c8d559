/** A layer's temporary file being written, hashed on the way. */
import { createHash } from 'node:crypto'
import { createWriteStream, type WriteStream } from 'node:fs'
import * as path from 'node:path'
import { UserError } from '../util/errors.js'

/** A file being written, with ENOSPC turned into a message that names the folder. */
export class LayerFile {
  private readonly out: WriteStream
  private failure: Error | undefined
  private readonly hash = createHash('sha256')
  private size = 0
  constructor(
    readonly file: string,
    /** The bytes the save still needs on disk, for the message when the disk is full. */
    private readonly need: () => number
  ) {
    this.out = createWriteStream(file)
    this.out.on('error', error => (this.failure = this.explain(error)))
  }
  private explain(error: NodeJS.ErrnoException): Error {
    if (error.code !== 'ENOSPC') return error
    return new UserError(
      `no space left in ${path.dirname(path.dirname(this.file))} (RUNNER_TEMP) for the compressed ` +
        `layers: about ${Math.ceil(this.need() / 1024 / 1024)} MB free is needed there. Free some ` +
        'space on the runner (e.g. docker system prune) or point RUNNER_TEMP at a larger disk.'
    )
  }
  async write(chunk: Buffer): Promise<void> {
    if (this.failure) throw this.failure
    this.hash.update(chunk)
    this.size += chunk.length
    if (!this.out.write(chunk)) {
      await new Promise<void>(resolve => {
        const done = (): void => {
          this.out.off('drain', done)
          this.out.off('error', done)
          resolve()
        }
        this.out.on('drain', done)
        this.out.on('error', done)
      })
    }
    if (this.failure) throw this.failure
  }
  /** Closes the file: the sha256 and size of what was written. */
  async close(): Promise<{ digest: string; size: number }> {
    await new Promise<void>((resolve, reject) => {
      this.out.end((error?: Error | null) => (error ? reject(this.explain(error)) : resolve()))
    })
    if (this.failure) throw this.failure
    return { digest: 'sha256:' + this.hash.digest('hex'), size: this.size }
  }
}
