#!/usr/bin/env bash
# Publishes a demo image through the bundled action (dist/index.js), run exactly as the GitHub
# runner runs it, to a local registry instead of ghcr.io; then real clients (skopeo, docker pull
# IMAGE@DIGEST, docker run) check what was published.
# From a bare Debian machine: installs and starts a Docker engine and a registry on loopback
# (scripts/e2e-env.sh), and stops them again at the end (unless they were already running).
#
# The terminal gets a short story; everything else (npm, apt, engine start-up, docker's own output,
# the action's raw output) goes to one log file, named on the second line. The action's workflow
# commands are rendered as the runner shows them (scripts/render-log.mjs): ::add-mask:: values,
# the registry password among them, are never printed, in the terminal or in the log.
#
# Environment: E2E_DIR (see scripts/e2e-env.sh), DEMO_LOG (default: next to E2E_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
t0=$SECONDS

state_dir=$(realpath -m -- "${E2E_DIR:-/tmp/publish-container-e2e}")
LOG=${DEMO_LOG:-$state_dir-demo.log}
: >"$LOG"

say() { printf '%s\n' "$*"; }
section() { say ""; say "$*"; printf '\n== %s\n' "$*" >>"$LOG"; }
# fail MESSAGE: what went wrong, then the end of the log, which says why.
fail() {
  say ""
  say "Demo failed: $1"
  say "Full log: $LOG; its last lines:"
  tail -n 20 "$LOG" | sed 's/^/  | /'
  exit 1
}

started=""
work=""
cleanup() {
  [ -z "$work" ] || rm -rf "$work"
  if [ -n "$started" ]; then scripts/e2e-env.sh stop >>"$LOG" 2>&1 || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "publish-container demo: the action builds an image and publishes it to a registry on this"
say "machine (127.0.0.1, standing in for ghcr.io); then docker pulls it back by digest and runs it."
say "Details (npm, apt, engine start-up, docker's own output): $LOG"

command -v node >/dev/null || fail "Node.js 20 or later is needed: apt-get install nodejs npm"
if [ ! -d node_modules ]; then
  say "Installing the npm dependencies (npm ci) ..."
  npm ci --no-audit --no-fund >>"$LOG" 2>&1 || fail "npm ci failed"
fi
if [ ! -f dist/index.js ]; then
  npm run -s build >>"$LOG" 2>&1 || fail "npm run build failed"
fi

# ---------------------------------------------------------------------------------------------
section "1. A Docker engine and a registry on 127.0.0.1 (scripts/e2e-env.sh)"
if scripts/e2e-env.sh status >/dev/null 2>&1; then
  say "  already running: reusing them, and leaving them running"
else
  started=1
  say "  starting them (the first run also installs Debian packages: a few minutes) ..."
fi
env_file=$(scripts/e2e-env.sh start 2>>"$LOG" | tail -n 1) ||
  fail "the Docker engine and registry did not start (scripts/e2e-env.sh start)"
[ -n "$env_file" ] && [ -f "$env_file" ] ||
  fail "scripts/e2e-env.sh start printed no environment file"
# shellcheck disable=SC1090
source "$env_file"
say "  ready after $((SECONDS - t0)) s: registry $E2E_REGISTRY, user $E2E_REGISTRY_USER (password generated, never shown)"

work=$(mktemp -d /tmp/publish-container-demo.XXXXXX)
mkdir -p "$work/workspace" "$work/temp" "$work/home"
: >"$work/output"
: >"$work/state"
: >"$work/summary"
hello="hello from publish-container, built $(date -u +%FT%TZ)"
cat >"$work/workspace/Dockerfile" <<DOCKERFILE
FROM $E2E_BASE_IMAGE
RUN echo "$hello" > /hello.txt
CMD ["cat", "/hello.txt"]
DOCKERFILE

runner_env=(
  HOME="$work/home" RUNNER_TEMP="$work/temp" GITHUB_WORKSPACE="$work/workspace"
  GITHUB_REPOSITORY=Octo-Org/Demo-App GITHUB_ACTOR=octocat GITHUB_SERVER_URL=https://github.com
  GITHUB_OUTPUT="$work/output" GITHUB_STATE="$work/state" GITHUB_STEP_SUMMARY="$work/summary"
)
# run_step ENTRY ENV...: runs one step of the action (action.yml's runs.main dist/index.js, or
# runs.post dist/post/index.js) as the runner does, its output rendered as the runner shows it.
run_step() {
  local entry=$1
  shift
  (cd "$work/workspace" && env "${runner_env[@]}" "$@" node "$root/$entry" 2>&1) |
    node "$root/scripts/render-log.mjs" --log "$LOG" --indent '  ' --fold 3
}

# ---------------------------------------------------------------------------------------------
section "2. The action's main step: tags: \"1.0.0, latest\", registry $E2E_REGISTRY"
run_step dist/index.js INPUT_REGISTRY="$E2E_REGISTRY" INPUT_REGISTRY-TYPE=auto \
  INPUT_USERNAME="$E2E_REGISTRY_USER" INPUT_TOKEN="$E2E_REGISTRY_PASSWORD" \
  INPUT_TAGS="1.0.0, latest" INPUT_CONTEXT=. INPUT_PUSH=true INPUT_PULL=false INPUT_NO-CACHE=false ||
  fail "the action's main step failed (its messages are above)"

# The post step gets the state the main step saved (GITHUB_STATE) as STATE_* variables.
state_env=()
while IFS= read -r line; do
  if [[ $line =~ ^([^=\<]+)\<\<(.+)$ ]]; then
    name=${BASH_REMATCH[1]}
    delim=${BASH_REMATCH[2]}
    IFS= read -r value
    IFS= read -r end
    [ "$end" = "$delim" ] || fail "unexpected format in GITHUB_STATE"
    state_env+=("STATE_$name=$value")
  fi
done <"$work/state"
section "3. The action's post step (runs at the end of the job, also when it failed)"
run_step dist/post/index.js "${state_env[@]}" || fail "the action's post step failed (its messages are above)"

output() {
  node -e '
    const t = require("fs").readFileSync(process.argv[1], "utf8").split("\n"), o = {}
    for (let i = 0; i < t.length; i++) {
      const m = /^([^=<]+)<<(.+)$/.exec(t[i])
      if (m) { const v = []; for (i++; i < t.length && t[i] !== m[2]; i++) v.push(t[i]); o[m[1]] = v.join("\n") }
    }
    console.log(o[process.argv[2]] ?? "")' "$work/output" "$1"
}
image=$(output image)
digest=$(output digest)
image_ref=$(output image-ref)
imageid=$(output imageid)
{
  echo "outputs:"
  for name in image tags digest image-ref imageid version metadata; do
    printf '  %-9s %s\n' "$name:" "$(output "$name" | paste -sd' ')"
  done
} >>"$LOG"
[ -n "$image" ] && [ -n "$digest" ] && [ "$image_ref" = "$image@$digest" ] ||
  fail "the action's outputs are incomplete (image '$image', digest '$digest', image-ref '$image_ref')"

# ---------------------------------------------------------------------------------------------
section "4. What was published, seen by real clients"
pull_config=$(mktemp -d "$work/docker-config.XXXXXX")
export DOCKER_CONFIG=$pull_config # docker's and skopeo's login, only for these checks
printf '%s\n' "$E2E_REGISTRY_PASSWORD" |
  docker login "$E2E_REGISTRY" -u "$E2E_REGISTRY_USER" --password-stdin >>"$LOG" 2>&1 ||
  fail "docker login $E2E_REGISTRY failed"

for tag in 1.0.0 latest; do
  served=$(skopeo inspect --tls-verify=false --authfile "$pull_config/config.json" \
    --format '{{.Digest}}' "docker://$image:$tag" 2>>"$LOG") ||
    fail "skopeo inspect $image:$tag failed"
  [ "$served" = "$digest" ] ||
    fail "the registry serves $served for $image:$tag, not the digest output $digest"
done
say "  skopeo inspect: the registry serves the digest output for :1.0.0 and for :latest"

# Removed first, so that the pull really fetches it from the registry.
docker image rm --force "$imageid" >>"$LOG" 2>&1 || true
docker pull "$image_ref" >>"$LOG" 2>&1 || fail "docker pull $image_ref failed"
repo_digests=$(docker image inspect --format '{{join .RepoDigests "\n"}}' "$image_ref" 2>>"$LOG") || true
grep -qxF "$image_ref" <<<"$repo_digests" ||
  fail "after docker pull, $image_ref is not among the image's digests"
say "  docker pull $image_ref: pulled; docker checked it against the digest"

ran=$(docker run --rm "$image_ref" 2>>"$LOG") || fail "docker run $image_ref failed"
[ "$ran" = "$hello" ] || fail "docker run printed '$ran', not '$hello'"
say "  docker run (same reference): \"$ran\""
docker logout "$E2E_REGISTRY" >>"$LOG" 2>&1 || true
unset DOCKER_CONFIG

# ---------------------------------------------------------------------------------------------
if [ -n "$started" ]; then
  scripts/e2e-env.sh stop >>"$LOG" 2>&1 || say "  (stopping the engine and registry failed; see the log)"
  started=""
  stopped="the local registry was stopped again"
else
  stopped="the local registry is still running (it was running before the demo)"
fi

say ""
say "Result, after $((SECONDS - t0)) s: published, pulled back by digest and run ($stopped)"
say "  image:   $image"
say "  tags:    $(output tags | sed 's/.*://' | paste -sd' ' | sed 's/ /, /g')"
say "  digest:  $digest"
say "  ref:     $image_ref"
