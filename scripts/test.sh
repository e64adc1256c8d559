#!/usr/bin/env bash
# All the tests, from a bare Debian machine: installs what they need, starts a real Docker engine
# and registry on loopback (scripts/e2e-env.sh), runs lint, type check, unit and end-to-end tests
# against the committed dist/index.js, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v node >/dev/null || { echo "Node.js 20+ is needed (apt-get install nodejs npm)" >&2; exit 1; }
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

started_env=""
# Every temporary file of the tests goes below one folder, removed at the end.
TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/publish-container-tests.XXXXXX")
export TMPDIR
cleanup() { if [ -n "$started_env" ]; then scripts/e2e-env.sh stop || true; fi; }
trap 'cleanup; rm -rf "$TMPDIR"' EXIT

echo "== lint and type check"
npm run -s lint
npm run -s typecheck

results=$(mktemp -d)
# Adds up jest's JSON reports into one plain closing line: "tests: N passed, N failed".
report() {
  node -e '
    let p = 0, f = 0
    for (const file of process.argv.slice(1)) {
      try { const r = JSON.parse(require("fs").readFileSync(file, "utf8")); p += r.numPassedTests; f += r.numFailedTests + r.numRuntimeErrorTestSuites } catch { f += 1 }
    }
    console.log(`tests: ${p} passed, ${f} failed`)' "$results"/*.json
}
trap 'report; cleanup; rm -rf "$results" "$TMPDIR"' EXIT

echo "== unit tests"
NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects unit --json --outputFile="$results/unit.json"

echo "== end-to-end tests (real dockerd + distribution registry on loopback)"
if ! scripts/e2e-env.sh status >/dev/null 2>&1; then started_env=1; fi
env_file=$(scripts/e2e-env.sh start | tail -n 1)
# shellcheck disable=SC1090
source "$env_file"
NODE_OPTIONS=--experimental-vm-modules npx jest --selectProjects e2e --runInBand --json --outputFile="$results/e2e.json"
