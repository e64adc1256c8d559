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
import { createHash } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  writeFileSync
} from 'node:fs'
import * as path from 'node:path'
import { errorMessage } from '../util/errors.js'
import { Docker } from './cli.js'

/** What the post step needs to undo the login (no credential in it). */
export interface KeptLogin {
  /** The runner's Docker config folder. */
  dir: string
  registry: string
  /** Whether config.json existed, and whether the folder did. */
  existed: boolean
  dirExisted: boolean
  /** A copy of config.json as it was (in the action's config folder); '' when there was none. */
  backup: string
  /** sha256 of config.json right after our login; '' until the login succeeded. */
  after: string
}

type Config = Record<string, unknown> & {
  auths?: Record<string, unknown>
  credsStore?: string
  credHelpers?: Record<string, string>
}

function hash(bytes: Buffer | undefined): string {
  return bytes ? createHash('sha256').update(bytes).digest('hex') : 'none'
}

function readConfig(bytes: Buffer | undefined): Config | undefined {
  if (!bytes) return {}
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'))
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Config)
      : undefined
  } catch {
    return undefined
  }
}

function readIfExists(file: string): Buffer | undefined {
  return existsSync(file) ? readFileSync(file) : undefined
}

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

/** The post step's half: undoes keepLogin (see the module's comment). */
export async function undoKeptLogin(
  kept: KeptLogin,
  docker: Docker = new Docker(kept.dir)
): Promise<void> {
  const file = path.join(kept.dir, 'config.json')
  const before = kept.backup && existsSync(kept.backup) ? readFileSync(kept.backup) : undefined
  if (kept.existed && !before) {
    core.warning(`keep-login: the copy of ${file} is gone; logging out of ${kept.registry} only.`)
  }
  const now = readIfExists(file)
  if (!kept.after && hash(now) === hash(before)) {
    core.info(`keep-login: ${file} was not changed (the login did not happen).`)
    return
  }
  const untouched = kept.after !== '' && hash(now) === kept.after
  try {
    await docker.logout(kept.registry)
  } catch (error) {
    core.warning(`keep-login: docker logout ${kept.registry} failed (${errorMessage(error)}).`)
  }
  if (untouched) {
    if (before) {
      writeFileSync(file, before)
      core.info(`keep-login: ${file} is back as it was before the step.`)
    } else {
      rmSync(file, { force: true })
      if (!kept.dirExisted && existsSync(kept.dir) && readdirSync(kept.dir).length === 0) {
        rmdirSync(kept.dir)
      }
      core.info(`keep-login: removed ${file}, which the step had created.`)
    }
    return
  }
  // Another step changed the file since: the logout took our entry out; put back what was there.
  const previous = readConfig(before)?.auths?.[kept.registry]
  const current = readConfig(readIfExists(file))
  if (previous !== undefined && current) {
    current.auths = { ...(current.auths ?? {}), [kept.registry]: previous }
    writeFileSync(file, JSON.stringify(current, null, '\t') + '\n', { mode: 0o600 })
  }
  core.info(
    `keep-login: ${file} was changed by a later step, so only the login to ${kept.registry} was ` +
      `undone${previous !== undefined ? ' (the entry that was there before is back)' : ''}; the rest is as that step left it.`
  )
}
