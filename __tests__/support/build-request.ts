/** A build request with nothing asked (the defaults of every field), for tests to spread over. */
import type { BuildRequest } from '../../src/docker/build-args.js'

export function plainBuildRequest(): BuildRequest {
  return {
    context: '.',
    file: '',
    tags: [],
    buildArgs: [],
    labels: [],
    target: '',
    pull: false,
    noCache: false
  }
}
