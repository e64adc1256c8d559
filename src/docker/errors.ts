/** How a failed docker command is reported, and whether it is worth another try. */
import type { Verdict } from '../util/retry.js'
import { outside, redactCredentials } from '../util/text.js'

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

/** Docker's last meaningful error line: the last non-empty line of stderr, else of stdout. */
export function lastErrorLine(stderr: string, stdout: string): string {
  for (const text of [stderr, stdout]) {
    const lines = text
      .split(/\r?\n/)
      .map(l => l.trim())
      .filter(l => l !== '')
    // A registry's error, repeated by docker, may echo the request's credentials.
    if (lines.length) return outside(redactCredentials(lines[lines.length - 1]), 1000)
  }
  return ''
}

/**
 * Transient or not, from docker's own error text (login and push run in the docker daemon, so only
 * its words are there to go by). Permanent words win: "denied", "unauthorized", 401/403/404.
 */
export function classifyDockerText(text: string): Verdict {
  const permanent =
    /\b(unauthorized|unauthenticated|denied|forbidden|not found|name unknown|manifest unknown|manifest invalid|blob unknown|invalid reference)\b|\b(400|401|403|404)\b/i
  if (permanent.test(text)) return { transient: false, reason: 'permanent' }
  const transient: [RegExp, string][] = [
    [/toomanyrequests|too many requests|\b429\b/i, 'toomanyrequests'],
    [
      /\b(50[0-4])\b|service unavailable|bad gateway|gateway time-?out|internal server error/i,
      '5xx'
    ],
    [/connection reset|ECONNRESET/i, 'connection reset'],
    [/connection refused|ECONNREFUSED/i, 'connection refused'],
    [
      /i\/o timeout|TLS handshake timeout|timeout awaiting|Client\.Timeout|deadline exceeded|ETIMEDOUT/i,
      'timeout'
    ],
    [/\bEOF\b|broken pipe|server closed|connection closed/i, 'connection dropped']
  ]
  for (const [re, reason] of transient) if (re.test(text)) return { transient: true, reason }
  return { transient: false, reason: 'permanent' }
}
