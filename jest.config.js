// Two projects: fast unit tests (docker CLI stubbed) and end-to-end tests that run the bundled
// dist/index.js against a real Docker engine and registry started by scripts/e2e-env.sh.
// Every test file runs with a temporary folder of its own that must be empty when it is done
// (__tests__/support/tidy-environment.js).
const common = {
  testEnvironment: '<rootDir>/__tests__/support/tidy-environment.js',
  moduleFileExtensions: ['ts', 'js', 'json'],
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true }] },
  transformIgnorePatterns: ['node_modules/(?!(@actions)/)'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  clearMocks: true
}

export default {
  verbose: true,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/__tests__/unit/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/__tests__/e2e/**/*.test.ts'] }
  ]
}
