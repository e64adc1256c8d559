import { describe, expect, it } from '@jest/globals'
import { existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import * as path from 'node:path'
import { createActionConfig, removeActionConfig } from '../../../src/docker/config.js'
import { runContextFrom } from '../../../src/github/context.js'
import { tempDir } from '../../support/temp-dirs.js'

function runnerConfig(config: unknown): string {
  const dir = tempDir('runner-docker-')
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config))
  return dir
}

describe('the action’s own Docker config', () => {
  const temp = tempDir('action-temp-')

  it('keeps the job’s logins and settings, and pins our registry to the file store', () => {
    const source = runnerConfig({
      auths: { 'other.example': { auth: 'dTpw' }, 'ghcr.io': { auth: 'b2xkOm9sZA==' } },
      credsStore: 'desktop',
      credHelpers: { 'gcr.io': 'gcloud' },
      proxies: { default: { httpProxy: 'http://proxy:3128' } }
    })
    const { dir, warnings } = createActionConfig('ghcr.io', source, temp)
    const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'))
    expect(warnings).toEqual([])
    expect(config).toEqual({
      auths: { 'other.example': { auth: 'dTpw' } },
      credsStore: 'desktop',
      credHelpers: { 'gcr.io': 'gcloud', 'ghcr.io': '' },
      proxies: { default: { httpProxy: 'http://proxy:3128' } }
    })
    expect(statSync(dir).mode & 0o777).toBe(0o700)
    expect(statSync(path.join(dir, 'config.json')).mode & 0o777).toBe(0o600)
    expect(path.dirname(dir)).toBe(temp)
  })

  it('works without a runner config, and warns on an unreadable one', () => {
    const missing = createActionConfig('r:5000', path.join(temp, 'nope'), temp)
    expect(JSON.parse(readFileSync(path.join(missing.dir, 'config.json'), 'utf8'))).toEqual({
      auths: {},
      credHelpers: { 'r:5000': '' }
    })
    const broken = tempDir('runner-docker-')
    writeFileSync(path.join(broken, 'config.json'), '{not json')
    expect(createActionConfig('r', broken, temp).warnings[0]).toMatch(
      /Could not read .*config.json/
    )
  })

  it('links cli-plugins, buildx and contexts, and removing the directory leaves their targets', () => {
    const source = runnerConfig({})
    for (const d of ['cli-plugins', 'buildx', 'contexts']) {
      mkdirSync(path.join(source, d))
      writeFileSync(path.join(source, d, 'keep'), 'x')
    }
    const { dir } = createActionConfig('ghcr.io', source, temp)
    expect(lstatSync(path.join(dir, 'cli-plugins')).isSymbolicLink()).toBe(true)
    expect(readFileSync(path.join(dir, 'buildx', 'keep'), 'utf8')).toBe('x')
    removeActionConfig(dir)
    expect(existsSync(dir)).toBe(false)
    for (const d of ['cli-plugins', 'buildx', 'contexts']) {
      expect(existsSync(path.join(source, d, 'keep'))).toBe(true)
    }
  })

  it('creates the runner’s buildx folder when missing, so buildx’s node ID outlives the step; not when BUILDX_CONFIG names one', () => {
    const source = runnerConfig({})
    const { dir } = createActionConfig('ghcr.io', source, temp, {})
    expect(lstatSync(path.join(dir, 'buildx')).isSymbolicLink()).toBe(true)
    writeFileSync(path.join(dir, 'buildx', '.buildNodeID'), 'node-1')
    removeActionConfig(dir)
    expect(readFileSync(path.join(source, 'buildx', '.buildNodeID'), 'utf8')).toBe('node-1')

    const other = runnerConfig({})
    const own = createActionConfig('ghcr.io', other, temp, { BUILDX_CONFIG: '/srv/buildx' })
    expect(existsSync(path.join(other, 'buildx'))).toBe(false)
    expect(existsSync(path.join(own.dir, 'buildx'))).toBe(false)
  })

  it('reads DOCKER_CONFIG, else ~/.docker', () => {
    expect(runContextFrom({ DOCKER_CONFIG: '/x' }, {}).dockerConfig).toBe('/x')
    expect(runContextFrom({ HOME: '/home/u' }, {}).dockerConfig).toBe('/home/u/.docker')
  })
})
