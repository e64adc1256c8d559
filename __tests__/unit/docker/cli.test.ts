import { tempDir } from '../../support/temp-dirs.js'
import { describe, expect, it } from '@jest/globals'
import { writeFileSync } from 'node:fs'
import { Docker, builderFactsOf, builderNames, type ExecFn } from '../../../src/docker/cli.js'
import { buildArgs, buildxPushArgs, type PushBuildRequest } from '../../../src/docker/build-args.js'
import { lastErrorLine } from '../../../src/docker/errors.js'
import { DockerCommandError } from '../../../src/docker/errors.js'

/** The action's Docker config folder (build and push make their work folders in it). */
const CONFIG = tempDir('docker-config-')

interface Call {
  args: string[]
  input?: string
  env?: Record<string, string>
}

function recorder(
  answer: (args: string[]) => { exitCode: number; stdout?: string; stderr?: string }
) {
  const calls: Call[] = []
  const fn: ExecFn = async (command, args, options) => {
    expect(command).toBe('docker')
    calls.push({
      args,
      input: options.input?.toString('utf8'),
      env: options.env as Record<string, string>
    })
    const a = answer(args)
    return { exitCode: a.exitCode, stdout: a.stdout ?? '', stderr: a.stderr ?? '' }
  }
  return { calls, fn }
}

const request = {
  context: '.',
  file: '',
  tags: ['r/i:1', 'r/i:latest'],
  buildArgs: ['A=1 2'],
  labels: ['k=v; rm -rf /'],
  target: 'prod',
  pull: true,
  noCache: false
}

describe('docker CLI', () => {
  it('logs in with the token on stdin only, never in argv, using the action config', async () => {
    const { calls, fn } = recorder(() => ({ exitCode: 0, stdout: 'Login Succeeded' }))
    await new Docker('/tmp/cfg', fn, { PATH: '/bin' }).login('ghcr.io', 'octocat', 's3cr3t')
    expect(calls[0].args).toEqual(['login', 'ghcr.io', '--username', 'octocat', '--password-stdin'])
    expect(calls[0].input).toBe('s3cr3t')
    expect(JSON.stringify(calls[0].args)).not.toContain('s3cr3t')
    expect(calls[0].env).toEqual({ PATH: '/bin', DOCKER_CONFIG: '/tmp/cfg' })
  })

  it('fails with docker’s own last error line', async () => {
    const { fn } = recorder(() => ({
      exitCode: 1,
      stderr:
        'WARNING! something\nError response from daemon: Get "https://r/v2/": unauthorized: bad creds\n\n'
    }))
    const err = await new Docker(CONFIG, fn).login('r', 'u', 't').catch(e => e)
    expect(err).toBeInstanceOf(DockerCommandError)
    expect(err.message).toBe(
      'docker login failed (exit code 1): Error response from daemon: Get "https://r/v2/": unauthorized: bad creds'
    )
  })

  it('builds with each input its own argv entry, tags applied at build time', () => {
    expect(buildArgs(request, 'classic', '/t/iid')).toEqual([
      'build',
      '--tag',
      'r/i:1',
      '--tag',
      'r/i:latest',
      '--build-arg',
      'A',
      '--label',
      'k=v; rm -rf /',
      '--target',
      'prod',
      '--pull',
      '--iidfile',
      '/t/iid',
      '.'
    ])
    expect(
      buildArgs(
        { ...request, file: 'x/Dockerfile', noCache: true, pull: false },
        'buildx',
        '/t/iid'
      ).slice(0, 3)
    ).toEqual(['buildx', 'build', '--load'])
    expect(buildArgs({ ...request, file: 'x/Dockerfile', noCache: true }, 'buildx', '/i')).toEqual(
      expect.arrayContaining(['--file', 'x/Dockerfile', '--no-cache'])
    )
  })

  it('hands build-arg values, secret values and the BuildKit switch to docker outside argv, and no secret to a file', async () => {
    const { calls, fn } = recorder(args => {
      writeFileSync(args[args.indexOf('--iidfile') + 1], 'sha256:abc\n')
      return { exitCode: 0 }
    })
    const id = await new Docker(CONFIG, fn, { PATH: '/bin', INPUT_TOKEN: 't0ken' }).build(
      { ...request, buildArgs: ['A=the value', 'EMPTY='], secrets: [{ id: 'e', env: 'MY_ENV' }] },
      'buildkit',
      { secretValues: [{ id: 'tok', value: 'hunter2 secret' }] }
    )
    expect(id).toBe('sha256:abc')
    const argv = JSON.stringify(calls[0].args)
    expect(argv).not.toContain('hunter2')
    expect(argv).not.toContain('the value')
    expect(calls[0].args).toEqual(
      expect.arrayContaining([
        '--build-arg',
        'A',
        '--build-arg',
        'EMPTY',
        '--secret',
        'id=tok,env=PUBLISH_CONTAINER_SECRET_0',
        '--secret',
        'id=e,env=MY_ENV'
      ])
    )
    expect(argv).not.toContain('src=')
    // The inputs (the token among them) are not in docker's environment.
    expect(calls[0].env).toEqual({
      PATH: '/bin',
      DOCKER_CONFIG: CONFIG,
      A: 'the value',
      EMPTY: '',
      DOCKER_BUILDKIT: '1',
      PUBLISH_CONTAINER_SECRET_0: 'hunter2 secret'
    })
  })

  it('gives no docker child the inputs (the token among them)', async () => {
    const { calls, fn } = recorder(() => ({ exitCode: 0 }))
    const docker = new Docker(CONFIG, fn, { PATH: '/bin', INPUT_TOKEN: 't', INPUT_SECRETS: 'a=b' })
    await docker.tag('a', 'b')
    await docker.login('r.example', 'u', 't')
    for (const call of calls) expect(call.env).toEqual({ PATH: '/bin', DOCKER_CONFIG: CONFIG })
  })

  it('returns the image ID from the iidfile', async () => {
    const { fn } = recorder(args => {
      writeFileSync(args[args.indexOf('--iidfile') + 1], 'sha256:abc\n')
      return { exitCode: 0 }
    })
    expect(await new Docker(CONFIG, fn).build(request, 'classic')).toBe('sha256:abc')
  })

  it('detects buildx by its exit code', async () => {
    expect(await new Docker(CONFIG, recorder(() => ({ exitCode: 0 })).fn).hasBuildx()).toBe(true)
    expect(await new Docker(CONFIG, recorder(() => ({ exitCode: 1 })).fn).hasBuildx()).toBe(false)
  })

  it('last error line prefers stderr, falls back to stdout', () => {
    expect(lastErrorLine('', 'a\nb\n')).toBe('b')
    expect(lastErrorLine('x\n', 'b')).toBe('x')
    expect(lastErrorLine('', '')).toBe('')
  })

  it('finds a local image by ID or reference, without pulling', async () => {
    const { calls, fn } = recorder(args =>
      args[4] === 'hello:1'
        ? { exitCode: 0, stdout: `sha256:${'c'.repeat(64)}\n` }
        : { exitCode: 1, stderr: 'Error: No such image: missing:1' }
    )
    const docker = new Docker(CONFIG, fn)
    expect(await docker.localImageId('hello:1')).toBe(`sha256:${'c'.repeat(64)}`)
    expect(await docker.localImageId('missing:1')).toBeUndefined()
    expect(calls[0].args).toEqual(['image', 'inspect', '--format', '{{.Id}}', 'hello:1'])
  })

  it('asks the facts of an image ID once (they cannot change), those of a name each time', async () => {
    const id = `sha256:${'d'.repeat(64)}`
    const { calls, fn } = recorder(args =>
      args[0] === 'history'
        ? { exitCode: 0, stdout: '10\n20\n' }
        : { exitCode: 0, stdout: JSON.stringify({ Id: id, Os: 'linux', RootFS: { Layers: [] } }) }
    )
    const docker = new Docker(CONFIG, fn)
    const [a, b] = await Promise.all([docker.inspectForPush(id), docker.inspectForPush(id)])
    expect(a).toBe(b)
    expect(await docker.unpackedSize(id)).toBe(30)
    expect(await docker.unpackedSize(id)).toBe(30)
    await docker.inspectForPush('app:1')
    await docker.inspectForPush('app:1')
    expect(calls.map(c => c.args[0] + ' ' + c.args.at(-1))).toEqual([
      `image ${id}`,
      `history ${id}`,
      'image app:1',
      'image app:1'
    ])
  })

  it('reports other inspect failures (e.g. no daemon) as docker errors', async () => {
    const { fn } = recorder(() => ({
      exitCode: 1,
      stderr: 'Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?'
    }))
    await expect(new Docker(CONFIG, fn).localImageId('a')).rejects.toThrow(
      /docker image inspect failed \(exit code 1\): Cannot connect/
    )
  })
})

describe('docker buildx build that BuildKit pushes (there is no buildx on the test machine)', () => {
  const pushRequest: PushBuildRequest = {
    ...request,
    tags: [],
    platforms: ['linux/amd64', 'linux/arm64'],
    output: { push: true, name: 'ghcr.io/o/i:1.0', byDigest: false },
    provenance: 'false',
    sbom: false,
    indexAnnotations: ['org.opencontainers.image.description=A, b']
  }

  it('media-types docker: Docker v2 manifests and list (oci-mediatypes=false)', () => {
    const args = buildxPushArgs(
      { ...pushRequest, indexAnnotations: [], ociMediaTypes: false },
      '/t/meta.json'
    )
    expect(args[args.indexOf('--output') + 1]).toBe(
      'type=image,name=ghcr.io/o/i:1.0,oci-mediatypes=false,push=true'
    )
    expect(args).not.toContain('--annotation')
    const byDigest = buildxPushArgs(
      {
        ...pushRequest,
        output: { push: true, name: 'ghcr.io/o/i', byDigest: true },
        ociMediaTypes: false
      },
      '/t/meta.json'
    )
    expect(byDigest[byDigest.indexOf('--output') + 1]).toBe(
      'type=image,name=ghcr.io/o/i,push-by-digest=true,name-canonical=true,oci-mediatypes=false,push=true'
    )
  })

  it('pushes under the first tag, attestations off, index annotations, no --load and no --tag', () => {
    expect(buildxPushArgs(pushRequest, '/t/meta.json')).toEqual([
      'buildx',
      'build',
      '--platform',
      'linux/amd64,linux/arm64',
      '--provenance=false',
      '--sbom=false',
      '--output',
      'type=image,name=ghcr.io/o/i:1.0,oci-mediatypes=true,push=true',
      '--metadata-file',
      '/t/meta.json',
      '--build-arg',
      'A',
      '--label',
      'k=v; rm -rf /',
      '--annotation',
      'index:org.opencontainers.image.description=A, b',
      '--target',
      'prod',
      '--pull',
      '.'
    ])
  })

  it('pushes by digest without a tag (push-by-digest, name-canonical), and only builds when not pushing', () => {
    const byDigest = buildxPushArgs(
      {
        ...pushRequest,
        output: { push: true, name: 'ghcr.io/o/i', byDigest: true },
        provenance: 'mode=max',
        sbom: true
      },
      '/m'
    )
    expect(byDigest).toEqual(
      expect.arrayContaining([
        '--provenance=mode=max',
        '--sbom=true',
        'type=image,name=ghcr.io/o/i,push-by-digest=true,name-canonical=true,oci-mediatypes=true,push=true'
      ])
    )
    const notPushed = buildxPushArgs({ ...pushRequest, output: { push: false } }, '/m')
    expect(notPushed[notPushed.indexOf('--output') + 1]).toBe('type=cacheonly')
    expect(notPushed).not.toContain('--load')
  })

  it('one platform: no --platform (the builder’s own), OCI types named; builder and load when given', () => {
    const single = buildxPushArgs(
      { ...pushRequest, platforms: [], indexAnnotations: [], builder: 'ci-builder', load: true },
      '/m'
    )
    expect(single.slice(0, 6)).toEqual([
      'buildx',
      '--builder',
      'ci-builder',
      'build',
      '--provenance=false',
      '--sbom=false'
    ])
    // A docker-driver builder is a docker context: docker --context NAME buildx build.
    expect(
      buildxPushArgs({ ...pushRequest, builder: 'ctx2', builderIsContext: true }, '/m').slice(0, 4)
    ).toEqual(['--context', 'ctx2', 'buildx', 'build'])
    expect(single).not.toContain('--platform')
    expect(single[single.indexOf('--output') + 1]).toBe(
      'type=image,name=ghcr.io/o/i:1.0,oci-mediatypes=true,push=true'
    )
    expect(single).toContain('--load')
    expect(buildxPushArgs({ ...pushRequest, platforms: [] }, '/m')).not.toContain('--load')
    // push: false with load: only --load, no cacheonly output next to it
    const loadOnly = buildxPushArgs({ ...pushRequest, output: { push: false }, load: true }, '/m')
    expect(loadOnly).not.toContain('--output')
    expect(loadOnly).toContain('--load')
  })

  it('unpack: false asks the exporter to leave the stored image packed; nothing when not pushing', () => {
    const packed = buildxPushArgs({ ...pushRequest, unpack: false }, '/m')
    expect(packed[packed.indexOf('--output') + 1]).toBe(
      'type=image,name=ghcr.io/o/i:1.0,oci-mediatypes=true,unpack=false,push=true'
    )
    const unpacked = buildxPushArgs({ ...pushRequest, unpack: true }, '/m')
    expect(unpacked[unpacked.indexOf('--output') + 1]).not.toContain('unpack')
    const notPushed = buildxPushArgs(
      { ...pushRequest, output: { push: false }, unpack: false },
      '/m'
    )
    expect(notPushed[notPushed.indexOf('--output') + 1]).toBe('type=cacheonly')
  })

  it('reads the pushed digest and config from the metadata file buildx writes', async () => {
    const { calls, fn } = recorder(args => {
      writeFileSync(
        args[args.indexOf('--metadata-file') + 1],
        JSON.stringify({
          'containerimage.digest': 'sha256:index',
          'containerimage.config.digest': 'sha256:config',
          'image.name': 'ghcr.io/o/i:1.0'
        })
      )
      return { exitCode: 0 }
    })
    expect(await new Docker(CONFIG, fn).buildAndPush(pushRequest)).toEqual({
      digest: 'sha256:index',
      configDigest: 'sha256:config'
    })
    expect(calls[0].args.slice(0, 2)).toEqual(['buildx', 'build'])
    const { fn: silent } = recorder(() => ({ exitCode: 0 })) // writes no metadata file
    expect(await new Docker(CONFIG, silent).buildAndPush(pushRequest)).toEqual({
      digest: undefined,
      configDigest: undefined
    })
  })

  it('fails with buildx’s own last error line', async () => {
    const { fn } = recorder(() => ({
      exitCode: 1,
      stderr: 'ERROR: failed to solve: something\n'
    }))
    await expect(new Docker(CONFIG, fn).buildAndPush(pushRequest)).rejects.toThrow(
      'docker buildx build failed (exit code 1): ERROR: failed to solve: something'
    )
  })
})

describe('buildx builders and the image store', () => {
  it('lists the builders of docker buildx ls, old and new layouts, without the selection mark', () => {
    const v013 =
      'NAME/NODE     DRIVER/ENDPOINT   STATUS    BUILDKIT         PLATFORMS\n' +
      'ctx2          docker\n' +
      ' \\_ ctx2       \\_ ctx2          running   v0.0.0+unknown   linux/amd64\n' +
      'default*      docker\n' +
      ' \\_ default    \\_ default       running   v0.0.0+unknown   linux/amd64\n'
    expect(builderNames(v013)).toEqual(['ctx2', 'default'])
    const older =
      'NAME/NODE DRIVER/ENDPOINT STATUS  PLATFORMS\n' +
      'ci-builder * docker-container\n' +
      '  ci-builder0 unix:///var/run/docker.sock running linux/amd64\n' +
      'default docker\n' +
      '  default default running linux/amd64\n'
    expect(builderNames(older)).toEqual(['ci-builder', 'default'])
  })

  it("reads a builder's driver; an unknown name is undefined, another failure throws", async () => {
    const { calls, fn } = recorder(args =>
      args[2] === 'nosuch'
        ? { exitCode: 1, stderr: 'ERROR: no builder "nosuch" found\n' }
        : args[2] === 'broken'
          ? { exitCode: 1, stderr: 'ERROR: Cannot connect to the Docker daemon\n' }
          : { exitCode: 0, stdout: 'Name:          default\nDriver:        docker\n' }
    )
    const docker = new Docker(CONFIG, fn)
    expect(await docker.builderDriver('')).toBe('docker')
    expect(calls[0].args).toEqual(['buildx', 'inspect'])
    expect(await docker.builderDriver('nosuch')).toBeUndefined()
    await expect(docker.builderDriver('broken')).rejects.toThrow(/Cannot connect/)
  })

  // As Docker 28.5.2 with buildx 0.29.1 prints them (trimmed), on each image store.
  const INSPECT_CONTAINERD =
    'Name:   default\nDriver: docker\n\nNodes:\nName:             default\nStatus:           running\n' +
    'Labels:\n org.mobyproject.buildkit.worker.containerd.namespace: moby\n' +
    ' org.mobyproject.buildkit.worker.moby.host-gateway-ip: 172.29.203.1\n' +
    ' org.mobyproject.buildkit.worker.snapshotter:          overlayfs\nGC Policy rule#0:\n All: false\n'
  const INSPECT_CLASSIC =
    'Name:   default\nDriver: docker\n\nNodes:\nName:             default\nStatus:           running\n' +
    'Labels:\n org.mobyproject.buildkit.worker.moby.host-gateway-ip: 172.29.203.1\nGC Policy rule#0:\n'

  it("tells the docker driver's image store from its worker's labels, as buildx does", () => {
    expect(builderFactsOf(INSPECT_CONTAINERD)).toEqual({
      buildx: true,
      driver: 'docker',
      store: 'containerd'
    })
    expect(builderFactsOf(INSPECT_CLASSIC)).toEqual({
      buildx: true,
      driver: 'docker',
      store: 'classic'
    })
    // An older buildx shows no labels: the store is not told here.
    expect(builderFactsOf('Name: default\nDriver: docker\n')).toEqual({
      buildx: true,
      driver: 'docker'
    })
    // Another driver's labels say nothing of the engine's store.
    expect(
      builderFactsOf(INSPECT_CONTAINERD.replace('Driver: docker', 'Driver: docker-container'))
    ).toEqual({ buildx: true, driver: 'docker-container' })
  })

  it('asks buildx inspect once for buildx, the driver and the store; docker info only when it cannot tell', async () => {
    const { calls, fn } = recorder(args =>
      args.includes('info')
        ? { exitCode: 0, stdout: '[["driver-type","io.containerd.snapshotter.v1"]]\n' }
        : args[2] === 'old'
          ? { exitCode: 0, stdout: 'Name: old\nDriver: docker\n' }
          : { exitCode: 0, stdout: INSPECT_CLASSIC }
    )
    const docker = new Docker(CONFIG, fn)
    expect(await docker.hasBuildx()).toBe(true)
    expect(await docker.builderDriver('')).toBe('docker')
    expect(await docker.builderStore('')).toBe('classic')
    expect(calls.map(c => c.args.join(' '))).toEqual(['buildx inspect'])
    expect(await docker.builderStore('old', 'old')).toBe('containerd')
    expect(calls.map(c => c.args.join(' '))).toEqual([
      'buildx inspect',
      'buildx inspect old',
      '--context old info --format {{json .DriverStatus}}'
    ])
  })

  it('tells a runner without buildx from the CLI saying it has no such command', async () => {
    for (const said of [
      "docker: 'buildx' is not a docker command.\nSee 'docker --help'\n",
      'docker: unknown command: docker buildx\n'
    ]) {
      const { calls, fn } = recorder(() => ({ exitCode: 1, stderr: said }))
      const docker = new Docker(CONFIG, fn)
      expect(await docker.hasBuildx()).toBe(false)
      expect(calls.map(c => c.args.join(' '))).toEqual(['buildx inspect'])
    }
    // Any other failure of inspect: buildx version decides.
    const { calls, fn } = recorder(args =>
      args[1] === 'version'
        ? { exitCode: 0, stdout: 'github.com/docker/buildx v0.29.1\n' }
        : { exitCode: 1, stderr: 'ERROR: Cannot connect to the Docker daemon\n' }
    )
    expect(await new Docker(CONFIG, fn).hasBuildx()).toBe(true)
    expect(calls.map(c => c.args.join(' '))).toEqual(['buildx inspect', 'buildx version'])
  })

  it('tells the containerd image store from the classic one by the snapshotter driver type', async () => {
    const containerd = recorder(() => ({
      exitCode: 0,
      stdout: '[["driver-type","io.containerd.snapshotter.v1"]]\n'
    }))
    expect(await new Docker(CONFIG, containerd.fn).imageStore()).toBe('containerd')
    const classic = recorder(() => ({
      exitCode: 0,
      stdout: '[["Backing Filesystem","extfs"],["Supports d_type","true"]]\n'
    }))
    expect(await new Docker(CONFIG, classic.fn).imageStore()).toBe('classic')
  })
})

describe('local images pulled from a registry', () => {
  const d = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`
  it('lists their references on that registry and their layers, in one inspect', async () => {
    const { calls, fn } = recorder(args =>
      args[1] === 'ls'
        ? { exitCode: 0, stdout: 'sha256:aaa\nsha256:bbb\nsha256:aaa\nsha256:ccc\n' }
        : {
            exitCode: 0,
            stdout:
              `["ghcr.io/o/base@${d(9)}","docker.io/library/x@${d(8)}"]\t["${d(1)}","${d(2)}"]\n` +
              `["docker.io/library/y@${d(7)}"]\t["${d(1)}"]\n` +
              `null\t["${d(3)}"]\n`
          }
    )
    const images = await new Docker(CONFIG, fn).imagesFrom('ghcr.io')
    expect(images).toEqual([{ repoDigests: [`ghcr.io/o/base@${d(9)}`], diffIds: [d(1), d(2)] }])
    expect(calls[1].args.slice(0, 2)).toEqual(['image', 'inspect'])
    expect(calls[1].args.slice(-3)).toEqual(['sha256:aaa', 'sha256:bbb', 'sha256:ccc'])
  })
  it('never fails the push: an engine that cannot list gives nothing', async () => {
    const { fn } = recorder(() => ({ exitCode: 1, stderr: 'Error: permission denied' }))
    expect(await new Docker(CONFIG, fn).imagesFrom('ghcr.io')).toEqual([])
  })
})
