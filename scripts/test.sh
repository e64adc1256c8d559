#!/usr/bin/env bash
# All the tests, from a bare Debian machine: installs what they need, runs lint, type check and
# unit tests, then the end-to-end tests against the committed dist/index.js on real Docker engines
# with real registries on loopback (scripts/e2e-env.sh), and stops what it started. The e2e tests
# run in three lanes at once, each with an engine and registries of its own ($E2E_DIR-LANE):
#   modern:         Debian forky's Docker 28.5 + buildx 0.29 + containerd 2.1, containerd image
#                   store (Docker 29's default: ubuntu-latest, self-hosted): every e2e file, but
#                   the tests about old engines ($OLD_ENGINE_TESTS);
#   modern-classic: the same engine on the classic image store (Docker 25-28: ubuntu-24.04,
#                   22.04): the files whose outcome depends on the store ($STORE_FILES), and the
#                   slowest engine-independent one, to even the lanes out;
#   classic:        Debian 12's Docker 20.10 (no buildx, built-in BuildKit, docker save before
#                   Engine 25): the tests about old engines, and the two files that never reach
#                   an engine ($NO_ENGINE_FILES), to even the lanes out.
# dist/index.js runs on Node.js 24, the runner's (action.yml: node24), installed from the npm
# registry into the cache; jest itself runs on this machine's Node.js (20+).
#
# Environment: E2E_DIR (prefix of the lanes' state directories; default /tmp/publish-container-e2e),
# E2E_CACHE (see scripts/e2e-env.sh), E2E_LANES (default "modern modern-classic classic"),
# E2E_NODE (a Node.js 24 to use).
set -euo pipefail
cd "$(dirname "$0")/.."

E2E=__tests__/e2e
# Tests about engines before 25 and runners without buildx (jest test names, a regex): only on
# 20.10, where they mean something (the modern lanes' runners have buildx and Engine 28.5).
OLD_ENGINE_TESTS='built-in BuildKit|on a runner without buildx|platforms without buildx'
# On 20.10 also: its side of the tests that differ by engine (the modern side runs on 28.5), the
# pre-25 docker save format through the main publish test, and the env script on that engine.
CLASSIC_TESTS="$OLD_ENGINE_TESTS|buildx-only inputs on the classic engine|docker scheme|publishes three tags, outputs the registry digest|scripts/e2e-env\\.sh on the classic engine"
CLASSIC_FILES=(
  "$E2E/build-step.test.ts" "$E2E/buildx-install.test.ts" "$E2E/multi-platform.test.ts"
  "$E2E/publish.test.ts" "$E2E/build-buildx.test.ts" "$E2E/e2e-env.test.ts"
)
# Files that never reach an engine (bad input fails before any docker call; the release script
# runs git and the build): they run once, in the classic lane.
NO_ENGINE_FILES=("$E2E/bad-inputs.test.ts" "$E2E/release.test.ts")
# Files whose outcome depends on the image store (what docker save gives, what buildx may do,
# image IDs, the push history): on both stores of the modern engine.
STORE_FILES=(
  "$E2E/publish.test.ts" "$E2E/source-image.test.ts" "$E2E/media-types.test.ts"
  "$E2E/multi-platform.test.ts" "$E2E/metadata.test.ts" "$E2E/build-buildx.test.ts"
  "$E2E/build-step.test.ts" "$E2E/tls-registry.test.ts" "$E2E/retries.test.ts"
  "$E2E/e2e-env.test.ts" "$E2E/push-route.test.ts" "$E2E/buildkit-push.test.ts" "$E2E/hostile-registry.test.ts"
  "$E2E/build-cache.test.ts"
)
# The slowest engine-independent file (a slow link is 80 s by itself): in the lighter modern lane.
MODERN_CLASSIC_EXTRA=("$E2E/push-faults.test.ts")
LANES=${E2E_LANES:-modern modern-classic classic}
BASE_DIR=$(realpath -m -- "${E2E_DIR:-/tmp/publish-container-e2e}")
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
# stop_lanes: stops the engine of every lane this script started (their directories are listed in
# $results/started-LANE).
stop_lanes() {
  local f
  for f in "$results"/started-*; do
    [ -e "$f" ] || continue
    E2E_DIR=$(cat "$f") scripts/e2e-env.sh stop || true
    rm -f "$f"
  done
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
  stop_lanes
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

# run_lane LANE: starts the lane's engine (or reuses it), runs its e2e files; output to
# $results/lane-LANE.log, duration to $results/lane-LANE.time. Runs in the background.
run_lane() {
  local lane=$1 engine=modern store=containerd dir="$BASE_DIR-$1" env_file t0=$SECONDS
  case $lane in
    modern) ;;
    modern-classic) store=classic ;;
    classic) engine=classic store=classic ;;
    *) echo "unknown lane '$lane' (E2E_LANES: modern, modern-classic, classic)"; echo 1 >"$results/e2e-$lane.rc"; return ;;
  esac
  # The engine and store named: a shell that sourced an env file exports E2E_ENGINE/E2E_IMAGE_STORE.
  local envs=(E2E_DIR="$dir" E2E_ENGINE="$engine" E2E_IMAGE_STORE="$store")
  if ! env "${envs[@]}" scripts/e2e-env.sh status >/dev/null 2>&1; then echo "$dir" >"$results/started-$lane"; fi
  if ! env_file=$(env "${envs[@]}" scripts/e2e-env.sh start | tail -n 1); then
    echo "the $lane lane's engine did not start"
    echo 1 >"$results/e2e-$lane.rc" # a run that never completed: counted as failed
    return
  fi
  (
    # shellcheck disable=SC1090
    source "$env_file"
    echo "lane $lane: Docker $E2E_ENGINE_VERSION, image store: $E2E_IMAGE_STORE ($dir)"
    local jest=(--selectProjects e2e --runInBand)
    case $lane in
      modern)
        local skip=("${NO_ENGINE_FILES[@]}" "${MODERN_CLASSIC_EXTRA[@]}")
        run_jest "e2e-$lane" "${jest[@]}" --testPathIgnorePatterns "${skip[@]}" \
          --testNamePattern "^(?!.*($OLD_ENGINE_TESTS))" ;;
      modern-classic)
        run_jest "e2e-$lane" "${jest[@]}" --testNamePattern "^(?!.*($OLD_ENGINE_TESTS))" \
          "${STORE_FILES[@]}" "${MODERN_CLASSIC_EXTRA[@]}" ;;
      classic)
        run_jest "e2e-$lane" "${jest[@]}" --testNamePattern "$CLASSIC_TESTS" "${CLASSIC_FILES[@]}"
        run_jest "e2e-$lane-no-engine" "${jest[@]}" "${NO_ENGINE_FILES[@]}" ;;
    esac
  )
  echo $((SECONDS - t0)) >"$results/lane-$lane.time"
}

echo "== end-to-end tests: lanes $LANES, at once (each lane's output follows when all are done)"
pids=()
for lane in $LANES; do
  run_lane "$lane" >"$results/lane-$lane.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || true; done
for lane in $LANES; do
  echo "== end-to-end tests, lane $lane"
  cat "$results/lane-$lane.log"
  timings+=("$(printf '%-30s %4s s' "  lane $lane" "$(cat "$results/lane-$lane.time" 2>/dev/null || echo '?')")")
done
stop_lanes
phase_done "end-to-end (lanes at once)"
