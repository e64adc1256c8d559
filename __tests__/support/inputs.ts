/** The action's inputs as makePlan has them: read (plan/inputs.ts), then checked together (rules.ts). */
import type { ActionInputs } from '../../src/plan/action-inputs.js'
import { readInputs } from '../../src/plan/inputs.js'
import { checkInputCombinations } from '../../src/plan/rules.js'

type Run = Parameters<typeof readInputs>[0]

export function checkedInputs(
  values: Record<string, string>,
  run: Run = { actor: '', repository: '', serverUrl: '' }
): ActionInputs {
  const inputs = readInputs(run, name => values[name] ?? '')
  checkInputCombinations(inputs)
  return inputs
}
