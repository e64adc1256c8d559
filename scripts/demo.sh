#!/usr/bin/env bash
# Publishes a demo image through the bundled action (dist/index.js), run exactly as the GitHub
# runner runs it, to a local registry instead of ghcr.io; then pulls it back by digest.
# From a bare Debian machine: installs and starts a Docker engine and a registry on loopback
# (scripts/e2e-env.sh), and stops them again at the end (unless they were already running).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

[ -d node_modules ] || npm ci --no-audit --no-fund >&2
[ -f dist/index.js ] || npm run -s build >&2

started=""
if ! scripts/e2e-env.sh status >/dev/null 2>&1; then started=1; fi
cleanup() { rm -rf "${work:-}"; if [ -n "$started" ]; then scripts/e2e-env.sh stop >&2 || true; fi; }
trap cleanup EXIT
# shellcheck disable=SC1090
source "$(scripts/e2e-env.sh start | tail -n 1)"

work=$(mktemp -d /tmp/publish-container-demo.XXXXXX)
mkdir -p "$work/workspace" "$work/temp" "$work/home"
: >"$work/output"; : >"$work/state"; : >"$work/summary"
cat >"$work/workspace/Dockerfile" <<DOCKERFILE
FROM $E2E_BASE_IMAGE
RUN echo "hello from publish-container, built $(date -u +%FT%TZ)" > /hello.txt
CMD ["cat", "/hello.txt"]
DOCKERFILE

runner_env=(
  HOME="$work/home" RUNNER_TEMP="$work/temp" GITHUB_WORKSPACE="$work/workspace"
  GITHUB_REPOSITORY=Octo-Org/Demo-App GITHUB_ACTOR=octocat GITHUB_SERVER_URL=https://github.com
  GITHUB_OUTPUT="$work/output" GITHUB_STATE="$work/state" GITHUB_STEP_SUMMARY="$work/summary"
)

echo "== main step: publish to $E2E_REGISTRY (instead of ghcr.io)"
(cd "$work/workspace" && env "${runner_env[@]}" \
  INPUT_REGISTRY="$E2E_REGISTRY" INPUT_REGISTRY-TYPE=auto \
  INPUT_USERNAME="$E2E_REGISTRY_USER" INPUT_TOKEN="$E2E_REGISTRY_PASSWORD" \
  INPUT_TAGS="1.0.0, latest" INPUT_CONTEXT=. INPUT_PUSH=true INPUT_PULL=false INPUT_NO-CACHE=false \
  node "$root/dist/index.js")

echo "== post step"
state_env=()
while IFS= read -r line; do
  if [[ $line =~ ^([^=\<]+)\<\<(.+)$ ]]; then
    name=${BASH_REMATCH[1]}; delim=${BASH_REMATCH[2]}; IFS= read -r value
    IFS= read -r _end; [ "$_end" = "$delim" ] || { echo "unexpected state format" >&2; exit 1; }
    state_env+=("STATE_$name=$value")
  fi
done <"$work/state"
(cd "$work/workspace" && env "${runner_env[@]}" "${state_env[@]}" node "$root/dist/index.js")

output() { node -e '
  const t=require("fs").readFileSync(process.argv[1],"utf8").split("\n");const o={};
  for(let i=0;i<t.length;i++){const m=/^([^=<]+)<<(.+)$/.exec(t[i]);if(m){const v=[];for(i++;t[i]!==m[2];i++)v.push(t[i]);o[m[1]]=v.join("\n")}}
  console.log(o[process.argv[2]]??"")' "$work/output" "$1"; }
image_ref=$(output image-ref)
echo
echo "== outputs"
for name in image tags digest image-ref imageid version metadata; do printf '%-9s %s\n' "$name:" "$(output $name | paste -sd' ')"; done
echo
echo "== check with real clients: skopeo inspect, then docker pull $image_ref"
skopeo inspect --tls-verify=false --creds "$E2E_REGISTRY_USER:$E2E_REGISTRY_PASSWORD" \
  "docker://$(output image):latest" | node -e 'const j=JSON.parse(require("fs").readFileSync(0));console.log("skopeo: latest ->",j.Digest)'
pull_config=$(mktemp -d)
echo "$E2E_REGISTRY_PASSWORD" | DOCKER_CONFIG=$pull_config docker login "$E2E_REGISTRY" -u "$E2E_REGISTRY_USER" --password-stdin >/dev/null 2>&1
docker image rm --force "$(output imageid)" >/dev/null # so the pull really fetches it
DOCKER_CONFIG=$pull_config docker pull "$image_ref"
DOCKER_CONFIG=$pull_config docker logout "$E2E_REGISTRY" >/dev/null; rm -rf "$pull_config"
docker run --rm "$image_ref"
