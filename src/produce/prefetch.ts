/**
 * Fetching the cache source's layers into the engine while the build starts.
 *
 * buildx's docker driver builds in the engine's own BuildKit, which gets to the cache source's
 * layers (cache: auto reads the previous version) only once the whole context has been sent and
 * checksummed, and then unpacks them one after the other (docs/facts/build-cache.md):
 *   - on the classic image store dockerd downloads and unpacks every cached layer into its layer
 *     store, and skips a layer it holds already ("Already exists");
 *   - on the containerd image store BuildKit extracts the cached layers that a step which runs
 *     (the changed `COPY app`) is built on, and skips a layer whose snapshot containerd holds
 *     already under its chain ID, which is where `docker pull` unpacks it.
 * Either way a `docker pull` of the same version, started beside the build, moves that download
 * and unpacking to the time the context is being sent. On a fresh runner that is most of the
 * cache's cost. (On the containerd store it is wasted work beside the context when no step runs
 * on the cached layers: an unchanged context, or `COPY --link`.)
 *
 * The pull runs out of the log and is stopped once the build is over; the reference it added is
 * removed again (the layers the new image shares stay with it). An engine that has the image
 * already (an image whose ID is one of its configs' digests, as on a self-hosted runner that
 * built it, or the reference itself) pulls nothing and has nothing removed. Nothing here fails
 * the step: a failed pull only means the build fetches the layers itself, as it would have anyway.
 * What docker says of a failure (which may quote the registry) reaches the log as one line.
 */
import type { Docker } from '../docker/cli.js'
import { engineHolds } from './cache-source.js'
import { errorMessage } from '../util/errors.js'
import { oneLine } from '../util/text.js'

export interface Prefetch {
  /** Stops the pull if it still runs, removes what it added, and says in one line what it did. */
  finish(): Promise<string>
}

type Outcome =
  | { kind: 'known' }
  | { kind: 'pulled'; ok: boolean; detail: string; seconds: number }
  | { kind: 'failed'; detail: string }

export function prefetchLayers(
  docker: Docker,
  /** IMAGE@DIGEST of the cache source. */
  reference: string,
  /** The digests of its image configs: the IDs the classic store gives it. */
  configs: string[] = [],
  /** The one platform the build is for, when the workflow named it. */
  platform?: string,
  now: () => number = Date.now
): Prefetch {
  const start = now()
  const stop = new AbortController()
  let settled = false
  const work: Promise<Outcome> = (async (): Promise<Outcome> => {
    if (await engineHolds(docker, [...configs, reference])) return { kind: 'known' }
    const pulled = await docker.pull(reference, platform, stop.signal)
    return { kind: 'pulled', ...pulled, seconds: (now() - start) / 1000 }
  })()
    .catch((error: unknown): Outcome => ({ kind: 'failed', detail: errorMessage(error) }))
    .finally(() => {
      settled = true
    })

  return {
    async finish(): Promise<string> {
      const stopped = !settled
      stop.abort()
      const outcome = await work
      const what = `the cache source's layers (docker pull ${reference})`
      if (outcome.kind === 'known') {
        return `Prefetch: none needed, the engine has the image of ${reference}.`
      }
      if (outcome.kind === 'failed') {
        const why = oneLine(outcome.detail, 300)
        return `Prefetch of ${what} did not run (${why}); the build fetched what it used.`
      }
      if (!outcome.ok) {
        // Stopped by the end of the build, or failed: nothing is left to remove unless the pull
        // got as far as naming the image.
        await removeIfThere(docker, reference)
        const how = stopped
          ? `was stopped after ${outcome.seconds.toFixed(1)} s (the build was done first)`
          : `failed (${oneLine(outcome.detail, 300) || 'no reason given'})`
        return `Prefetch of ${what} ${how}; the build fetched what it used.`
      }
      // The pull named the image: its reference is there to remove.
      const removed = await docker.removeImage(reference).then(
        () => true,
        () => false
      )
      return (
        `Prefetch: ${what} fetched into the engine in ${outcome.seconds.toFixed(1)} s, while the ` +
        `context was sent${removed ? '; the reference removed again' : ''}.`
      )
    }
  }
}

async function removeIfThere(docker: Docker, reference: string): Promise<boolean> {
  try {
    if (!(await docker.localImageId(reference))) return false
    await docker.removeImage(reference)
    return true
  } catch {
    return false
  }
}
