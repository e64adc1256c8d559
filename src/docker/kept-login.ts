/**
 * The post step's half of keep-login (docker/keep-login.ts says how the login is kept and undone):
 * the runner's Docker config put back as it was, with `docker logout` as the only docker command.
 */
import * as core from '@actions/core'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import type { KeptLogin } from '../state.js'
import { errorMessage } from '../util/errors.js'
import { dockerLogout } from './logout.js'

type Config = Record<string, unknown> & {
  auths?: Record<string, unknown>
  credsStore?: string
  credHelpers?: Record<string, string>
}

export function hash(bytes: Buffer | undefined): string {
  return bytes ? createHash('sha256').update(bytes).digest('hex') : 'none'
}

export function readConfig(bytes: Buffer | undefined): Config | undefined {
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

export function readIfExists(file: string): Buffer | undefined {
  return existsSync(file) ? readFileSync(file) : undefined
}

/** The post step's half: undoes keepLogin (see the module's comment). */
export async function undoKeptLogin(
  kept: KeptLogin,
  docker: { logout(registry: string): Promise<void> } = { logout: dockerLogout(kept.dir) }
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
