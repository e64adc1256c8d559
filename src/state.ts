/**
 * What the main step hands to the post step (GITHUB_STATE → STATE_*), in one typed place: the
 * main step saves each value through `saveState`, the post step reads them through `readState`,
 * which validates every one (a value that is not of the action's making is dropped with a warning,
 * never acted on). The post step trusts the state no further than that: it only ever removes
 * folders of the action's own making under RUNNER_TEMP and logs out (src/post.ts).
 */
import * as core from '@actions/core'
import * as os from 'node:os'
import * as path from 'node:path'
import { WORK_FOLDER_PREFIX } from './util/work-folder.js'

/** keep-login: what the post step needs to undo the login in the runner's Docker config. */
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

export interface StepState {
  /** The action's own Docker config directory (docker/config.ts), under RUNNER_TEMP. */
  configDir: string
  /** The registry the action logged in to with it. */
  registry: string
  loggedIn: boolean
  /** The push's work folder (compressed layers) under RUNNER_TEMP. */
  workDir: string
  /** keep-login: what to undo in the runner's Docker config. */
  keptLogin: KeptLogin
}

/** Folder name prefixes of the action's own folders under RUNNER_TEMP. */
export const CONFIG_FOLDER_PREFIX = 'publish-container-'

export function saveState<K extends keyof StepState>(key: K, value: StepState[K]): void {
  core.saveState(key, typeof value === 'string' ? value : JSON.stringify(value))
}

/** What the post step may act on; a value that fails its check is absent (and warned about). */
export interface PostState {
  configDir?: string
  registry?: string
  loggedIn: boolean
  workDir?: string
  keptLogin?: KeptLogin
  /** keep-login's state was there but not readable: its registry, when that much could be read. */
  keptLoginCorrupt?: { registry?: string }
}

/** The runner's Docker config folder, as the docker CLI finds it (github/context.ts: the same). */
export function runnerDockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || path.join(env.HOME || os.homedir(), '.docker')
}

/** A folder named `prefix…` right under `temp` (RUNNER_TEMP): one the action made. */
export function isOurFolder(dir: string, prefix: string, temp: string | undefined): boolean {
  if (!dir || !temp || !path.isAbsolute(dir)) return false
  const resolved = path.resolve(dir)
  return path.dirname(resolved) === path.resolve(temp) && path.basename(resolved).startsWith(prefix)
}

const REGISTRY = /^[a-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9a-f:.]+\](:[0-9]{1,5})?$/i

export function readState(
  get: (key: keyof StepState) => string = key => core.getState(key),
  temp: string | undefined = process.env.RUNNER_TEMP,
  runnerDockerConfig: string = runnerDockerConfigDir()
): PostState {
  const state: PostState = { loggedIn: get('loggedIn') === 'true' }
  const drop = (key: string, why: string): void =>
    core.warning(`The main step's state ${key} ${why}: it is left alone.`)
  const configDir = get('configDir')
  if (configDir && isOurFolder(configDir, CONFIG_FOLDER_PREFIX, temp)) state.configDir = configDir
  else if (configDir)
    drop('configDir', `(${configDir}) is not a folder of the action's under RUNNER_TEMP`)
  const workDir = get('workDir')
  if (workDir && isOurFolder(workDir, WORK_FOLDER_PREFIX, temp)) state.workDir = workDir
  else if (workDir)
    drop('workDir', `(${workDir}) is not a folder of the action's under RUNNER_TEMP`)
  const registry = get('registry')
  if (registry && REGISTRY.test(registry)) state.registry = registry
  else if (registry) drop('registry', 'is not a registry host')
  const kept = get('keptLogin')
  if (kept) {
    const parsed = parseKeptLogin(kept)
    // Its backup is a file of the action's config folder, and its folder the runner's config.
    const sound =
      parsed &&
      (!parsed.backup || path.dirname(parsed.backup) === state.configDir) &&
      path.resolve(parsed.dir) === path.resolve(runnerDockerConfig)
    if (parsed && sound) state.keptLogin = parsed
    else {
      let registry: string | undefined
      try {
        const r = (JSON.parse(kept) as { registry?: unknown }).registry
        if (typeof r === 'string' && REGISTRY.test(r)) registry = r
      } catch {
        // nothing readable at all
      }
      state.keptLoginCorrupt = { registry: registry ?? state.registry }
    }
  }
  return state
}

function parseKeptLogin(text: string): KeptLogin | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (!value || typeof value !== 'object') return undefined
  const v = value as Record<string, unknown>
  const strings = ['dir', 'registry', 'backup', 'after'] as const
  const booleans = ['existed', 'dirExisted'] as const
  if (!strings.every(k => typeof v[k] === 'string')) return undefined
  if (!booleans.every(k => typeof v[k] === 'boolean')) return undefined
  const kept = v as unknown as KeptLogin
  if (!path.isAbsolute(kept.dir) || !REGISTRY.test(kept.registry)) return undefined
  if (kept.after && !/^([0-9a-f]{64}|none)$/.test(kept.after)) return undefined
  return {
    dir: kept.dir,
    registry: kept.registry,
    existed: kept.existed,
    dirExisted: kept.dirExisted,
    backup: kept.backup,
    after: kept.after
  }
}
