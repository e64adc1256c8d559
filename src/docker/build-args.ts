/** The argv of `docker build` and `docker buildx build`: every value a separate entry, no shell. */

export interface BuildRequest {
  context: string
  file: string
  tags: string[]
  buildArgs: string[]
  labels: string[]
  target: string
  pull: boolean
  noCache: boolean
}

/** A buildx build for `platforms`, which buildx pushes itself (the image store cannot hold it). */
export interface PlatformBuildRequest extends BuildRequest {
  platforms: string[]
  /**
   * Pushed as `name` (IMAGE:TAG; IMAGE alone when by digest: no tag at all), or only built (the
   * build is checked, nothing is stored).
   */
  output: { push: true; name: string; byDigest: boolean } | { push: false }
  /** --provenance value: false, true, mode=min, mode=max. */
  provenance: string
  sbom: boolean
  /** KEY=VALUE annotations of the index (given only when the result is an index). */
  indexAnnotations: string[]
}

/** What buildx wrote to --metadata-file about the pushed image. */
export interface BuildxResult {
  /** The pushed manifest or index (containerimage.digest); undefined when nothing was pushed. */
  digest?: string
  /** The image config (single platform only). */
  configDigest?: string
}

/** Arguments of a `docker buildx build` for `platforms`, in order. */
export function platformBuildArgs(req: PlatformBuildRequest, metadataFile: string): string[] {
  const args = ['buildx', 'build', '--platform', req.platforms.join(',')]
  args.push(`--provenance=${req.provenance}`, `--sbom=${req.sbom}`)
  if (req.output.push) {
    const byDigest = req.output.byDigest ? ',push-by-digest=true,name-canonical=true' : ''
    args.push('--output', `type=image,name=${req.output.name}${byDigest},push=true`)
  } else {
    args.push('--output', 'type=cacheonly')
  }
  args.push('--metadata-file', metadataFile)
  if (req.file) args.push('--file', req.file)
  for (const arg of req.buildArgs) args.push('--build-arg', arg)
  for (const label of req.labels) args.push('--label', label)
  for (const annotation of req.indexAnnotations) args.push('--annotation', `index:${annotation}`)
  if (req.target) args.push('--target', req.target)
  if (req.pull) args.push('--pull')
  if (req.noCache) args.push('--no-cache')
  args.push(req.context)
  return args
}

/** Build arguments, in order. `builder` is 'buildx' when the plugin is present. */
export function buildArgs(
  req: BuildRequest,
  builder: 'buildx' | 'classic',
  iidFile: string
): string[] {
  const args = builder === 'buildx' ? ['buildx', 'build', '--load'] : ['build']
  for (const tag of req.tags) args.push('--tag', tag)
  if (req.file) args.push('--file', req.file)
  for (const arg of req.buildArgs) args.push('--build-arg', arg)
  for (const label of req.labels) args.push('--label', label)
  if (req.target) args.push('--target', req.target)
  if (req.pull) args.push('--pull')
  if (req.noCache) args.push('--no-cache')
  args.push('--iidfile', iidFile)
  args.push(req.context)
  return args
}
