#!/usr/bin/env bash
# base-image.sh TAG [ARGS…] — make sure the Docker image TAG exists; if it does not, build a Debian 12
# base image under that name with `baker base bootstrap --distro debian12` (debootstrap from this
# machine's apt mirror, then an image import; takes a minute or two and needs root and a running
# engine: see ci/docker-up.sh). The image carries the labels baker.base=1 and baker.test=1, the
# latter marking it as made by a script, for cleanup. ARGS go to `baker base bootstrap` (e.g.
# `--mirror URL`). Runs the `baker` named by $BAKER, else `cargo run --release` in this repository.
# Safe to run again: an existing TAG is left alone.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 TAG [baker base bootstrap ARGS…]" >&2; exit 2; }
TAG=$1
shift
say() { echo "base-image: $*" >&2; }

if docker image inspect "$TAG" >/dev/null 2>&1; then
  say "$TAG exists ($(docker image inspect "$TAG" --format '{{.Id}}'))"
  exit 0
fi

say "building $TAG with debootstrap"
start=$(date +%s)
if [ -n "${BAKER:-}" ]; then
  "$BAKER" base bootstrap --distro debian12 --tag "$TAG" --label baker.test=1 "$@"
else
  cd "$(dirname "$0")/.."
  cargo run --release -q -- base bootstrap --distro debian12 --tag "$TAG" --label baker.test=1 "$@"
fi
say "$TAG built in $(($(date +%s) - start)) s"
