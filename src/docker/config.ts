/**
 * The action's own Docker config directory, so the token never lands in the runner's
 * ~/.docker/config.json (or its credential store), while the job's existing logins keep working.
 *
 * - `auths`, `credHelpers`, `credsStore` and every other setting of the runner's config are copied,
 *   so a build can still pull a private base image the job logged in to earlier.
 * - `credHelpers[REGISTRY] = ""` pins our registry to the plain file store: the docker CLI takes a
 *   credHelpers entry that exists, even an empty one, over `credsStore`, and "" means "the config
 *   file". So our token is written only to this directory, which the post step deletes.
 * - `cli-plugins`, `buildx` and `contexts` are linked, not copied, so buildx (and the builder the job
 *   selected with it) and docker contexts behave exactly as outside the action.
 * - The runner's `buildx` folder is created when missing (unless BUILDX_CONFIG names another one,
 *   which buildx then uses itself): it holds buildx's node ID, by which BuildKit recognises a
 *   context it has received before and asks only for the files that changed. A folder of our own
 *   would be a new node every run, so a self-hosted runner would send the whole context every job
 *   (docs/facts/buildkit.md, "Build node ID").
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import * as path from 'node:path'
import { CONFIG_FOLDER_PREFIX } from '../state.js'

const LINKED = ['cli-plugins', 'buildx', 'contexts']

export interface ConfigResult {
  dir: string
  /** Messages for the log (e.g. an unreadable runner config). */
  warnings: string[]
}

export function createActionConfig(
  registry: string,
  sourceDir: string,
  tempRoot: string,
  env: Readonly<Record<string, string | undefined>> = process.env
): ConfigResult {
  const warnings: string[] = []
  const dir = mkdtempSync(path.join(tempRoot, CONFIG_FOLDER_PREFIX))
  let config: Record<string, unknown> = {}
  const sourceFile = path.join(sourceDir, 'config.json')
  if (existsSync(sourceFile)) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(sourceFile, 'utf8'))
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        config = parsed as Record<string, unknown>
      }
    } catch (error) {
      warnings.push(
        `Could not read ${sourceFile} (${(error as Error).message}); existing docker logins are not available inside this step.`
      )
    }
  }
  const credHelpers = { ...((config.credHelpers as Record<string, string>) ?? {}) }
  credHelpers[registry] = ''
  config.credHelpers = credHelpers
  const auths = { ...((config.auths as Record<string, unknown>) ?? {}) }
  delete auths[registry]
  config.auths = auths

  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n', {
    mode: 0o600
  })
  if (!env.BUILDX_CONFIG) {
    try {
      mkdirSync(path.join(sourceDir, 'buildx'), { recursive: true })
    } catch (error) {
      warnings.push(
        `Could not create ${path.join(sourceDir, 'buildx')} (${(error as Error).message}): buildx ` +
          'keeps its state for this step only, so BuildKit may receive the whole build context again.'
      )
    }
  }
  for (const name of LINKED) {
    const target = path.join(sourceDir, name)
    if (existsSync(target)) symlinkSync(target, path.join(dir, name))
  }
  return { dir, warnings }
}

/** Removes the action's config directory; links are removed, never what they point to. */
export function removeActionConfig(dir: string): void {
  rmSync(dir, { recursive: true, force: true })
}
