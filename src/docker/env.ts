/**
 * The environment of every docker child: the step's, without its inputs (INPUT_*, the token among
 * them: the token goes to `docker login` on stdin, build secrets by the variables their builds are
 * given), with DOCKER_CONFIG set to the config folder docker is to use.
 */
export function dockerEnvironment(
  configDir: string,
  baseEnv: Record<string, string | undefined>
): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(baseEnv)) {
    if (v !== undefined && !/^INPUT_/i.test(k)) env[k] = v
  }
  env.DOCKER_CONFIG = configDir
  return env
}
