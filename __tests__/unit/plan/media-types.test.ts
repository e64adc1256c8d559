/**
 * The media-types input and what each name scheme allows (docs/facts/github-registries.md, "The
 * legacy Docker registry").
 */
import { describe, expect, it } from '@jest/globals'
import { parseMediaTypes, resolveMediaTypes } from '../../../src/plan/media-types.js'
import type { Attestation } from '../../../src/plan/action-inputs.js'
import { UserError } from '../../../src/util/errors.js'

const base = {
  mediaTypes: undefined,
  platforms: [] as string[],
  attestations: [] as Attestation[],
  pushByDigest: false,
  mergeDigests: [] as { digest: string }[],
  labels: [] as string[],
  build: { annotations: [] as string[] } as Parameters<typeof resolveMediaTypes>[0]['build']
}
type Inputs = Parameters<typeof resolveMediaTypes>[0]
const resolve = (over: Partial<Inputs>, type: 'container' | 'docker' = 'container') =>
  resolveMediaTypes(
    { ...base, ...over },
    type,
    type === 'docker' ? 'docker.ghe.example.com' : 'ghcr.io'
  )

describe('media-types', () => {
  it('parses oci and docker (any case), empty as not given; refuses anything else', () => {
    expect(parseMediaTypes(' OCI ')).toBe('oci')
    expect(parseMediaTypes('docker')).toBe('docker')
    expect(parseMediaTypes('')).toBeUndefined()
    for (const v of ['v2', 'docker-v2', 'schema2', 'true']) {
      expect(() => parseMediaTypes(v)).toThrow(UserError)
      expect(() => parseMediaTypes(v)).toThrow(/media-types '.*' is not one of oci, docker/)
    }
  })

  it('defaults to oci on the container scheme and docker on the docker scheme', () => {
    expect(resolve({})).toEqual({ family: 'oci', given: false })
    expect(resolve({}, 'docker')).toEqual({ family: 'docker', given: false })
    expect(resolve({ mediaTypes: 'docker' })).toEqual({ family: 'docker', given: true })
    expect(resolve({ mediaTypes: 'docker', platforms: ['linux/amd64', 'linux/arm64'] })).toEqual({
      family: 'docker',
      given: true
    })
  })

  it.each([
    [{ mergeDigests: [{ digest: 'sha256:x' }] }, /^merge-digests cannot be used with docker\.ghe/],
    [
      { platforms: ['linux/amd64', 'linux/arm64'] },
      /^platforms \(linux\/amd64,linux\/arm64\) cannot/
    ],
    [
      { platforms: ['linux/amd64'], attestations: ['sbom'] as Attestation[] },
      /^sbom \(attestations are listed in an image index\)/
    ],
    [{ pushByDigest: true }, /^push-by-digest \(its only use is a later merge-digests\)/]
  ])('the docker scheme refuses what makes an index (%#), saying why', (over, message) => {
    expect(() => resolve(over, 'docker')).toThrow(message)
    expect(() => resolve(over, 'docker')).toThrow(/never accepted image indexes/)
  })

  it('the docker scheme takes one platform, and refuses media-types oci', () => {
    expect(resolve({ platforms: ['linux/arm64'] }, 'docker').family).toBe('docker')
    expect(() => resolve({ mediaTypes: 'oci' }, 'docker')).toThrow(
      /media-types oci cannot be used with .*serves OCI manifests back labelled as Docker v2/
    )
  })

  it('media-types docker refuses attestations, and labels on a merge (no index annotations)', () => {
    expect(() =>
      resolve({ mediaTypes: 'docker', platforms: ['linux/amd64'], attestations: ['provenance'] })
    ).toThrow(/^provenance cannot be used with media-types docker: attestations are OCI manifests/)
    expect(() =>
      resolve({ mediaTypes: 'docker', mergeDigests: [{ digest: 'x' }], labels: ['a=b'] })
    ).toThrow(/a Docker manifest list \(media-types docker\) has no annotations/)
    expect(() =>
      resolve({ mediaTypes: 'docker', build: { ...base.build, annotations: ['a=b'] } })
    ).toThrow(/^annotations cannot be used with media-types docker/)
    expect(
      resolve({ mediaTypes: 'oci', mergeDigests: [{ digest: 'x' }], labels: ['a=b'] }).family
    ).toBe('oci')
  })
})
