/**
 * A problem the workflow author can fix (bad input, missing token, wrong permissions).
 * Reported as one clear line, never with a stack trace.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UserError'
  }
}

/** A docker CLI command that exited non-zero; `detail` is docker's own last error line. */
export class DockerCommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number,
    readonly detail: string
  ) {
    super(`docker ${command} failed (exit code ${exitCode}): ${detail || 'no error output'}`)
    this.name = 'DockerCommandError'
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
