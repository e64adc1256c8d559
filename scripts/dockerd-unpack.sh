#!/usr/bin/env bash
# Builds dockerd 28.5.2 with Docker 29.1's change to BuildKit's image exporter (moby commit
# b4f9bd1, "c8d/builder-next: Don't force unpack": unpack=false is honoured instead of overridden),
# for scripts/e2e-env.sh's E2E_DOCKERD: Debian ships no Docker 29 yet, and this is the one change
# the action's unpack=false depends on (docs/facts/buildkit.md). An experiment's engine, not a
# test lane's: it needs a moby checkout, which a new machine does not have.
#
#   MOBY_SRC=/path/to/moby/clone scripts/dockerd-unpack.sh   # prints the binary's path
#
# MOBY_SRC: a git clone of github.com/moby/moby that has the tag v28.5.2. The build runs in a
# copy of the forky root (E2E_CACHE, as scripts/e2e-env.sh keeps it) with Debian's golang-go,
# offline from moby's vendor/ folder, static (CGO_ENABLED=0). Output:
# $E2E_CACHE/dockerd-unpack/dockerd (version 28.5.2-unpack), kept between runs.
set -euo pipefail
CACHE=$(realpath -m -- "${E2E_CACHE:-/var/cache/publish-container}")
OUT=$CACHE/dockerd-unpack
log() { echo "dockerd-unpack: $*" >&2; }
die() { log "error: $*"; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root (chroot)"
if [[ -x "$OUT/dockerd" ]]; then echo "$OUT/dockerd"; exit 0; fi
[[ -n "${MOBY_SRC:-}" ]] && git -C "$MOBY_SRC" rev-parse -q --verify v28.5.2 >/dev/null ||
  die "MOBY_SRC must be a clone of github.com/moby/moby with the tag v28.5.2"
[[ -d "$CACHE/forky-root" ]] || die "no forky root in $CACHE: run scripts/e2e-env.sh start with E2E_ENGINE=modern once"

root=$OUT/root
mkdir -p "$OUT"
[[ -d "$root" ]] || cp -a "$CACHE/forky-root" "$root"
cleanup() { if mountpoint -q "$root/proc"; then umount "$root/proc"; fi; }
trap cleanup EXIT
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
cp /etc/resolv.conf "$root/etc/resolv.conf"
log "installing golang-go in $root"
chroot "$root" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends golang-go' >&2

src=$root/src/moby
rm -rf "$src" && mkdir -p "$src"
git -C "$MOBY_SRC" archive v28.5.2 | tar -x -C "$src"
wrapper=$src/builder/builder-next/exporter/wrapper.go
forced='exporterAttrs[string(exptypes.OptKeyUnpack)] = "true"'
[[ $(grep -cF "$forced" "$wrapper") -eq 1 ]] || die "$wrapper is not v28.5.2's"
# b4f9bd1's change: set unpack=true only when the build did not say.
perl -0pi -e 's/\t\Q'"$forced"'\E\n/\tif _, has := exporterAttrs[string(exptypes.OptKeyUnpack)]; !has {\n\t\t'"$forced"'\n\t}\n/' "$wrapper"
grep -qF 'if _, has := exporterAttrs[string(exptypes.OptKeyUnpack)]; !has {' "$wrapper" || die "patch did not apply"
# moby 28 is built in GOPATH mode from vendor/; hack/with-go-mod.sh links vendor.mod the same way.
ln -sf vendor.mod "$src/go.mod"
ln -sf vendor.sum "$src/go.sum"
log "building dockerd (a few minutes)"
chroot "$root" sh -c 'cd /src/moby && CGO_ENABLED=0 GOFLAGS=-mod=vendor GOTOOLCHAIN=local go build -trimpath -tags "exclude_graphdriver_btrfs netgo osusergo" -ldflags "-X github.com/docker/docker/dockerversion.Version=28.5.2-unpack -X github.com/docker/docker/dockerversion.GitCommit=v28.5.2+b4f9bd1" -o /src/dockerd ./cmd/dockerd' >&2
mv "$root/src/dockerd" "$OUT/dockerd"
cleanup
rm -rf "$root"
echo "$OUT/dockerd"
