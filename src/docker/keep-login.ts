/**
 * keep-login: the registry login also written where the job's later steps look (the runner's
 * Docker config: $DOCKER_CONFIG or ~/.docker), and undone by the post step.
 *
 * The login is a second `docker login` with DOCKER_CONFIG set to the runner's folder (the token on
 * stdin), so the runner's `credsStore` / `credHelpers` are honoured exactly as a `docker login` of
 * the workflow would. Before it, the config file's bytes are copied into the action's own config
 * folder (0600, deleted by the post step), and the step state records where they are and the hash
 * of the file after the login. The post step runs `docker logout REGISTRY` against the runner's
 * config (which also erases a credential store's entry), then:
 *   - the file is as our login left it: its bytes before the login are written back (or, if there
 *     was no file, it is removed), so the file is restored byte for byte;
 *   - another step changed it since: only our entry is taken out (the logout), and an `auths`
 *     entry for the registry that was there before is put back.
 * A login for the registry that the runner's config already holds in a credential store is left
 * alone (it could not be put back): keep-login then does nothing, with a notice.
 */
import * as core from '@actions/core'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import type { KeptLogin } from '../state.js'
import { Docker } from './cli.js'
import { hash, readConfig, readIfExists } from './kept-login.js'

/**
 * Logs the runner's Docker config in to `registry`. `save` records the state for the post step
 * (called before the login, and again after it). Returns false when the login was left alone.
 */
export async function keepLogin(
  runnerDir: string,
  login: { registry: string; username: string; token: string },
  actionConfigDir: string,
  save: (kept: KeptLogin) => void,
  docker: Docker = new Docker(runnerDir)
): Promise<boolean> {
  const file = path.join(runnerDir, 'config.json')
  const before = readIfExists(file)
  const config = readConfig(before)
  if (!config) {
    core.warning(
      `keep-login: ${file} is not a JSON object, so it is left as it is: the job's later steps are not logged in to ${login.registry}.`
    )
    return false
  }
  const store = config.credHelpers?.[login.registry] ?? config.credsStore
  if (store && config.auths && login.registry in config.auths) {
    core.notice(
      `keep-login: the runner's Docker config already has a login for ${login.registry} in the ` +
        `credential store "${store}", which the post step could not put back: it is left as it is.`
    )
    return false
  }
  const kept: KeptLogin = {
    dir: runnerDir,
    registry: login.registry,
    existed: before !== undefined,
    dirExisted: existsSync(runnerDir),
    backup: '',
    after: ''
  }
  if (before) {
    kept.backup = path.join(actionConfigDir, 'runner-config.json.before')
    writeFileSync(kept.backup, before, { mode: 0o600 })
  }
  save(kept)
  if (!kept.dirExisted) mkdirSync(runnerDir, { recursive: true, mode: 0o700 })
  await core.group(`Log in the job's later steps to ${login.registry} (keep-login)`, async () => {
    await docker.login(login.registry, login.username, login.token)
    core.info(`Logged in with the Docker config in ${runnerDir}; the post step logs out.`)
  })
  kept.after = hash(readIfExists(file))
  save(kept)
  return true
}
