#!/usr/bin/env bash
# How much the same work varies on the classic image store, run after run (docs/benchmark.md,
# "Classic store: the same build, run after run"). Not a benchmark of the action: it times what
# the Dockerfile bench's contenders do, alone, on one Docker 28.5 engine (classic store, overlay2).
#
#   scripts/classic-spread.sh [CONTEXT_DIR] [ROUNDS]
#
# CONTEXT_DIR: a build context with a Dockerfile (default: the Dockerfile bench's fixture,
# $TMPDIR/bench-dockerfile-fixture-full, made by `npm run bench -- dockerfile`). Its app/stamp file
# is rewritten before every build, as the bench does. ROUNDS: default 3.
#
# Each round, on the engine as the bench leaves it for a fresh job (images removed, build cache
# pruned, dockerd restarted without its push history):
#   1. once right after that reset, once after the engine has been idle for 3 s:
#      `docker buildx build --push` with no cache options (contender (b));
#   2. `docker pull` of the first image (what a cache source costs this store: every layer
#      downloaded and unpacked);
#   3. the cached build, with those layers now in the engine.
# Prints wall seconds and the CPU seconds of dockerd and containerd for each. The registry is on
# loopback with no added latency. Starts its own engine in E2E_DIR and stops it at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTEXT=${1:-${TMPDIR:-/tmp}/bench-dockerfile-fixture-full}
ROUNDS=${2:-3}
[[ -f "$CONTEXT/Dockerfile" ]] || {
  echo "no Dockerfile in $CONTEXT: run npm run bench -- dockerfile once, or give a context" >&2
  exit 2
}
export E2E_DIR=${E2E_DIR:-/tmp/publish-container-spread} E2E_ENGINE=modern E2E_IMAGE_STORE=classic
envfile=$(scripts/e2e-env.sh start | tail -n1)
# shellcheck disable=SC1090
source "$envfile"
trap 'scripts/e2e-env.sh stop >/dev/null 2>&1 || true; rm -rf "$DOCKER_CONFIG"' EXIT
DOCKER_CONFIG=$(mktemp -d)
export DOCKER_CONFIG
if [[ -n "${E2E_DOCKER_CLI_PLUGINS:-}" ]]; then
  printf '{"cliPluginsExtraDirs":["%s"]}\n' "$E2E_DOCKER_CLI_PLUGINS" >"$DOCKER_CONFIG/config.json"
fi
docker login "$E2E_REGISTRY" -u "$E2E_REGISTRY_USER" --password-stdin <<<"$E2E_REGISTRY_PASSWORD" >/dev/null 2>&1
repo=$E2E_REGISTRY/spread/app
base=${E2E_BASE_IMAGE%%:*}

# CPU ticks (1/100 s) of the engine's processes so far.
ticks() {
  local p total=0 t
  for p in $(pgrep -f 'dockerd|containerd'); do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || continue
    total=$((total + t))
  done
  echo "$total"
}
timed() {
  local what=$1 start end t0 t1
  shift
  t0=$(ticks) start=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s.%N) t1=$(ticks)
  printf '%-44s %6.1f s wall, engine CPU %5.1f s\n' "$what" "$(echo "$end - $start" | bc)" "$(echo "($t1 - $t0) / 100" | bc -l)"
}
stamp() { echo "stamp-$RANDOM-$(date +%s%N)" >"$CONTEXT/app/stamp"; }
cold() {
  docker image ls --format '{{.ID}} {{.Repository}}' | { grep -v " $base\$" || true; } | cut -d' ' -f1 | sort -u |
    while read -r id; do docker image rm -f "$id" >/dev/null 2>&1 || true; done
  docker builder prune -af >/dev/null
  scripts/e2e-env.sh forget-pushes >/dev/null 2>&1
}
idle() {
  local quiet=0 t0 t1
  while ((quiet < 3)); do
    t0=$(ticks)
    sleep 1
    t1=$(ticks)
    if ((t1 - t0 <= 3)); then quiet=$((quiet + 1)); else quiet=0; fi
  done
}

stamp
# The first image carries an inline build cache: step 3 uses it as the cache source.
timed "build --push, a new engine" docker buildx build --push --cache-to type=inline -t "$repo:first" "$CONTEXT"
for round in $(seq "$ROUNDS"); do
  echo "round $round"
  cold
  stamp
  timed "  build --push, right after the reset" docker buildx build --push -t "$repo:r$round-a" "$CONTEXT"
  cold
  idle
  stamp
  timed "  build --push, after 3 s idle" docker buildx build --push -t "$repo:r$round-b" "$CONTEXT"
  cold
  timed "  docker pull of the first image" docker pull "$repo:first"
  stamp
  timed "  build --push, those layers in the engine" docker buildx build --push -t "$repo:r$round-c" \
    --cache-from "type=registry,ref=$repo:first" "$CONTEXT"
done
