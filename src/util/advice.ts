/**
 * Advice phrases that messages of several layers share (the plan's refusals, buildx's errors, the
 * diagnostics of a failed push), defined once on the ground floor so that no layer reaches up or
 * sideways for a sentence.
 */

/** The matrix way, named in every message about building for several platforms. */
export const MATRIX_WAY =
  'or build each platform on a runner of its own with push-by-digest: true and merge the digests ' +
  'with merge-digests (see "Multi-platform images" in the README)'

/** The tokens GitHub Packages accepts (docs/facts/github-registries.md, "Credentials"). */
export const TOKEN_KINDS =
  'GITHUB_TOKEN (with `permissions: packages: write`) or a classic personal access token with ' +
  'write:packages; fine-grained tokens are not accepted by GitHub Packages'
