#!/usr/bin/env bash
# Real components for the end-to-end tests, on loopback only:
#   - a Docker engine on a unix socket in $E2E_DIR, one of two (E2E_ENGINE):
#       classic: a private containerd + dockerd from this machine's Debian 12 docker.io (20.10),
#                classic image store (vfs), no buildx
#       modern:  Debian forky's (testing's) docker.io (28.5) + docker-buildx (0.29) + containerd
#                (2.1), run from a forky root made with debootstrap (cached in
#                $E2E_CACHE/forky-root, made once)
#                in namespaces of its own on the host network, with the containerd image store
#                (E2E_IMAGE_STORE=containerd, the default: Docker 29's) or the classic one
#                (E2E_IMAGE_STORE=classic: what Docker 25-28 run; the storage driver dockerd
#                picks, overlay2 where the kernel allows it in the namespace, else vfs)
#   - a CNCF distribution registry (Debian's docker-registry) with htpasswd auth on 127.0.0.1
#   - a second registry in `token` auth mode behind a ghcr.io-like token server
#     (__tests__/support/token-server.mjs): a write:packages token and a read:packages token
#   - a base image e2e/busybox:latest built from Debian's busybox-static (nothing can be pulled)
#
# Usage:
#   scripts/e2e-env.sh install  # only install the packages of both engines (as start does)
#   scripts/e2e-env.sh start    # install if needed, start (or reuse), print the path of the env file
#   scripts/e2e-env.sh status   # exit 0 if everything is alive and answering, else 1
#   scripts/e2e-env.sh stop     # stop by pid, unmount leftovers, remove $E2E_DIR
#   scripts/e2e-env.sh forget-pushes     # the engine forgets what it pushed where (keeps images):
#                                        # a fresh GitHub-hosted runner, for benchmarks
#   scripts/e2e-env.sh restart-registry  # stop and start the htpasswd registry (same port, data)
#   scripts/e2e-env.sh new-engine        # the engine's data removed and the engine started again,
#                                        # with only the base image (the same image ID); the
#                                        # registries keep theirs: a GitHub-hosted job's new VM
#
#   source "$(scripts/e2e-env.sh start)"
#   source "$(E2E_ENGINE=modern scripts/e2e-env.sh start)"
#   source "$(E2E_ENGINE=modern E2E_IMAGE_STORE=classic scripts/e2e-env.sh start)"
#
# Environment:
#   E2E_DIR            state directory (default /tmp/publish-container-e2e); one environment,
#                      of one engine, per directory
#   E2E_ENGINE         classic (default) or modern; stop, status, forget-pushes, new-engine and
#                      restart-registry use the engine the directory was started with
#   E2E_IMAGE_STORE    the modern engine's image store: containerd (default) or classic; the
#                      classic engine has only the classic one (the variable is ignored there).
#                      Also recorded with the directory. The env file exports both variables
#                      (and E2E_STORAGE_DRIVER): a shell that sourced one passes them on to the
#                      next start, so name them there, or unset them, when switching.
#   E2E_CACHE          where the forky root is kept between runs (default /var/cache/publish-container)
#   E2E_DOCKERD        the modern engine only: a static dockerd binary of this machine to run in the
#                      forky root instead of forky's (an engine change tried before Debian ships it:
#                      scripts/dockerd-unpack.sh); copied into the directory, so new-engine keeps it
#   E2E_REGISTRY_PORT  force the registry port (default: a free port)
#
# Progress goes to stderr; the only thing `start` prints on stdout is the env file's path.
set -euo pipefail

DIR=${E2E_DIR:-/tmp/publish-container-e2e}
# Absolute and normalised, because it ends up in sockets, configs and mount-point comparisons.
DIR=$(realpath -m -- "$DIR")
# It is written unquoted into TOML/YAML configs and compared with mount points: keep it plain.
[[ "$DIR" =~ ^/[A-Za-z0-9._/-]+$ ]] || {
  echo "e2e-env: error: E2E_DIR must be a path of [A-Za-z0-9._/-] other than /: $DIR" >&2
  exit 1
}

MARKER="$DIR/.publish-container-e2e"  # proves the directory is ours before `stop` deletes it
CTR_SOCK="$DIR/containerd.sock"
DOCKER_SOCK="$DIR/docker.sock"
REGISTRY_USER=e2e-user
HERE=$(cd "$(dirname "$0")" && pwd)
TOKEN_SERVER_JS=$(realpath "$HERE/../__tests__/support/token-server.mjs")
BASE_IMAGE=e2e/busybox:latest
CACHE=$(realpath -m -- "${E2E_CACHE:-/var/cache/publish-container}")
FORKY_ROOT="$CACHE/forky-root"
FORKY_OK="$FORKY_ROOT/.publish-container-root"  # written last: the root is complete
APT_LOG="$CACHE/apt.log"

# The engine: the one this directory was started with, else E2E_ENGINE, else classic.
ENGINE=""
if [[ -r "$DIR/engine" ]]; then
  ENGINE=$(cat "$DIR/engine")
elif [[ -e "$DIR/containerd.toml" || -e "$DIR/dockerd.pid" ]]; then
  ENGINE=classic # made by a version of this script that did not record the engine
fi
if [[ -n "${E2E_ENGINE:-}" && -n "$ENGINE" && "$E2E_ENGINE" != "$ENGINE" && "${1:-}" == start ]]; then
  echo "e2e-env: error: $DIR holds a $ENGINE environment; stop it first or use another E2E_DIR" >&2
  exit 1
fi
ENGINE=${ENGINE:-${E2E_ENGINE:-classic}}
[[ "$ENGINE" == classic || "$ENGINE" == modern ]] || {
  echo "e2e-env: error: E2E_ENGINE must be classic or modern, not '$ENGINE'" >&2
  exit 1
}
# The modern engine's socket is in a folder its namespace mounts as /e2e.
[[ "$ENGINE" == classic ]] || DOCKER_SOCK="$DIR/io/docker.sock"

# The image store: the one this directory was started with, else E2E_IMAGE_STORE (modern
# engine), else the engine's default. The classic engine (Docker 20.10) has only the classic store.
STORE=""
[[ -r "$DIR/image-store" ]] && STORE=$(cat "$DIR/image-store")
# Env files of earlier versions of this script exported the storage driver's name here.
case "${E2E_IMAGE_STORE:-}" in
  vfs | overlay2 | overlayfs | fuse-overlayfs | btrfs | zfs) E2E_IMAGE_STORE="" ;;
esac
if [[ "$ENGINE" == classic ]]; then
  STORE=classic
elif [[ -z "$STORE" ]]; then
  # A modern directory made before the store was recorded has the containerd store.
  if [[ -r "$DIR/engine" ]]; then STORE=containerd; fi
fi
if [[ "$ENGINE" == modern && -n "${E2E_IMAGE_STORE:-}" && -n "$STORE" && "$E2E_IMAGE_STORE" != "$STORE" && "${1:-}" == start ]]; then
  echo "e2e-env: error: $DIR holds a modern engine with the $STORE image store; stop it first or use another E2E_DIR" >&2
  exit 1
fi
STORE=${STORE:-${E2E_IMAGE_STORE:-containerd}}
[[ "$STORE" == containerd || "$STORE" == classic ]] || {
  echo "e2e-env: error: E2E_IMAGE_STORE must be containerd or classic, not '$STORE'" >&2
  exit 1
}

log() { printf 'e2e-env: %s\n' "$*" >&2; }
HINT=""  # set by `start`: what to do about a half-started environment
die() { log "error: $*"; [[ -z "$HINT" ]] || log "$HINT"; exit 1; }

# Every docker call of this script goes to our daemon, never to /var/run/docker.sock.
dk() { DOCKER_HOST="unix://$DOCKER_SOCK" docker "$@"; }

# ---------------------------------------------------------------------------
# processes, by pid only

# pid_of NAME: prints the pid recorded in $DIR/NAME.pid if that process is alive, is the
# expected program and was started for this $DIR (its command line mentions $DIR/).
# The last two checks guard against a recycled pid: we never signal a stranger.
pid_of() {
  local name=$1 exe=$2 pid state
  [[ -r "$DIR/$name.pid" ]] || return 1
  pid=$(tr -dc '0-9' <"$DIR/$name.pid")
  [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
  state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1) || return 1
  [[ "$state" != Z ]] || return 1
  [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */"$exe"* ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/" || return 1
  printf '%s\n' "$pid"
}

# alive PID: true while the process exists and is not a zombie.
alive() {
  local state
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# terminate PID LABEL: TERM, wait up to 20 s, then KILL.
terminate() {
  local pid=$1 label=$2 i
  alive "$pid" || return 0
  log "stopping $label (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do alive "$pid" || return 0; sleep 0.2; done
  log "$label (pid $pid) ignored TERM for 20 s: KILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do alive "$pid" || return 0; sleep 0.1; done
  log "warning: $label (pid $pid) is still there after KILL"
}

stop_named() {  # stop_named NAME EXE
  local pid
  if pid=$(pid_of "$1" "$2"); then terminate "$pid" "$1"; fi
  rm -f "$DIR/$1.pid"
}

# containerd shims outlive containerd by design (they are re-parented to init). Ours are the
# ones whose command line carries our containerd socket; anything else is left alone.
stop_shims() {
  local p pid
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [[ "$(readlink "$p/exe" 2>/dev/null)" == */containerd-shim* ]] || continue
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$CTR_SOCK" || continue
    terminate "$pid" "containerd-shim"
  done
}

# Container processes survive their shim, and BuildKit RUN steps survive dockerd: dockerd 20.10
# runs them with a plain `runc run` under the default runc root /run/runc and, when it stops in
# the middle of a build, kills that runc but not the container. We force-delete, through runc
# itself, only the containers whose bundle is under $DIR.
stop_runc_containers() {
  local root id
  command -v runc >/dev/null 2>&1 || return 0
  for root in "$DIR/docker-exec/runtime-runc/moby" /run/runc; do
    [[ -d "$root" ]] || continue
    for id in $(runc --root "$root" list -q 2>/dev/null); do
      runc --root "$root" state "$id" 2>/dev/null | grep -qF "\"bundle\": \"$DIR/" || continue
      log "force-deleting leftover container $id (runc root $root)"
      runc --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
}

# ---------------------------------------------------------------------------
# mounts

# Mount points at or under $DIR, deepest first (mountinfo escapes blanks as \040: %b decodes).
mounts_under() {
  local _a _b _c _d mp _rest
  while read -r _a _b _c _d mp _rest; do
    mp=$(printf '%b' "$mp")
    if [[ "$mp" == "$DIR" || "$mp" == "$DIR"/* ]]; then printf '%s\n' "$mp"; fi
  done </proc/self/mountinfo | sort -r
}

# unmount_all [quiet]: dockerd 20.10 leaves its data root's bind mount behind on every stop
# (normal: said only with E2E_DEBUG); at start-up, mounts are what a crashed run left (said).
unmount_all() {
  local mp quiet=${1:-}
  for _ in 1 2 3; do
    [[ -n "$(mounts_under)" ]] || return 0
    while IFS= read -r mp; do
      if [[ -z "$quiet" ]]; then
        log "cleaning up a mount an earlier run left: $mp"
      elif [[ -n "${E2E_DEBUG:-}" ]]; then
        log "debug: unmounting $mp"
      fi
      umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
    done < <(mounts_under)
  done
  [[ -z "$(mounts_under)" ]]
}

# A name per $DIR for what cannot live inside $DIR: the bridge and the containers' cgroup parent.
# (A network interface name is at most 15 characters.)
instance_name() { printf 'e2e%s' "$(printf '%s' "$DIR" | md5sum | cut -c1-10)"; }

# Our containers' cgroups (dockerd --cgroup-parent=/NAME, BuildKit's RUN steps included): runc
# leaves empty directories behind. Remove them deepest first; the kernel refuses to remove a
# cgroup that still has processes, so nothing alive is touched.
remove_cgroups() {
  local top
  for top in /sys/fs/cgroup/*/"$(instance_name)" /sys/fs/cgroup/"$(instance_name)"; do
    [[ -d "$top" ]] || continue
    find "$top" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

# ---------------------------------------------------------------------------
# packages

static_busybox() {
  local bb
  bb=$(command -v busybox 2>/dev/null) || return 1
  # ldd fails on a static binary; a dynamic busybox (package "busybox") would not run in the image.
  if ldd "$bb" >/dev/null 2>&1; then return 1; fi
  printf '%s\n' "$bb"
}

# Every command this script (and scripts/test.sh, scripts/demo.sh) runs, and its Debian package:
# installed explicitly, not trusted to arrive as someone's Recommends.
TOOLS=(
  dockerd:docker.io containerd:containerd containerd-shim-runc-v2:containerd runc:runc
  ctr:containerd docker:docker.io docker-registry:docker-registry skopeo:skopeo
  htpasswd:apache2-utils curl:curl ip:iproute2 git:git openssl:openssl md5sum:coreutils
  setsid:util-linux unshare:util-linux flock:util-linux nsenter:util-linux tar:tar
  realpath:coreutils
)
# The services the packages above may bring (Debian enables and starts them on install).
UNITS=(docker.service docker.socket containerd.service docker-registry.service)

systemd_running() { [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; }

# apt_install PACKAGE...: no service of theirs is started (policy-rc.d exits 101, which
# invoke-rc.d and deb-systemd-invoke obey), and on systemd every unit the install itself enabled
# or started is disabled and stopped again. Units that were enabled or running before are left
# as they were. apt's output goes to $APT_LOG.
apt_install() {
  [[ $(id -u) -eq 0 ]] || die "need root to apt-get install $*"
  mkdir -p "$CACHE"
  log "installing $* (apt log: $APT_LOG)"
  local policy=/usr/sbin/policy-rc.d saved="" u
  local -A was_enabled=() was_active=()
  if systemd_running; then
    for u in "${UNITS[@]}"; do
      systemctl is-enabled --quiet "$u" 2>/dev/null && was_enabled[$u]=1
      systemctl is-active --quiet "$u" 2>/dev/null && was_active[$u]=1
    done
  fi
  if [[ -e "$policy" ]]; then saved=$(mktemp); cp -a "$policy" "$saved"; fi
  # Put back as it was, also when this script is interrupted or fails half-way.
  # shellcheck disable=SC2064 # the paths are fixed now
  trap "if [[ -n '$saved' ]]; then mv -f '$saved' '$policy'; else rm -f '$policy'; fi" EXIT
  printf '#!/bin/sh\n# scripts/e2e-env.sh: no service starts while it installs packages\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  local rc=0
  {
    echo "== $(date -u +%FT%TZ) apt-get install $*"
    # Lock::Timeout: wait for another apt/dpkg run (e.g. a provisioning step) instead of failing.
    apt-get -o DPkg::Lock::Timeout=600 update &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y "$@"
  } >>"$APT_LOG" 2>&1 || rc=$?
  if [[ -n "$saved" ]]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
  trap - EXIT
  if systemd_running; then
    for u in "${UNITS[@]}"; do
      if [[ -z "${was_enabled[$u]:-}" ]] && systemctl is-enabled --quiet "$u" 2>/dev/null; then
        log "disabling $u, which the install enabled"
        systemctl disable --quiet "$u" >>"$APT_LOG" 2>&1 || true
      fi
      if [[ -z "${was_active[$u]:-}" ]] && systemctl is-active --quiet "$u" 2>/dev/null; then
        log "stopping $u, which the install started"
        systemctl stop "$u" >>"$APT_LOG" 2>&1 || true
      fi
    done
  fi
  [[ $rc -eq 0 ]] || { tail -n 15 "$APT_LOG" >&2; die "apt-get failed ($rc); log: $APT_LOG"; }
  hash -r
}

ensure_packages() {
  local want=() t c pkg
  for t in "${TOOLS[@]}"; do
    c=${t%%:*} pkg=${t#*:}
    command -v "$c" >/dev/null 2>&1 || want+=("$pkg")
  done
  static_busybox >/dev/null || want+=(busybox-static)
  [[ "$ENGINE" != modern ]] || command -v debootstrap >/dev/null 2>&1 || want+=(debootstrap)
  [[ ${#want[@]} -eq 0 ]] && return 0
  # shellcheck disable=SC2207 # package names have no blanks
  want=($(printf '%s\n' "${want[@]}" | sort -u))
  apt_install "${want[@]}"
}

# ---------------------------------------------------------------------------
# containerd + dockerd

containerd_ok() {
  pid_of containerd containerd >/dev/null && ctr --address "$CTR_SOCK" version >/dev/null 2>&1
}

docker_ok() {
  pid_of dockerd dockerd >/dev/null && dk info >/dev/null 2>&1
}

# wait_for SECONDS PID LABEL LOGFILE -- COMMAND...: poll COMMAND until it succeeds.
wait_for() {
  local secs=$1 pid=$2 label=$3 logfile=$4 i
  shift 5
  for ((i = 0; i < secs * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! alive "$pid"; then
      tail -n 30 "$logfile" >&2 || true
      die "$label exited during start-up (log: $logfile)"
    fi
    sleep 0.2
  done
  tail -n 30 "$logfile" >&2 || true
  die "$label did not answer within $secs s (log: $logfile)"
}

# Debian's docker.service runs dockerd against the system containerd
# (--containerd=/run/containerd/containerd.sock). Without --containerd, dockerd 20.10 uses
# /run/containerd/containerd.sock whenever that socket file exists and only otherwise starts a
# managed containerd of its own. To be independent of whatever the machine runs, we start a
# private containerd with its own config, root, state and socket, and point dockerd at it.
start_containerd() {
  mkdir -p "$DIR/containerd-root" "$DIR/containerd-state"
  cat >"$DIR/containerd.toml" <<EOF
version = 2
root = "$DIR/containerd-root"
state = "$DIR/containerd-state"
# No Kubernetes CRI: it only wants CNI config and would log errors.
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$CTR_SOCK"

# No debug socket, no metrics listener.
[debug]
  address = ""
[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$DIR/containerd-root/opt"
EOF
  log "starting containerd"
  rm -f "$CTR_SOCK" "$CTR_SOCK.ttrpc"
  # setsid: its own session, so a Ctrl-C or a job-control kill of the caller does not reach it.
  # </dev/null and the log redirect: it must not hold the caller's stdout (e.g. "$(... start)").
  setsid containerd --config "$DIR/containerd.toml" </dev/null >>"$DIR/containerd.log" 2>&1 &
  echo $! >"$DIR/containerd.pid"
  wait_for 30 $! containerd "$DIR/containerd.log" -- ctr --address "$CTR_SOCK" version
}

# A bridge of our own instead of docker0: a system dockerd may own docker0 (two daemons handing
# out addresses on one bridge would collide), and dockerd leaves its bridge behind when it stops.
# Containers only reach this bridge: no iptables/NAT, no ip_forward. Builds have no network out.

ensure_bridge() {
  local br cidr n
  br=$(instance_name)
  # Under a lock: environments started at once (scripts/test.sh's lanes) must not pick one subnet.
  mkdir -p "$CACHE"
  exec 7>"$CACHE/bridge.lock"
  flock 7
  if ! ip link show "$br" >/dev/null 2>&1; then
    # First /24 in 172.29.200-254.0 that no route on this machine already covers.
    for n in $(seq 200 254); do
      if ! ip -4 route show to match "172.29.$n.1" | grep -qv '^default'; then
        cidr="172.29.$n.1/24"
        break
      fi
    done
    [[ -n "${cidr:-}" ]] || die "no free 172.29.x.0/24 subnet for the bridge"
    log "creating bridge $br ($cidr)"
    ip link add "$br" type bridge
    ip addr add "$cidr" dev "$br"
    ip link set "$br" up
  fi
  exec 7>&-
  echo "$br" >"$DIR/bridge"
}

remove_bridge() {
  local br
  [[ -r "$DIR/bridge" ]] || return 0
  br=$(cat "$DIR/bridge")
  if [[ -n "$br" ]] && ip link show "$br" >/dev/null 2>&1; then
    log "removing bridge $br"
    ip link del "$br" 2>/dev/null || true
  fi
  rm -f "$DIR/bridge"
}

start_dockerd() {
  ensure_bridge
  # An empty config file: /etc/docker/daemon.json (a system dockerd's) must not apply to us.
  echo '{}' >"$DIR/daemon.json"
  log "starting dockerd"
  rm -f "$DOCKER_SOCK" "$DIR/dockerd.pid"
  # --pidfile: dockerd writes it itself (and refuses to start if it names a live process).
  # --ip-forward=false: with no NAT, nothing a container sends should be routed off the machine.
  # --cgroup-parent: our own cgroup tree (not /docker, which a system dockerd uses), removed by `stop`.
  setsid dockerd \
    --config-file="$DIR/daemon.json" \
    --containerd="$CTR_SOCK" \
    --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --bridge="$(instance_name)" \
    --cgroup-parent="/$(instance_name)" \
    --storage-driver=vfs \
    --data-root="$DIR/docker-data" \
    --exec-root="$DIR/docker-exec" \
    -H "unix://$DOCKER_SOCK" \
    --pidfile "$DIR/dockerd.pid" \
    </dev/null >>"$DIR/dockerd.log" 2>&1 &
  local pid=$!
  wait_for 60 "$pid" dockerd "$DIR/dockerd.log" -- dk info
  # In case dockerd could not write its pidfile, record what we know.
  [[ -s "$DIR/dockerd.pid" ]] || echo "$pid" >"$DIR/dockerd.pid"
}

# ---------------------------------------------------------------------------
# modern engine: forky's dockerd (containerd image store) + buildx, from a debootstrapped root

# pigz: GitHub's Ubuntu runners have it, and dockerd and containerd decompress pulled layers with
# unpigz when it is on their PATH (docs/facts/engines.md): without it the engine here would
# decompress a build's cache source with Go's gzip, unlike a runner's.
FORKY_PACKAGES=(docker.io docker-cli docker-buildx containerd runc ca-certificates iptables pigz)

# The forky root, made once and kept in $CACHE (bookworm cannot install forky's packages
# without upgrading its libc). Made under a lock, in a temporary folder renamed when complete,
# so a crash or a concurrent start never leaves a half-made root that looks usable.
forky_root_ok() { [[ "$(head -n 1 "$FORKY_OK" 2>/dev/null)" == "packages: ${FORKY_PACKAGES[*]}" ]]; }

ensure_forky_root() {
  forky_root_ok && return 0
  mkdir -p "$CACHE"
  exec 8>"$CACHE/forky-root.lock"
  flock 8
  if forky_root_ok; then exec 8>&-; return 0; fi
  local new="$CACHE/forky-root.new" t0=$SECONDS
  # Only our own unshare'd namespaces ever mounted anything in there, and they are gone.
  if [[ -e "$new" ]]; then rm -rf --one-file-system -- "$new"; fi
  [[ -e "$FORKY_ROOT" ]] && rm -rf --one-file-system -- "$FORKY_ROOT"
  log "making the Debian forky root in $FORKY_ROOT (once; debootstrap, log: $APT_LOG)"
  {
    echo "== $(date -u +%FT%TZ) debootstrap forky"
    # In a mount namespace of its own: the /proc and /sys it mounts in the root go with it,
    # even when it fails half-way.
    # No TMPDIR: the caller's (e.g. scripts/test.sh's) does not exist inside the root.
    # Debian 12's debootstrap has no script named forky; sid's (which testing's is a link to)
    # bootstraps it: the suite is named by its codename, so the root stays forky after its release.
    unshare --mount --propagation private --fork env -u TMPDIR -u TMP -u TEMP \
      debootstrap --variant=minbase forky "$new" http://deb.debian.org/debian \
      /usr/share/debootstrap/scripts/sid
  } >>"$APT_LOG" 2>&1 || { tail -n 15 "$APT_LOG" >&2; die "debootstrap failed; log: $APT_LOG"; }
  printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
  chmod 755 "$new/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$new/etc/resolv.conf"
  # testing's Release file is valid for a week only (stable's has no end): a mirror that lags,
  # or a snapshot of one, would make apt-get refuse it. The root is a throwaway test engine.
  printf 'Acquire::Check-Valid-Until "false";\n' >"$new/etc/apt/apt.conf.d/99publish-container"
  log "installing ${FORKY_PACKAGES[*]} in the forky root"
  # In a mount namespace of its own: /proc and /dev for dpkg's scripts vanish with it.
  {
    echo "== $(date -u +%FT%TZ) forky root: apt-get install ${FORKY_PACKAGES[*]}"
    unshare --mount --propagation private --fork env -u TMPDIR -u TMP -u TEMP bash -c '
      set -e
      mount -t proc proc "$1/proc"
      mount --rbind /dev "$1/dev"
      root=$1; shift
      chroot "$root" apt-get update
      DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y --no-install-recommends "$@"
      chroot "$root" apt-get clean
    ' _ "$new" "${FORKY_PACKAGES[@]}"
  } >>"$APT_LOG" 2>&1 || { tail -n 15 "$APT_LOG" >&2; die "installing into the forky root failed; log: $APT_LOG"; }
  # First line: what was asked for (a root made for another list is made again); then versions.
  {
    echo "packages: ${FORKY_PACKAGES[*]}"
    chroot "$new" dpkg-query -W "${FORKY_PACKAGES[@]}"
  } >"$new/.publish-container-root.tmp"
  mv "$new/.publish-container-root.tmp" "$new/.publish-container-root"
  mv "$new" "$FORKY_ROOT"
  exec 8>&-
  log "forky root ready in $((SECONDS - t0)) s: $(tail -n +2 "$FORKY_OK" | tr '\n\t' '; ')"
}

# The namespace's init: pid 1 of a new pid namespace (bash reaps whatever is re-parented to it),
# in a mount namespace of its own where the forky root is the lower layer of an overlay (the
# cached root is never written), /var/lib/docker and /e2e are folders of $DIR, and /proc, /run
# and /tmp are fresh. dockerd runs chrooted there on the host's network, so the registries on
# 127.0.0.1 are reachable; it starts its own containerd (fresh /run: none to find). When dockerd
# exits, the init exits, and the kernel ends everything left in the namespace and drops its mounts.
write_modern_init() {
  cat >"$DIR/modern-init.sh" <<'INIT'
#!/bin/bash
set -euo pipefail
dir=$1 lower=$2 bridge=$3 cgparent=$4
r=$dir/rootfs
mount -t overlay overlay -o "lowerdir=$lower,upperdir=$dir/upper,workdir=$dir/work" "$r"
mount -t proc proc "$r/proc"
mount --rbind /sys "$r/sys"
mount --rbind /dev "$r/dev"
mount -t tmpfs -o mode=755 tmpfs "$r/run"
mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
mkdir -p "$r/var/lib/docker" "$r/e2e"
mount --bind "$dir/docker-data" "$r/var/lib/docker"
mount --bind "$dir/io" "$r/e2e"
hostname e2e-modern
cd /
# E2E_DOCKERD's binary, copied into $dir/io by start_modern; forky's own otherwise.
bin=/usr/sbin/dockerd
[[ -x "$dir/io/dockerd" ]] && bin=/e2e/dockerd
# A clean environment: nothing of the caller's (TMPDIR, DOCKER_*, ...) means anything in there.
chroot "$r" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 "$bin" \
  --config-file=/e2e/daemon.json \
  --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
  --bridge="$bridge" --cgroup-parent="$cgparent" \
  --data-root=/var/lib/docker --exec-root=/run/docker \
  -H unix:///e2e/docker.sock --pidfile=/run/docker.pid \
  </dev/null &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' TERM INT
rc=0
while kill -0 "$pid" 2>/dev/null; do wait "$pid" || rc=$?; done
exit "$rc"
INIT
}

# pid of the namespace's init (as this machine sees it): the child of our unshare.
modern_init_pid() {
  local upid child
  upid=$(pid_of modern unshare) || return 1
  child=$(cat "/proc/$upid/task/$upid/children" 2>/dev/null | awk '{print $1}')
  [[ -n "$child" ]] && alive "$child" || return 1
  printf '%s\n' "$child"
}

modern_ok() {
  modern_init_pid >/dev/null && dk info >/dev/null 2>&1
}

start_modern() {
  ensure_bridge
  mkdir -p "$DIR/rootfs" "$DIR/upper" "$DIR/work" "$DIR/docker-data" "$DIR/io"
  # The image store; nothing else of /etc/docker/daemon.json applies. With the classic store no
  # storage driver is named: dockerd takes the first that works (overlay2, else vfs here).
  if [[ "$STORE" == containerd ]]; then
    echo '{"features": {"containerd-snapshotter": true}}' >"$DIR/io/daemon.json"
  else
    echo '{"features": {"containerd-snapshotter": false}}' >"$DIR/io/daemon.json"
  fi
  write_modern_init
  rm -f "$DOCKER_SOCK" "$DIR/modern.pid"
  if [[ -n "${E2E_DOCKERD:-}" && ! -e "$DIR/io/dockerd" ]]; then
    [[ -x "$E2E_DOCKERD" ]] || die "E2E_DOCKERD is not an executable file: $E2E_DOCKERD"
    cp -- "$E2E_DOCKERD" "$DIR/io/dockerd"
  fi
  local which="Debian forky"
  [[ -x "$DIR/io/dockerd" ]] && which="$DIR/io/dockerd in Debian forky's root"
  log "starting dockerd ($which, $STORE image store) in its own namespaces"
  # --kill-child: should unshare be killed, the namespace's init (and so all in it) goes too.
  setsid unshare --mount --propagation private --uts --ipc --pid --fork --kill-child \
    bash "$DIR/modern-init.sh" "$DIR" "$FORKY_ROOT" "$(instance_name)" "/$(instance_name)" \
    </dev/null >>"$DIR/dockerd.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$DIR/modern.pid"
  wait_for 60 "$pid" dockerd "$DIR/dockerd.log" -- dk info
}

stop_modern() {
  local init upid
  if init=$(modern_init_pid); then terminate "$init" "dockerd's namespace (init)"; fi
  if upid=$(pid_of modern unshare); then
    # The init is gone, so unshare returns at once; if not, KILL takes the namespace with it.
    terminate "$upid" "unshare"
  fi
  rm -f "$DIR/modern.pid"
}

# The containerd store keeps what was pushed where as labels on the content blobs
# (containerd.io/distribution.source.HOST=REPOSITORY; the key has no port), which dockerd uses
# to mount blobs across repositories instead of uploading them. The labels of the loopback
# registries (where the tests and the benchmark push) are removed, through the forky ctr, inside
# the namespace, from the containerd dockerd runs ("moby" namespace); others stay (a runner's
# pulled base images have theirs; Engine 26.1's `docker import` gave one for docker.io, 28.5's none).
modern_ctr() {
  local init
  init=$(modern_init_pid) || die "the modern engine is not running"
  nsenter --target "$init" --mount --pid -- chroot "$DIR/rootfs" \
    ctr --address /run/docker/containerd/containerd.sock --namespace moby "$@"
}

forget_pushes_modern() {
  local n=0 digest labels l args
  while read -r digest labels; do
    args=()
    IFS=, read -ra l <<<"$labels"
    for l in "${l[@]}"; do
      [[ "$l" =~ ^containerd\.io/distribution\.source\.(127\.[0-9.]+|localhost)= ]] && args+=("${l%%=*}=")
    done
    [[ ${#args[@]} -eq 0 ]] && continue
    modern_ctr content label "$digest" "${args[@]}" >/dev/null
    n=$((n + ${#args[@]}))
  done < <(modern_ctr content ls 2>/dev/null | awk 'NR > 1 && $NF != "" {print $1, $NF}')
  log "removed $n distribution-source label(s) from the containerd content store"
}

# ---------------------------------------------------------------------------
# registry

registry_url() { printf 'http://127.0.0.1:%s/v2/' "$(cat "$DIR/registry.port" 2>/dev/null)"; }

registry_ok() {
  pid_of registry docker-registry >/dev/null &&
    [[ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$(registry_url)")" == 401 ]]
}

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
  else
    local p
    while :; do
      p=$((20000 + RANDOM % 40000))
      # Nothing answering there: good enough, a clash is caught when the registry starts.
      if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
  fi
}

start_registry() {
  local port pid code i
  mkdir -p "$DIR/registry-data"
  if [[ ! -s "$DIR/registry-password" ]]; then
    (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$DIR/registry-password")
  fi
  # bcrypt (-B): the only hash distribution's htpasswd backend accepts.
  (umask 077; htpasswd -Bbn "$REGISTRY_USER" "$(cat "$DIR/registry-password")" >"$DIR/htpasswd")

  for _ in 1 2 3 4 5; do
    port=${E2E_REGISTRY_PORT:-$(free_port)}
    # No http.debug section: the debug/metrics listener stays off.
    # http.secret: set, so the registry does not warn and make up one of its own.
    cat >"$DIR/registry.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $DIR/registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: e2e-registry
    path: $DIR/htpasswd
EOF
    echo "$port" >"$DIR/registry.port"
    log "starting registry on 127.0.0.1:$port"
    setsid docker-registry serve "$DIR/registry.yml" </dev/null >>"$DIR/registry.log" 2>&1 &
    pid=$!
    echo "$pid" >"$DIR/registry.pid"
    for ((i = 0; i < 150; i++)); do
      code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)
      [[ "$code" == 401 ]] && return 0
      alive "$pid" || break
      sleep 0.2
    done
    if alive "$pid"; then
      terminate "$pid" registry
      die "registry did not answer 401 on 127.0.0.1:$port within 30 s (last code $code; log: $DIR/registry.log)"
    fi
    tail -n 5 "$DIR/registry.log" >&2 || true
    # Lost a race for the port? Try another one, unless the port was forced.
    if [[ -z "${E2E_REGISTRY_PORT:-}" ]] && grep -q 'address already in use' "$DIR/registry.log"; then
      log "port $port was taken, trying another"
      continue
    fi
    die "registry exited during start-up (log: $DIR/registry.log)"
  done
  die "registry: no free port after 5 attempts"
}

# ---------------------------------------------------------------------------
# token-auth registry (ghcr.io-like) and its token server

token_registry_ok() {
  pid_of token-server node >/dev/null && pid_of token-registry docker-registry >/dev/null &&
    [[ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$(cat "$DIR/token-registry.port" 2>/dev/null)/v2/")" == 401 ]] &&
    [[ "$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://127.0.0.1:$(cat "$DIR/token/port" 2>/dev/null)/token")" == 401 ]]
}

# wait_http URL CODE PID LABEL LOG: until URL answers CODE (30 s), or the process is gone.
wait_http() {
  local url=$1 want=$2 pid=$3 label=$4 logfile=$5 code="" i
  for ((i = 0; i < 150; i++)); do
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" || true)
    [[ "$code" == "$want" ]] && return 0
    alive "$pid" || { tail -n 5 "$logfile" >&2 || true; die "$label exited during start-up (log: $logfile)"; }
    sleep 0.2
  done
  terminate "$pid" "$label"
  die "$label did not answer $want at $url within 30 s (last code $code; log: $logfile)"
}

start_token_registry() {
  local tdir="$DIR/token" pid port rport i who
  command -v node >/dev/null || die "node is needed for the token server"
  mkdir -p "$tdir" "$DIR/token-registry-data"
  if [[ ! -s "$tdir/key.pem" ]]; then
    (umask 077; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$tdir/key.pem" -out "$tdir/cert.pem" -days 30 -subj /CN=e2e-token-issuer 2>/dev/null) ||
      die "openssl could not make the token signing key"
  fi
  for who in write read; do
    [[ -s "$tdir/$who-token" ]] || (umask 077; od -An -N20 -tx1 /dev/urandom | tr -d ' \n' >"$tdir/$who-token")
  done
  rm -f "$tdir/port"
  (umask 077; cat >"$tdir/config.json" <<EOF
{
  "port": 0,
  "portFile": "$tdir/port",
  "keyFile": "$tdir/key.pem",
  "certFile": "$tdir/cert.pem",
  "issuer": "e2e-token-issuer",
  "service": "e2e-token-registry",
  "users": {
    "e2e-writer": { "token": "$(cat "$tdir/write-token")", "scopes": ["read:packages", "write:packages"] },
    "e2e-reader": { "token": "$(cat "$tdir/read-token")", "scopes": ["read:packages"] }
  }
}
EOF
  )
  log "starting token server"
  setsid node "$TOKEN_SERVER_JS" "$tdir/config.json" </dev/null >>"$DIR/token-server.log" 2>&1 &
  pid=$!
  echo "$pid" >"$DIR/token-server.pid"
  for ((i = 0; i < 100; i++)); do [[ -s "$tdir/port" ]] && break; alive "$pid" || break; sleep 0.1; done
  [[ -s "$tdir/port" ]] || die "token server did not start (log: $DIR/token-server.log)"
  port=$(cat "$tdir/port")
  wait_http "http://127.0.0.1:$port/token" 401 "$pid" token-server "$DIR/token-server.log"

  rport=${E2E_TOKEN_REGISTRY_PORT:-$(free_port)}
  cat >"$DIR/token-registry.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $DIR/token-registry-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$rport
  secret: $(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
auth:
  token:
    realm: http://127.0.0.1:$port/token
    service: e2e-token-registry
    issuer: e2e-token-issuer
    rootcertbundle: $tdir/cert.pem
EOF
  echo "$rport" >"$DIR/token-registry.port"
  log "starting token-auth registry on 127.0.0.1:$rport (token server 127.0.0.1:$port)"
  setsid docker-registry serve "$DIR/token-registry.yml" </dev/null >>"$DIR/token-registry.log" 2>&1 &
  pid=$!
  echo "$pid" >"$DIR/token-registry.pid"
  wait_http "http://127.0.0.1:$rport/v2/" 401 "$pid" token-registry "$DIR/token-registry.log"
}

# ---------------------------------------------------------------------------
# base image

# Nothing can be pulled, so the base image is Debian's static busybox plus a symlink per applet,
# imported as a single-layer image.
ensure_base_image() {
  if dk image inspect "$BASE_IMAGE" >/dev/null 2>&1; then save_base_image; return 0; fi
  # A new engine (new-engine) gets back the very image it had: docker import would give another
  # image ID (the config's creation time), which no earlier build's cache would match.
  if [[ -s "$DIR/base-image.tar" ]] && dk load -i "$DIR/base-image.tar" >/dev/null; then
    log "loaded $BASE_IMAGE (as saved when first imported)"
    return 0
  fi
  local bb rootfs applet
  bb=$(static_busybox) || die "no static busybox (package busybox-static)"
  rootfs=$(mktemp -d "$DIR/rootfs.XXXXXX")
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev}
  chmod 1777 "$rootfs/tmp"
  cp "$bb" "$rootfs/bin/busybox"
  # --list-full gives each applet's usual path (bin/sh, usr/bin/env, ...).
  while IFS= read -r applet; do
    [[ -e "$rootfs/$applet" || -L "$rootfs/$applet" ]] || ln -s /bin/busybox "$rootfs/$applet"
  done < <("$bb" --list-full)
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  log "importing $BASE_IMAGE"
  tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf - . |
    dk import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["/bin/sh"]' \
      - "$BASE_IMAGE" >&2
  rm -rf "$rootfs"
  save_base_image
}

# The base image as this environment first made it, for a new engine (ensure_base_image).
save_base_image() {
  [[ -s "$DIR/base-image.tar" ]] && return 0
  dk save -o "$DIR/base-image.tar.part" "$BASE_IMAGE" && mv "$DIR/base-image.tar.part" "$DIR/base-image.tar"
}

# ---------------------------------------------------------------------------

write_env() {
  local tmp="$DIR/env.tmp"
  {
    printf 'export DOCKER_HOST=%q\n' "unix://$DOCKER_SOCK"
    printf 'export E2E_DIR=%q\n' "$DIR"
    printf 'export E2E_ENGINE=%q\n' "$ENGINE"
    printf 'export E2E_ENGINE_VERSION=%q\n' "$(dk version --format '{{.Server.Version}}')"
    printf 'export E2E_IMAGE_STORE=%q\n' "$(image_store)"
    printf 'export E2E_STORAGE_DRIVER=%q\n' "$(dk info --format '{{.Driver}}')"
    printf 'export E2E_REGISTRY=%q\n' "127.0.0.1:$(cat "$DIR/registry.port")"
    printf 'export E2E_REGISTRY_USER=%q\n' "$REGISTRY_USER"
    printf 'export E2E_REGISTRY_PASSWORD=%q\n' "$(cat "$DIR/registry-password")"
    printf 'export E2E_BASE_IMAGE=%q\n' "$BASE_IMAGE"
    printf 'export E2E_TOKEN_REGISTRY=%q\n' "127.0.0.1:$(cat "$DIR/token-registry.port")"
    printf 'export E2E_TOKEN_WRITE_USER=e2e-writer\n'
    printf 'export E2E_TOKEN_WRITE_TOKEN=%q\n' "$(cat "$DIR/token/write-token")"
    printf 'export E2E_TOKEN_READ_USER=e2e-reader\n'
    printf 'export E2E_TOKEN_READ_TOKEN=%q\n' "$(cat "$DIR/token/read-token")"
    if [[ "$ENGINE" == modern ]]; then
      # forky's buildx plugin for this machine's docker CLI: a DOCKER_CONFIG whose cli-plugins
      # has it (for the tests' own docker calls and a shell that sources this file), and the
      # folder the harness links into each runner's ~/.docker (where the action looks).
      printf 'export DOCKER_CONFIG=%q\n' "$DIR/docker-config"
      printf 'export E2E_DOCKER_CLI_PLUGINS=%q\n' "$DIR/docker-config/cli-plugins"
      printf 'export E2E_BUILDX_VERSION=%q\n' "$(DOCKER_CONFIG="$DIR/docker-config" dk buildx version | awk '{print $2}')"
    fi
  } >"$tmp"
  chmod 600 "$tmp"
  mv -f "$tmp" "$DIR/env"
}

# containerd or classic: the store the engine runs with (asked of it, not taken from $STORE).
image_store() {
  if dk info --format '{{json .DriverStatus}}' | grep -q 'io.containerd.snapshotter'; then
    echo containerd
  else
    echo classic
  fi
}

link_buildx_plugin() {
  mkdir -p "$DIR/docker-config/cli-plugins"
  [[ -s "$DIR/docker-config/config.json" ]] || echo '{}' >"$DIR/docker-config/config.json"
  ln -sfn "$FORKY_ROOT/usr/libexec/docker/cli-plugins/docker-buildx" \
    "$DIR/docker-config/cli-plugins/docker-buildx"
  DOCKER_CONFIG="$DIR/docker-config" dk buildx version >/dev/null 2>&1 ||
    die "the forky buildx plugin does not run with this machine's docker CLI"
}

engine_ok() {
  if [[ "$ENGINE" == modern ]]; then modern_ok; else containerd_ok && docker_ok; fi
}

start_engine() {
  if [[ "$ENGINE" == modern ]]; then
    start_modern
  else
    start_containerd
    start_dockerd
  fi
}

# Whatever is left of an engine (crashed, half-started, or running): stopped, unmounted.
stop_engine() {
  local quiet=${1:-}
  if [[ "$ENGINE" == modern ]]; then
    stop_modern
  else
    stop_named dockerd dockerd
    stop_runc_containers
    stop_shims
    stop_named containerd containerd
  fi
  unmount_all "$quiet"
}

cmd_start() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (dockerd, mounts, bridge)"
  ensure_packages
  if [[ -e "$DIR" && ! -e "$MARKER" && -n "$(ls -A "$DIR")" ]]; then
    die "$DIR exists, is not empty and was not made by this script; refusing to use it"
  fi
  [[ "$ENGINE" == classic ]] || ensure_forky_root
  mkdir -p "$DIR"
  touch "$MARKER"
  echo "$ENGINE" >"$DIR/engine"
  echo "$STORE" >"$DIR/image-store"
  HINT="logs are in $DIR; '$0 stop' cleans up whatever did start"
  # Unix socket paths are limited to 107 bytes; containerd's ttrpc socket is the longest.
  ((${#CTR_SOCK} + 6 <= 107)) || die "E2E_DIR is too long for unix socket paths: $DIR"

  if engine_ok; then
    log "reusing the $ENGINE engine"
  else
    stop_engine || die "could not unmount everything under $DIR"
    start_engine
  fi
  [[ "$ENGINE" == classic ]] || link_buildx_plugin

  local want_port=${E2E_REGISTRY_PORT:-}
  if registry_ok && [[ -z "$want_port" || "$want_port" == "$(cat "$DIR/registry.port")" ]]; then
    log "reusing registry (pid $(pid_of registry docker-registry)) on 127.0.0.1:$(cat "$DIR/registry.port")"
  else
    stop_named registry docker-registry
    start_registry
  fi

  if token_registry_ok; then
    log "reusing token-auth registry (pid $(pid_of token-registry docker-registry)) and token server"
  else
    stop_named token-registry docker-registry
    stop_named token-server node
    start_token_registry
  fi

  [[ "$(image_store)" == "$STORE" ]] || die "the $ENGINE engine runs the $(image_store) image store, not the $STORE one asked for"
  ensure_base_image
  write_env
  log "ready: $ENGINE engine (Docker $(dk version --format '{{.Server.Version}}'), image store: $(image_store), storage driver: $(dk info --format '{{.Driver}}')), DOCKER_HOST=unix://$DOCKER_SOCK, E2E_REGISTRY=127.0.0.1:$(cat "$DIR/registry.port")"
  printf '%s\n' "$DIR/env"
}

cmd_stop() {
  if [[ ! -e "$DIR" ]]; then
    log "nothing to stop ($DIR does not exist)"
    return 0
  fi
  if [[ ! -e "$MARKER" ]]; then
    log "warning: $DIR was not made by this script; leaving it alone"
    return 0
  fi
  # On TERM dockerd gives each running container 10 s to honour TERM itself (--shutdown-timeout
  # does not shorten that in 20.10). Containers are throwaway here: remove them at once, bounded
  # in case dockerd is wedged.
  if engine_ok; then
    local ids
    ids=$(timeout 10 env DOCKER_HOST="unix://$DOCKER_SOCK" docker ps -q 2>/dev/null || true)
    if [[ -n "$ids" ]]; then
      log "removing running containers: $(echo "$ids" | tr '\n' ' ')"
      # shellcheck disable=SC2086 # one id per word
      timeout 20 env DOCKER_HOST="unix://$DOCKER_SOCK" docker rm -f $ids >/dev/null 2>&1 || true
    fi
  fi
  # The engine first: dockerd stops its BuildKit and its network and unmounts, and needs
  # containerd for that. Its leftover mounts are expected: unmounted quietly.
  stop_engine quiet || true
  stop_named registry docker-registry
  stop_named token-registry docker-registry
  stop_named token-server node
  remove_bridge
  remove_cgroups
  # Shims put their sockets in /run/containerd/s whatever containerd's state dir; drop the
  # directories if they are empty now (rmdir leaves a system containerd's alone).
  rmdir /run/containerd/s /run/containerd 2>/dev/null || true
  unmount_all quiet || die "mounts are left under $DIR; not removing it: $(mounts_under | tr '\n' ' ')"
  # --one-file-system: even so, never descend into something mounted there.
  rm -rf --one-file-system -- "$DIR"
  log "stopped the $ENGINE engine and the registries; removed $DIR"
}

cmd_status() {
  local ok=0
  if [[ "$ENGINE" == modern ]]; then
    if modern_ok; then log "modern dockerd ($STORE image store): up (namespace init pid $(modern_init_pid))"; else log "modern dockerd: down"; ok=1; fi
  else
    if containerd_ok; then log "containerd: up (pid $(pid_of containerd containerd))"; else log "containerd: down"; ok=1; fi
    if docker_ok; then log "dockerd: up (pid $(pid_of dockerd dockerd))"; else log "dockerd: down"; ok=1; fi
  fi
  if registry_ok; then
    log "registry: up (pid $(pid_of registry docker-registry), 127.0.0.1:$(cat "$DIR/registry.port"))"
  else
    log "registry: down"; ok=1
  fi
  if token_registry_ok; then
    log "token-auth registry: up (pid $(pid_of token-registry docker-registry), 127.0.0.1:$(cat "$DIR/token-registry.port"))"
  else
    log "token-auth registry: down"; ok=1
  fi
  return "$ok"
}

# The engine forgets which layers it pushed where, as on a fresh GitHub-hosted runner, and keeps
# its images. Classic store: dockerd's distribution metadata (image/DRIVER/distribution: the
# digest of each layer's compressed upload and the repositories that have it), deleted while
# dockerd is stopped (the modern engine: its whole namespace, started again). Containerd store:
# the distribution-source labels (forget_pushes_modern).
cmd_forget_pushes() {
  [[ -e "$MARKER" ]] && engine_ok || die "no running $ENGINE engine in $DIR: start it first"
  if [[ "$STORE" == containerd ]]; then
    forget_pushes_modern
    return 0
  fi
  local images d
  images=$(dk images -q --no-trunc | sort -u | wc -l)
  if [[ "$ENGINE" == modern ]]; then
    stop_modern
  else
    stop_named dockerd dockerd
    stop_runc_containers
  fi
  unmount_all quiet || die "mounts are left under $DIR after stopping dockerd"
  for d in "$DIR"/docker-data/image/*/distribution; do
    [[ -d "$d" ]] || continue
    rm -rf --one-file-system -- "$d"
    log "removed $d"
  done
  if [[ "$ENGINE" == modern ]]; then start_modern; else start_dockerd; fi
  local after
  after=$(dk images -q --no-trunc | sort -u | wc -l)
  [[ "$after" == "$images" ]] || die "dockerd came back with $after images instead of $images"
  log "dockerd restarted without push history ($after images kept)"
}

# A GitHub-hosted job's engine: a new VM's, which has built, pulled and pushed nothing. The engine
# is stopped, its data directory removed, and it is started again with only the base image (the
# same image ID as before); the registries and their data stay.
cmd_new_engine() {
  [[ -e "$MARKER" ]] && engine_ok || die "no running $ENGINE engine in $DIR: start it first"
  save_base_image || die "could not save $BASE_IMAGE before the reset"
  stop_engine quiet || die "mounts are left under $DIR after stopping the engine"
  rm -rf --one-file-system -- "$DIR/docker-data"
  start_engine
  [[ "$(image_store)" == "$STORE" ]] || die "the new engine runs the $(image_store) image store, not $STORE"
  ensure_base_image
  local images
  images=$(dk images -q --no-trunc | sort -u | wc -l)
  [[ "$images" == 1 ]] || die "the new engine has $images images, not just $BASE_IMAGE"
  log "a new $ENGINE engine ($STORE store): nothing but $BASE_IMAGE; registries kept"
}

# Stops the htpasswd registry and starts it again on the same port, with the same data and password.
cmd_restart_registry() {
  [[ -e "$MARKER" && -s "$DIR/registry.port" ]] || die "no registry in $DIR: start the environment first"
  local port
  port=$(cat "$DIR/registry.port")
  stop_named registry docker-registry
  E2E_REGISTRY_PORT=$port start_registry
  log "registry restarted on 127.0.0.1:$port (pid $(pid_of registry docker-registry))"
}

# Installs the packages of both engines (scripts/test.sh runs this first: the unit tests need git).
cmd_install() {
  ENGINE=modern ensure_packages
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  forget-pushes) cmd_forget_pushes ;;
  new-engine) cmd_new_engine ;;
  restart-registry) cmd_restart_registry ;;
  *) echo "usage: [E2E_ENGINE=classic|modern] [E2E_IMAGE_STORE=containerd|classic] $0 install|start|stop|status|forget-pushes|new-engine|restart-registry" >&2; exit 2 ;;
esac
