/**
 * What the stages of one run share: the registry client (with the action's retries), docker with
 * the action's own config directory, and work started ahead in the background (the registry
 * token, the buildx probe, the repository's description) that never outlives the step: close()
 * stops what is still running and waits for it.
 */
import * as core from '@actions/core'
import { Docker } from '../docker/cli.js'
import { createActionConfig } from '../docker/config.js'
import type { RunContext } from '../github/context.js'
import type { Plan } from '../plan/plan.js'
import { repositoryScope } from '../registry/auth.js'
import { RegistryClient, isLoopback, type RegistryClientOptions } from '../registry/client.js'
import { saveState } from '../state.js'
import { DEFAULT_POLICY, type RetryPolicy } from '../util/retry.js'
import { outside } from '../util/text.js'

/**
 * The adapters a session talks to the outside through; by default the docker CLI and the action's
 * registry client. Tests give fakes (an in-process run of main.ts).
 */
export interface Adapters {
  /** docker with the given Docker config directory. */
  docker?: (configDir: string) => Docker
  /** The registry client, made from the session's options (retries, abort signal, TLS). */
  registry?: (options: RegistryClientOptions) => RegistryClient
}

export class Session {
  readonly registry: RegistryClient
  readonly policy: RetryPolicy
  private readonly stop = new AbortController()
  private readonly pending: Promise<unknown>[] = []
  private dockerCli: { docker: Docker; configDir: string } | undefined
  private readonly makeDocker: (configDir: string) => Docker
  /** The engine's version (`docker version`), once main.ts's probe answered (preflight, produce). */
  engineVersion = ''

  constructor(
    readonly run: RunContext,
    readonly plan: Plan,
    adapters: Adapters = {}
  ) {
    this.policy = { ...DEFAULT_POLICY, retries: plan.inputs.retries }
    this.makeDocker = adapters.docker ?? (dir => new Docker(dir))
    const makeRegistry = adapters.registry ?? (options => new RegistryClient(options))
    this.registry = makeRegistry({
      registry: plan.names.registry,
      username: plan.inputs.username,
      password: plan.inputs.token,
      retry: this.policy,
      signal: this.stop.signal,
      onRetry: message => core.info(`Transient failure: ${outside(message)}`),
      onSecret: value => core.setSecret(value),
      tls: run.tls,
      // An unverified certificate is docker's way with insecure registries: worth a warning
      // unless the registry is on this machine.
      onTransport: note => (isLoopback(plan.names.registry) ? core.info(note) : core.warning(note))
    })
  }

  /**
   * Starts `work` now, to be awaited later by whoever needs it; a failure waits for them (it is
   * not an unhandled rejection meanwhile). close() waits for it in any case.
   */
  background<T>(work: Promise<T>): Promise<T> {
    this.pending.push(work.catch(() => undefined))
    return work
  }

  /** The registry token for the push, asked for ahead (no 401 round trip at upload time). */
  warmUp(): Promise<void> | undefined {
    const { names, push } = this.plan
    if (!push) return undefined
    // A failure here is not one: the upload asks again, and reports what goes wrong then.
    return this.background(
      this.registry
        .authorize([repositoryScope(names.path, ['pull', 'push'])])
        .catch(() => undefined)
    )
  }

  /**
   * docker, with a Docker config directory of the action's own (the token never lands in the
   * runner's); recorded in the step's state so the post step removes it.
   */
  get docker(): { docker: Docker; configDir: string } {
    if (!this.dockerCli) {
      const config = createActionConfig(
        this.plan.names.registry,
        this.run.dockerConfig,
        this.run.temp
      )
      saveState('configDir', config.dir)
      saveState('registry', this.plan.names.registry)
      config.warnings.forEach(w => core.warning(w))
      this.dockerCli = { docker: this.makeDocker(config.dir), configDir: config.dir }
    }
    return this.dockerCli
  }

  /** Stops what still runs in the background, and waits until it has stopped. */
  async close(): Promise<void> {
    this.stop.abort()
    await Promise.allSettled(this.pending)
  }
}
