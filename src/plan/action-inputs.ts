/**
 * The action's inputs, read and parsed (inputs.ts), in one type of their own so that the modules
 * that check them (rules.ts, media-types.ts) and the one that reads them need not import each
 * other.
 */
import type { BuildxSettings } from '../docker/buildx.js'
import type { MediaTypeFamily } from '../oci/media-types.js'
import type { BuildOptions } from './build-options.js'
import type { CacheMode } from './cache.js'
import type { MergeEntry } from './merge-digests.js'
import type { TagsMode } from './tags.js'

/** An attestation BuildKit attaches when it pushes (provenance and sbom inputs). */
export type Attestation = 'provenance' | 'sbom'

/** The attestations the provenance and sbom inputs ask, in that order. */
export function attestationsAsked(inputs: { provenance: string; sbom: boolean }): Attestation[] {
  const asked: Attestation[] = []
  if (inputs.provenance !== 'false') asked.push('provenance')
  if (inputs.sbom) asked.push('sbom')
  return asked
}

export interface ActionInputs {
  registry: string
  registryType: string
  username: string
  token: string
  owner: string
  repository: string
  imageName: string
  /** The user's tags; empty means "derive them from the event". */
  tags: string[]
  tagsMode: TagsMode
  context: string
  file: string
  buildArgs: string[]
  labels: string[]
  target: string
  pull: boolean
  noCache: boolean
  /** undefined when not given: true, except on pull requests from forks (tags.ts resolvePush). */
  push: boolean | undefined
  /** Retries of transient registry failures per operation (login, push, each API request). */
  retries: number
  /** An existing local image (ID or reference) to publish instead of building; '' to build. */
  sourceImage: string
  buildx: BuildxSettings
  /** The buildx builder to use (`--builder`); '' for the one the runner's Docker config selects. */
  builder: string
  /** Also load a build BuildKit pushes into the engine (`--load`), for later steps. */
  load: boolean
  /** Platforms to build for with buildx (which then pushes itself); empty for a plain build. */
  platforms: string[]
  /** buildx --provenance value: 'false' (the default), 'true', 'mode=min' or 'mode=max'. */
  provenance: string
  sbom: boolean
  /** The attestations asked (provenance unless false, sbom), in that order: none is []. */
  attestations: Attestation[]
  /** Push the image without a tag, for a later merge-digests. */
  pushByDigest: boolean
  /** Images to merge into one index instead of building; empty to build. */
  mergeDigests: MergeEntry[]
  /** media-types: oci or docker; undefined when not given (the registry-type's default). */
  mediaTypes: MediaTypeFamily | undefined
  /** context as the workflow wrote it ('' when not given: context is then '.'). */
  rawContext: string
  /** Workflow context: GITHUB_REPOSITORY and GITHUB_SERVER_URL. */
  contextRepository: string
  serverUrl: string
  /** secrets, ssh, cache, build-contexts, annotations (build-options.ts). */
  build: BuildOptions
  /** Also log the runner's Docker config in, for the job's later steps; the post step undoes it. */
  keepLogin: boolean
  /** Where the build cache comes from and goes (plan/cache.ts). */
  cache: CacheMode
}
