#!/usr/bin/env bash
# test.sh — the whole test suite: what CI runs (.ci/run) and what developers run before pushing.
#   bash ci/test.sh          formatting, lints, unit and CLI tests, then the end-to-end builds on a real
#                            Docker engine (installed and started if none runs), the disk image of the
#                            PostgreSQL build booted under QEMU, and the benchmarks
#   bash ci/test.sh --quick  formatting, lints, unit and CLI tests only (no Docker, a minute or two)
set -euo pipefail
cd "$(dirname "$0")/.."

# The unit tests of the disk formats read baker's output with qemu-img: install what is missing.
bash ci/host-tools.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test
[ "${1:-}" = --quick ] && exit 0

cargo build --release
export BAKER=$PWD/target/release/baker
bash ci/docker-up.sh
# The base image the end-to-end scripts share; removed at the end when this run made it.
BASE=debian:bookworm
made_base=0
docker image inspect "$BASE" >/dev/null 2>&1 || made_base=1
# The PostgreSQL build of e2e-build.sh, kept for e2e-launch.sh, e2e-launch-ssh.sh, e2e-image.sh, bench-launch.sh
# and bench-image-formats.sh (a cold build takes several minutes; CI pays for it once).
BAKER_PG_BUILD=$(mktemp -d "${TMPDIR:-/tmp}/baker-pg-build.XXXXXX")
# One cache for every PostgreSQL build of the suite: the compiler cache the first cold build fills
# makes the later first builds (e2e-incremental's, bench-incremental's warm-up) minutes shorter.
BAKER_PG_CACHE=$(mktemp -d "${TMPDIR:-/tmp}/baker-pg-cache.XXXXXX")
# The PostgreSQL disk image of e2e-image.sh, booted as a cluster by e2e-launch-qemu.sh.
BAKER_PG_IMAGE=$(mktemp -d "${TMPDIR:-/tmp}/baker-pg-image.XXXXXX")
export BAKER_PG_BUILD BAKER_PG_CACHE BAKER_PG_IMAGE
trap 'rm -rf "$BAKER_PG_BUILD" "$BAKER_PG_CACHE" "$BAKER_PG_IMAGE"; [ "$made_base" = 0 ] || docker rmi -f "$BASE" >/dev/null 2>&1 || true' EXIT
bash ci/base-image.sh "$BASE"
bash ci/e2e-build.sh
bash ci/e2e-incremental.sh
bash ci/bench-incremental.sh
bash ci/e2e-launch.sh
bash ci/e2e-launch-ssh.sh
bash ci/e2e-image.sh
bash ci/e2e-launch-qemu.sh
# After e2e-image.sh: it also times a qemu 1+1 launch from $BAKER_PG_IMAGE.
bash ci/bench-launch.sh
# The format writers against qemu-img, tar and pigz, and a re-image of $BAKER_PG_BUILD after a
# one-file change (--full, a 10 GiB disk, runs outside CI).
bash ci/bench-image-formats.sh
bash ci/e2e-faults.sh
