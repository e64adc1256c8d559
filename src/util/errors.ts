/**
 * Errors every stage shares. A UserError is a problem the workflow author can fix (bad input,
 * missing token, wrong permissions): reported as one clear line, never with a stack trace.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UserError'
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * What a failed network call (Node's fetch, undici) says went wrong, as a short code: the
 * cause's code (ECONNREFUSED, ENOTFOUND, UND_ERR_SOCKET, …), TimeoutError, else the error's name.
 * Never the request itself, so nothing of its headers can leak into a message.
 */
export function networkCause(error: unknown): string {
  const e = error as { name?: string; cause?: { code?: string } } | undefined
  return e?.cause?.code ?? (e?.name === 'TimeoutError' ? 'TimeoutError' : (e?.name ?? 'error'))
}
