#!/usr/bin/env bash
# All the tests, from a bare Debian machine: installs what they need, runs lint, type check and
# unit tests, then the end-to-end tests against the committed dist/index.js on two real Docker
# engines with real registries on loopback (scripts/e2e-env.sh), and stops what it started:
#   classic: this machine's Debian 12 Docker 20.10 (classic image store, no buildx): every e2e file
#            but the modern engine's;
#   modern:  Debian forky's Docker 28.5 with buildx and the containerd image store: the files about
#            building, publishing and the image formats of that store ($MODERN_FILES).
# dist/index.js runs on Node.js 24, the runner's (action.yml: node24), installed from the npm
# registry into the cache; jest itself runs on this machine's Node.js (20+).
#
# Environment: E2E_DIR (state directory of the engines; one engine at a time), E2E_CACHE (see
# scripts/e2e-env.sh), E2E_ENGINES (default "classic modern"), E2E_NODE (a Node.js 24 to use).
set -euo pipefail
cd "$(dirname "$0")/.."

# The e2e files that run on the modern engine (the others assume the classic store or no buildx).
MODERN_FILES=(
  __tests__/e2e/modern-engine.test.ts
  __tests__/e2e/build-buildx.test.ts
  __tests__/e2e/e2e-env.test.ts
  __tests__/e2e/metadata.test.ts
  __tests__/e2e/registry-client.test.ts
  __tests__/e2e/retries.test.ts
  __tests__/e2e/diagnostics.test.ts
  __tests__/e2e/token-scopes.test.ts
)
# Files that only the modern engine can run.
MODERN_ONLY='modern-engine\.test\.ts'
ENGINES=${E2E_ENGINES:-classic modern}
CACHE=$(realpath -m -- "${E2E_CACHE:-/var/cache/publish-container}")

command -v node >/dev/null || { echo "Node.js 20+ is needed (apt-get install nodejs npm)" >&2; exit 1; }

t_all=$SECONDS
phase_start=$SECONDS
timings=()
# phase_done NAME: records how long the phase took (printed at the end, and now).
phase_done() {
  local took=$((SECONDS - phase_start))
  timings+=("$(printf '%-30s %4d s' "$1" "$took")")
  echo "-- $1: ${took} s"
  phase_start=$SECONDS
}

echo "== setup: packages, node_modules, Node.js 24"
# git, openssl, curl, iproute2, docker.io, docker-registry, skopeo, debootstrap, ...: every
# command the tests and scripts run (apt's output goes to a log file, no service left enabled).
E2E_ENGINE=modern scripts/e2e-env.sh install
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
if [ -z "${E2E_NODE:-}" ]; then
  E2E_NODE="$CACHE/node24/node_modules/node/bin/node"
  if ! "$E2E_NODE" --version 2>/dev/null | grep -q '^v24\.'; then
    echo "installing Node.js 24 (npm package node@24) into $CACHE/node24"
    mkdir -p "$CACHE/node24"
    npm install --prefix "$CACHE/node24" --no-audit --no-fund --no-save node@24 >"$CACHE/node24.log" 2>&1 ||
      { tail -n 20 "$CACHE/node24.log" >&2; echo "npm install node@24 failed (log: $CACHE/node24.log)" >&2; exit 1; }
  fi
fi
"$E2E_NODE" --version | grep -q '^v24\.' || { echo "E2E_NODE=$E2E_NODE is not Node.js 24" >&2; exit 1; }
export E2E_NODE
echo "dist/index.js runs on $E2E_NODE ($("$E2E_NODE" --version)); jest on $(node --version)"
phase_done setup

results=$(mktemp -d)
# Every temporary file of the tests goes below one folder, removed at the end.
TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/publish-container-tests.XXXXXX")
export TMPDIR
started_env=""
cleanup() {
  if [ -n "$started_env" ]; then scripts/e2e-env.sh stop || true; fi
  started_env=""
}

# Writes one JSON line per test file as it finishes, and one when the run completes: the tally
# still counts what ran when jest (or its --json report) dies half-way.
cat >"$results/tally-reporter.cjs" <<'JS'
const fs = require('fs')
module.exports = class {
  constructor() { this.file = process.env.TALLY_FILE }
  write(o) { fs.appendFileSync(this.file, JSON.stringify(o) + '\n') }
  onTestResult(_test, r) {
    this.write({ file: r.testFilePath, passed: r.numPassingTests, failed: r.numFailingTests,
      crashed: r.testExecError ? 1 : 0 })
  }
  onRunComplete() { this.write({ complete: true }) }
}
JS

# run_jest NAME ARGS...: one jest run, its reports in $results/NAME.*; never stops the script.
run_jest() {
  local name=$1 rc=0
  shift
  TALLY_FILE="$results/$name.jsonl" NODE_OPTIONS=--experimental-vm-modules npx jest "$@" \
    --json --outputFile="$results/$name.json" \
    --reporters=default --reporters="$results/tally-reporter.cjs" || rc=$?
  echo "$rc" >"$results/$name.rc"
}

# The closing line, "tests: N passed, N failed", over every run: from jest's JSON report, or
# when it is missing or unreadable, from the per-file lines (plus one failure for the crashed
# run); a run that exited non-zero with no failed test counts one failure too.
report() {
  node -e '
    const fs = require("fs")
    const dir = process.argv[1]
    let passed = 0, failed = 0
    const notes = []
    for (const rcFile of fs.readdirSync(dir).filter(f => f.endsWith(".rc")).sort()) {
      const name = rcFile.slice(0, -3)
      const rc = Number(fs.readFileSync(`${dir}/${rcFile}`, "utf8").trim())
      let p = 0, f = 0, complete = false
      try {
        const r = JSON.parse(fs.readFileSync(`${dir}/${name}.json`, "utf8"))
        for (const s of r.testResults) {
          const statuses = (s.assertionResults || []).map(a => a.status)
          p += statuses.filter(x => x === "passed").length
          const bad = statuses.filter(x => x === "failed").length
          f += bad || (s.status === "failed" ? 1 : 0)
        }
        complete = true
      } catch {
        let lines = []
        try { lines = fs.readFileSync(`${dir}/${name}.jsonl`, "utf8").split("\n").filter(Boolean).map(l => JSON.parse(l)) } catch {}
        for (const l of lines) {
          if (l.complete) complete = true
          else { p += l.passed; f += l.failed + l.crashed }
        }
        notes.push(`${name}: no readable JSON report; counted ${lines.filter(l => !l.complete).length} file(s) from the per-file lines`)
      }
      if (!complete) { f += 1; notes.push(`${name}: the run did not complete (counted as 1 failed)`) }
      else if (rc !== 0 && f === 0) { f += 1; notes.push(`${name}: jest exited ${rc} with no failed test (counted as 1 failed)`) }
      passed += p; failed += f
      console.log(`   ${name}: ${p} passed, ${f} failed`)
    }
    for (const n of notes) console.log(`   note: ${n}`)
    console.log(`tests: ${passed} passed, ${failed} failed`)
    process.exitCode = failed ? 1 : 0
  ' "$results"
}

finish() {
  local code=$?
  cleanup
  echo "== timings"
  for t in "${timings[@]}"; do echo "   $t"; done
  printf '   %-30s %4d s\n' total $((SECONDS - t_all))
  if report; then :; else code=1; fi
  rm -rf "$results" "$TMPDIR"
  exit "$code"
}
trap finish EXIT

echo "== lint and type check"
npm run -s lint
npm run -s typecheck
phase_done "lint and type check"

echo "== unit tests"
run_jest unit --selectProjects unit
phase_done "unit tests"

for engine in $ENGINES; do
  echo "== end-to-end tests on the $engine engine"
  # The image store named too: a shell that sourced an env file exports E2E_IMAGE_STORE.
  store=classic
  [ "$engine" = classic ] || store=containerd
  if ! E2E_ENGINE=$engine E2E_IMAGE_STORE=$store scripts/e2e-env.sh status >/dev/null 2>&1; then started_env=1; fi
  if ! env_file=$(E2E_ENGINE=$engine E2E_IMAGE_STORE=$store scripts/e2e-env.sh start | tail -n 1); then
    echo "the $engine engine did not start" >&2
    echo 1 >"$results/e2e-$engine.rc" # a run that never completed: counted as failed
    cleanup
    continue
  fi
  (
    # shellcheck disable=SC1090
    source "$env_file"
    echo "Docker $E2E_ENGINE_VERSION, image store: $E2E_IMAGE_STORE"
    if [ "$engine" = modern ]; then
      run_jest "e2e-$engine" --selectProjects e2e --runInBand "${MODERN_FILES[@]}"
    else
      run_jest "e2e-$engine" --selectProjects e2e --runInBand --testPathIgnorePatterns "$MODERN_ONLY"
    fi
  )
  # One engine at a time per E2E_DIR: stop this one (if this script started it) before the next.
  cleanup
  phase_done "end-to-end ($engine engine)"
done
