/**
 * `docker logout REGISTRY` with a given Docker config folder: the one docker command the post step
 * runs (src/post.ts), in a module of its own so the post bundle holds nothing that logs in, builds
 * or pushes.
 */
import { dockerEnvironment } from './env.js'
import { DockerCommandError, lastErrorLine } from './errors.js'
import { execCommand, type ExecFn } from './exec.js'

export function dockerLogout(
  configDir: string,
  execFn: ExecFn = execCommand,
  baseEnv: Record<string, string | undefined> = process.env
): (registry: string) => Promise<void> {
  return async registry => {
    const result = await execFn('docker', ['logout', registry], {
      env: dockerEnvironment(configDir, baseEnv)
    })
    if (result.exitCode !== 0) {
      throw new DockerCommandError(
        'logout',
        result.exitCode,
        lastErrorLine(result.stderr, result.stdout)
      )
    }
  }
}
