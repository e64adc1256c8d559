/**
 * Runs a command the way @actions/exec does for the log (`[command]…`, output streamed unless
 * silent), with one difference that matters for docker: standard input is closed. @actions/exec
 * leaves a child's stdin open when it is given no input (a command that reads it waits forever)
 * and, given input, crashes the step with an unhandled EPIPE when the child exits without
 * reading it; here a child gets /dev/null, or `input` written with its errors handled.
 */
import { spawn } from 'node:child_process'

export interface ExecOptions {
  env?: Record<string, string>
  input?: Buffer
  silent?: boolean
  /** Stop the command (SIGKILL) when it has not exited after this long: `timedOut` says so. */
  timeoutMs?: number
  /** Stop the command (SIGTERM: docker cancels its request to the engine) when this aborts. */
  signal?: AbortSignal
}

export interface ExecResult {
  exitCode: number
  stdout: string
  stderr: string
  /** Set when the command was stopped for outlasting `timeoutMs`. */
  timedOut?: true
}

export type ExecFn = (command: string, args: string[], options: ExecOptions) => Promise<ExecResult>

export const execCommand: ExecFn = (command, args, options) =>
  new Promise((resolve, reject) => {
    if (!options.silent) process.stdout.write(`[command]${[command, ...args].join(' ')}\n`)
    const child = spawn(command, args, {
      env: options.env,
      stdio: [options.input ? 'pipe' : 'ignore', 'pipe', 'pipe']
    })
    const out: Buffer[] = []
    const err: Buffer[] = []
    let timedOut = false
    let settled = false
    const stop = (): void => {
      child.kill('SIGTERM')
    }
    const finish = (code: number | null): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', stop)
      resolve({
        exitCode: code ?? 1,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ...(timedOut ? { timedOut: true as const } : {})
      })
    }
    // Stopped: done when it has exited, not when its output closes (a child of it may hold that).
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true
            child.once('exit', code => {
              child.stdout!.destroy()
              child.stderr!.destroy()
              finish(code)
            })
            child.kill('SIGKILL')
          }, options.timeoutMs)
    if (options.signal?.aborted) stop()
    else options.signal?.addEventListener('abort', stop, { once: true })
    child.stdout!.on('data', (chunk: Buffer) => {
      out.push(chunk)
      if (!options.silent) process.stdout.write(chunk)
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      err.push(chunk)
      // Into the step's log with the rest, in order (as @actions/exec does).
      if (!options.silent) process.stdout.write(chunk)
    })
    if (options.input && child.stdin) {
      // A child that exits without reading its input is not an error of ours: its exit code says.
      child.stdin.on('error', () => undefined)
      child.stdin.end(options.input)
    }
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', stop)
      reject(
        error.code === 'ENOENT'
          ? new Error(`${command} is not installed on this runner (not found on PATH: ENOENT)`)
          : error
      )
    })
    child.on('close', finish)
  })
