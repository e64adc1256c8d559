import { describe, expect, it } from '@jest/globals'
import { defaultRegistry, runnerServer } from '../../../src/github/hosts.js'
import {
  parseRegistry,
  resolveNames,
  resolveRegistryType,
  validateTags,
  type NameInputs
} from '../../../src/plan/names.js'
import { UserError } from '../../../src/util/errors.js'

function inputs(over: Partial<NameInputs> = {}): NameInputs {
  return {
    registry: '',
    registryType: 'auto',
    owner: '',
    repository: '',
    imageName: '',
    tags: ['latest'],
    contextRepository: 'octo-org/hello-world',
    serverUrl: 'https://github.com',
    ...over
  }
}

function errorOf(fn: () => unknown): UserError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(UserError)
    return e as UserError
  }
  throw new Error('expected a UserError, got none')
}

describe('default registry (docs/facts/github-registries.md: Hosts and name schemes)', () => {
  it('is ghcr.io on github.com and when the server URL is unknown', () => {
    expect(defaultRegistry(runnerServer('https://github.com'))).toBe('ghcr.io')
    expect(defaultRegistry(runnerServer(undefined))).toBe('ghcr.io')
    expect(defaultRegistry(runnerServer('not a url'))).toBe('ghcr.io')
  })
  it('is containers.HOSTNAME on GitHub Enterprise Server', () => {
    expect(defaultRegistry(runnerServer('https://GHE.Example.com'))).toBe(
      'containers.ghe.example.com'
    )
    expect(resolveNames(inputs({ serverUrl: 'https://ghe.example.com' })).image).toBe(
      'containers.ghe.example.com/octo-org/hello-world'
    )
  })
})

describe('registry-type', () => {
  it.each([
    ['docker.pkg.github.com', 'docker'],
    ['docker.ghe.example.com', 'docker'],
    ['ghcr.io', 'container'],
    ['containers.ghe.example.com', 'container'],
    ['localhost:5000', 'container'],
    ['ghe.example.com', 'container']
  ])('auto picks the scheme for %s', (registry, expected) => {
    expect(resolveRegistryType('auto', registry)).toBe(expected)
    expect(resolveRegistryType('', registry)).toBe(expected)
  })
  it('explicit container/docker wins over the host', () => {
    expect(resolveRegistryType('docker', 'ghe.example.com')).toBe('docker')
    expect(resolveRegistryType('Container', 'docker.pkg.github.com')).toBe('container')
  })
  it('refuses unknown values, naming the allowed ones', () => {
    expect(errorOf(() => resolveRegistryType('ghcr', 'ghcr.io')).message).toMatch(
      /registry-type 'ghcr' is not one of auto, container, docker/
    )
  })
})

describe('names', () => {
  it('container scheme: REGISTRY/OWNER/IMAGE_NAME, image-name defaults to the repository', () => {
    const n = resolveNames(inputs({ tags: ['1.0', 'latest'] }))
    expect(n.image).toBe('ghcr.io/octo-org/hello-world')
    expect(n.path).toBe('octo-org/hello-world')
    expect(n.references).toEqual([
      'ghcr.io/octo-org/hello-world:1.0',
      'ghcr.io/octo-org/hello-world:latest'
    ])
  })
  it('docker scheme: REGISTRY/OWNER/REPOSITORY/IMAGE_NAME', () => {
    const n = resolveNames(inputs({ registry: 'docker.pkg.github.com', imageName: 'app' }))
    expect(n.registryType).toBe('docker')
    expect(n.image).toBe('docker.pkg.github.com/octo-org/hello-world/app')
  })
  it('GHES docker registry without subdomain isolation: HOSTNAME with registry-type docker', () => {
    const n = resolveNames(
      inputs({
        registry: 'ghe.example.com',
        registryType: 'docker',
        serverUrl: 'https://ghe.example.com'
      })
    )
    expect(n.image).toBe('ghe.example.com/octo-org/hello-world/hello-world')
  })
  it('lowercases owner and repository from the context, with notices', () => {
    const n = resolveNames(
      inputs({
        contextRepository: 'Octo-Org/Hello-World',
        registry: 'docker.pkg.github.com',
        imageName: 'app'
      })
    )
    expect(n.image).toBe('docker.pkg.github.com/octo-org/hello-world/app')
    expect(n.notices.join('\n')).toMatch(/owner 'Octo-Org' .* lowercased to 'octo-org'/)
    expect(n.notices.join('\n')).toMatch(/repository 'Hello-World' .* lowercased to 'hello-world'/)
  })
  it('lowercases the default image-name with a notice; no repository notice on the container scheme', () => {
    const n = resolveNames(inputs({ contextRepository: 'Octo-Org/Hello-World' }))
    expect(n.image).toBe('ghcr.io/octo-org/hello-world')
    expect(n.notices).toHaveLength(2)
    expect(n.notices[1]).toMatch(/image-name 'Hello-World' \(default: the repository name\)/)
  })
  it('lowercases owner and repository given as inputs', () => {
    const n = resolveNames(
      inputs({ owner: 'MyOrg', repository: 'Repo', registryType: 'docker', imageName: 'x' })
    )
    expect(n.image).toBe('ghcr.io/myorg/repo/x')
    expect(n.notices[0]).toMatch(/input owner/)
  })
  it('no notice when nothing changed', () => {
    expect(resolveNames(inputs()).notices).toEqual([])
  })
  it('refuses an uppercase image-name, showing the lowercase spelling', () => {
    expect(errorOf(() => resolveNames(inputs({ imageName: 'App/Release' }))).message).toBe(
      "image-name 'App/Release' must be lowercase: use 'app/release'."
    )
  })
  it.each(['app/release', 'a.b', 'a_b', 'a__b', 'a---b', 'x/y/z', '0'])(
    'accepts image-name %s',
    name => {
      expect(resolveNames(inputs({ imageName: name })).imageName).toBe(name)
    }
  )
  it.each([
    ['-app', /must start and end with a letter or digit/],
    ['app-', /must start and end/],
    ['a..b', /separators/],
    ['a___b', /separators/],
    ['_app', /must start and end/],
    ['app/', /empty path component/],
    ['/app', /empty path component/],
    ['a//b', /empty path component/],
    ['my app', /contains ' '/],
    ['app:1', /contains ':'/]
  ])('refuses image-name %s', (name, why) => {
    const e = errorOf(() => resolveNames(inputs({ imageName: name })))
    expect(e.message).toMatch(why)
    expect(e.message).toContain(`image-name '${name}'`)
  })
  it('refuses a default image-name the grammar rejects (a repository called .github)', () => {
    expect(
      errorOf(() => resolveNames(inputs({ contextRepository: 'octo/.github' }))).message
    ).toMatch(/image-name '.github' .*set the image-name input/)
  })
  it('refuses an owner with a slash', () => {
    expect(errorOf(() => resolveNames(inputs({ owner: 'a/b' }))).message).toMatch(/without '\/'/)
  })
  it('needs an owner when there is no context', () => {
    expect(errorOf(() => resolveNames(inputs({ contextRepository: '' }))).message).toMatch(
      /owner is empty and GITHUB_REPOSITORY is not set/
    )
  })
  it('the docker scheme needs a repository', () => {
    expect(
      errorOf(() =>
        resolveNames(
          inputs({ contextRepository: '', owner: 'o', imageName: 'i', registryType: 'docker' })
        )
      ).message
    ).toMatch(/docker registry scheme .* needs the repository input/)
  })
  it('keeps the whole name within 255 characters', () => {
    const ok = 'a'.repeat(255 - 'ghcr.io/octo-org/'.length)
    expect(resolveNames(inputs({ imageName: ok })).image).toHaveLength(255)
    expect(errorOf(() => resolveNames(inputs({ imageName: ok + 'a' }))).message).toMatch(
      /is 256 characters long; registries accept at most 255/
    )
  })
})

describe('registry input', () => {
  it.each([
    'ghcr.io',
    'localhost:5000',
    'containers.ghe.example.com',
    '127.0.0.1:5000',
    '[::1]:5000',
    '[fe80::1]',
    `${'a'.repeat(63)}.example.com`
  ])('accepts %s', r => expect(parseRegistry(r)).toBe(r))
  it.each([
    ['[:]:5000', "('[:]' is not an IPv6 address)"],
    ['[1::2::3]', "('[1::2::3]' is not an IPv6 address)"],
    [
      `${'a'.repeat(64)}.example.com`,
      "(a DNS label is at most 63 characters; 'aaaaaaaaaaaaaaaaaaaa…' has 64)"
    ]
  ])('refuses %s, saying why', (r, why) => {
    expect(errorOf(() => parseRegistry(r)).message).toContain(`is not a valid host[:port] ${why}`)
  })
  it('refuses a host name over 253 characters', () => {
    const host = `${'a'.repeat(60)}.`.repeat(5) + 'com'
    expect(errorOf(() => parseRegistry(host)).message).toMatch(/is not a valid host\[:port\]:/)
  })
  it('lowercases the host', () => expect(parseRegistry('GHCR.io')).toBe('ghcr.io'))
  it('refuses a scheme, showing the bare host', () => {
    expect(errorOf(() => parseRegistry('https://ghcr.io/')).message).toBe(
      "registry 'https://ghcr.io/' must be a host[:port] without a scheme: use 'ghcr.io'."
    )
  })
  it('refuses a path, pointing to the owner and image-name inputs', () => {
    expect(errorOf(() => parseRegistry('ghcr.io/octo-org')).message).toMatch(
      /must be only the host\[:port\] \('ghcr.io'\); set 'octo-org' through the owner/
    )
  })
  it.each(['ghcr_io', 'ghcr.io:99999', 'ghcr.io:', '-ghcr.io', 'a..b', 'host:port'])(
    'refuses %s',
    r => {
      expect(errorOf(() => parseRegistry(r)).message).toMatch(/is not a valid host\[:port\]/)
    }
  )
})

describe('tags', () => {
  it('keeps case and order and drops duplicates', () => {
    expect(validateTags(['V1.0', 'latest', 'V1.0', ' x '])).toEqual(['V1.0', 'latest', 'x'])
  })
  it('accepts 128 characters, refuses 129', () => {
    expect(validateTags(['a'.repeat(128)])).toHaveLength(1)
    expect(errorOf(() => validateTags(['a'.repeat(129)])).message).toMatch(/129 characters long/)
  })
  it.each([
    ['.hidden', /starts with '.' or '-'/],
    ['-x', /starts with '.' or '-'/],
    ['a+b', /contains '\+'/],
    ['sha256:' + 'a'.repeat(64), /looks like a digest/],
    ['a'.repeat(64).replace(/a/g, 'f'), /looks like a digest/],
    ['v1@x', /looks like a digest/],
    ['ghcr.io/o/i:1.0', /must be only the tag.*use '1.0'/],
    ['name:1.0', /use '1.0'/]
  ])('refuses %s', (tag, why) => {
    expect(errorOf(() => validateTags([tag])).message).toMatch(why)
  })
  it('refuses an empty list', () => {
    expect(errorOf(() => validateTags([' ', ''])).message).toMatch(/tags is empty/)
  })
})
