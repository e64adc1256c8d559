/** Types of action-runner.js (the runner simulation shared by the e2e harness and the bench). */
export declare const ROOT: string

export declare function parseFileCommand(text: string): Record<string, string>

export declare function actionInputs(
  actionDir?: string
): Record<string, { description?: string; default?: unknown }>

export declare function withInputs(
  env: Record<string, string>,
  inputs: Record<string, string>,
  actionDir?: string
): Record<string, string>

export declare function withState(
  env: Record<string, string>,
  stateFile: string
): Record<string, string>

export interface RunnerDirs {
  root: string
  workspace: string
  temp: string
  home: string
  dockerConfig: string
  toolCache: string
  files: { output: string; state: string; summary: string }
}

export declare function makeRunnerDirs(options?: {
  prefix?: string
  parent?: string
  keep?: { home?: string; toolCache?: string; workspace?: string }
  cliPlugins?: string
}): RunnerDirs

export declare function runnerEnv(
  dirs: RunnerDirs,
  extra?: Record<string, string>,
  from?: NodeJS.ProcessEnv
): Record<string, string>

export interface StepRun {
  code: number
  lines: { t: number; text: string }[]
  out: string
  ms: number
}

export declare function runStep(
  node: string,
  script: string,
  options: { cwd: string; env: Record<string, string> }
): Promise<StepRun>
