/**
 * A stage of the run that talks to docker or the registry: when it fails, GitHub's guidance for
 * that stage (diagnostics.ts) is added to the error, so no stage has to pass an explainer around.
 */
import { withExplanation, type Phase } from './diagnostics.js'

export async function phase<T>(name: Phase, registry: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (error) {
    throw withExplanation(error, { phase: name, registry })
  }
}
