/**
 * The one direction between the layers of src/ (eslint.config.js; docs/development.md, "Layers"):
 * ESLint refuses an import of a higher layer and a circle of imports, shown on fixture strings;
 * and src/ as it is has no circle even counting type-only imports, which import-x's no-cycle skips.
 */
import { describe, expect, it } from '@jest/globals'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import * as path from 'node:path'

const ROOT = path.resolve(
  import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname),
  '../..'
)

/** ESLint's verdict on `text` as if it were the file `file` of the repository. */
function lint(file: string, text: string): { ruleId: string | null; message: string }[] {
  const result = spawnSync(
    process.execPath,
    [
      path.join(ROOT, 'node_modules/eslint/bin/eslint.js'),
      '--format',
      'json',
      '--stdin',
      '--stdin-filename',
      file
    ],
    { cwd: ROOT, input: text, encoding: 'utf8' }
  )
  const [report] = JSON.parse(result.stdout) as {
    messages: { ruleId: string | null; message: string }[]
  }[]
  return report.messages
}

const restricted = (messages: { ruleId: string | null }[]) =>
  messages.filter(m => m.ruleId === 'no-restricted-imports')

describe('layers (eslint.config.js)', () => {
  it('refuses an import of a higher layer, naming the order', () => {
    const messages = lint(
      'src/docker/fixture.ts',
      "import { makePlan } from '../plan/plan.js'\nexport const f = makePlan\n"
    )
    expect(restricted(messages)).toHaveLength(1)
    expect(restricted(messages)[0]).toMatchObject({
      message: expect.stringContaining(
        'src/docker/ may import only from its own layer and those below'
      )
    })
  }, 120_000)

  it('refuses type-only up-imports and up-imports from a top-level file too', () => {
    expect(
      restricted(
        lint(
          'src/util/fixture.ts',
          "import type { Plan } from '../plan/plan.js'\nexport type P = Plan\n"
        )
      )
    ).toHaveLength(1)
    expect(
      restricted(
        lint(
          'src/state.ts',
          "import { publish } from './publish/publish.js'\nexport const p = publish\n"
        )
      )
    ).toHaveLength(1)
  }, 120_000)

  it('lets a module import its own folder and the layers below', () => {
    const messages = lint(
      'src/docker/fixture.ts',
      "import { quote } from '../util/text.js'\nimport { sha256 } from '../oci/digest.js'\n" +
        "import type { Docker } from './cli.js'\nexport const f = [quote, sha256] as unknown as Docker\n"
    )
    expect(messages).toEqual([])
  }, 120_000)

  it('refuses a circle of imports inside a folder', () => {
    const tags = readFileSync(path.join(ROOT, 'src/plan/tags.ts'), 'utf8')
    const messages = lint(
      'src/plan/tags.ts',
      `${tags}\nimport { makePlan } from './plan.js'\nexport const again = makePlan\n`
    )
    expect(messages.map(m => m.ruleId)).toContain('import-x/no-cycle')
  }, 120_000)
})

describe('src/ has no import circle, type-only imports included', () => {
  const SRC = path.join(ROOT, 'src')
  const files = (readdirSync(SRC, { recursive: true }) as string[])
    .filter(f => f.endsWith('.ts'))
    .map(f => path.join(SRC, f))

  /** Relative imports and re-exports of a file, resolved to .ts files (`./x.js` is `./x.ts`). */
  function importsOf(file: string): string[] {
    const text = readFileSync(file, 'utf8')
    const specifiers = [...text.matchAll(/^(?:import|export)\b[^'"]*?from\s+'(\.{1,2}\/[^']+)'/gm)]
    return specifiers.map(m => path.resolve(path.dirname(file), m[1].replace(/\.js$/, '.ts')))
  }

  it('finds the imports it walks', () => {
    expect(importsOf(path.join(SRC, 'plan/plan.ts'))).toContain(path.join(SRC, 'plan/inputs.ts'))
    expect(files.length).toBeGreaterThan(50)
  })

  it('has none', () => {
    const graph = new Map(files.map(f => [f, importsOf(f)]))
    const circles: string[] = []
    const state = new Map<string, 'open' | 'done'>()
    const walk = (file: string, trail: string[]): void => {
      if (state.get(file) === 'done') return
      if (state.get(file) === 'open') {
        circles.push(
          [...trail.slice(trail.indexOf(file)), file].map(f => path.relative(SRC, f)).join(' → ')
        )
        return
      }
      state.set(file, 'open')
      for (const next of graph.get(file) ?? []) walk(next, [...trail, file])
      state.set(file, 'done')
    }
    for (const file of files) walk(file, [])
    expect(circles).toEqual([])
  })
})
