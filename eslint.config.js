/**
 * ESLint, and the one direction between the layers of src/.
 *
 * Layers, lowest first. A module may import from its own folder and from any layer below its own,
 * never from one above (docs/development.md, "Layers"):
 *
 *   1. util/, state.ts   the ground floor: retries, concurrency, text, advice phrases, state names
 *   2. oci/              the image model: media types, descriptors, platforms, digests
 *   3. registry/         the registry client
 *   4. github/           what the runner and GitHub tell the step: context, hosts, API
 *   5. docker/           the docker CLI and its formats (save archives, buildx's syntax)
 *   6. plan/             pure decisions from the inputs; every user error
 *   7. report/           outputs, summary, diagnostics
 *   8. session/          the adapters of one run, preflight and login
 *   9. produce/          build, or find, the image
 *  10. publish/          push it
 *  11. main.ts, post.ts, index.ts   the entries
 *
 * `no-restricted-imports` enforces the order (so no two folders can import each other), and
 * import-x's `no-cycle` forbids a circle of imports inside a folder too.
 */
import js from '@eslint/js'
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'
import importX from 'eslint-plugin-import-x'
import globals from 'globals'
import tseslint from 'typescript-eslint'

/** Folders (or files of src/ itself) by layer, lowest first. */
export const LAYERS = [
  ['util', 'state.ts'],
  ['oci'],
  ['registry'],
  ['github'],
  ['docker'],
  ['plan'],
  ['report'],
  ['session'],
  ['produce'],
  ['publish'],
  ['main.ts', 'post.ts', 'index.ts']
]

const isFile = name => name.endsWith('.ts')
const order = LAYERS.map(layer => layer.join(', ')).join(' < ')

/** For every folder and top-level file: the imports of anything above its layer are refused. */
function layerRules() {
  return LAYERS.flatMap((layer, level) => {
    const above = LAYERS.slice(level + 1).flat()
    if (above.length === 0) return []
    return layer.map(name => {
      // From src/NAME/x.ts a folder above is '../FOLDER/…'; from src/NAME.ts it is './FOLDER/…'.
      const prefix = isFile(name) ? './' : '../'
      const group = above.flatMap(other =>
        isFile(other)
          ? [`${prefix}${other.replace(/\.ts$/, '.js')}`]
          : [`${prefix}${other}`, `${prefix}${other}/**`]
      )
      return {
        files: [isFile(name) ? `src/${name}` : `src/${name}/**/*.ts`],
        rules: {
          'no-restricted-imports': [
            'error',
            {
              patterns: [
                {
                  group,
                  message: `${isFile(name) ? `src/${name}` : `src/${name}/`} may import only from its own layer and those below (${order}); move what both sides need down a layer.`
                }
              ]
            }
          ]
        }
      }
    })
  })
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'lib/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }]
    }
  },
  ...layerRules(),
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      // How import-x reads the modules an import leads to: TypeScript, found as tsc finds them.
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver()]
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] }
  }
)
