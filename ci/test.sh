#!/usr/bin/env bash
# test.sh — the whole test suite: what CI runs (.ci/run) and what developers run before pushing.
#   bash ci/test.sh          formatting, lints, doc links, unit and CLI tests, then the end-to-end
#                            builds on a real Docker engine (installed and started if none runs),
#                            the PostgreSQL disk image booted under QEMU, and the benchmarks
#   bash ci/test.sh --quick  formatting, lints, doc links, unit and CLI tests only (no Docker;
#                            about 4 minutes on 2 cores from a cold cargo cache, a minute warm)
set -euo pipefail
cd "$(dirname "$0")/.."

# The unit tests of the disk formats read baker's output with qemu-img: install what is missing.
bash ci/host-tools.sh
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# Every intra-doc link resolves (the docs are for those who work on baker, private items included).
# The binary shares the library's name, so a plain `cargo doc` skips it: its CLI is checked first,
# on its own, and the library's documentation written after it is the one that stays.
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --document-private-items --quiet --bin baker
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --document-private-items --quiet
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
# The qemu 1+1 figure of e2e-launch-qemu.sh, printed by bench-launch.sh (one cluster boots, not two).
BAKER_QEMU_FIGURE=$(mktemp "${TMPDIR:-/tmp}/baker-qemu-figure.XXXXXX")
# The warm re-image figure of e2e-image.sh, printed by bench-image-formats.sh (which images nothing
# of its own then: the same build after the same one-file change, imaged once, not twice).
BAKER_IMAGE_FIGURE=$(mktemp "${TMPDIR:-/tmp}/baker-image-figure.XXXXXX")
# baker's tools image (mkfs, GRUB, QEMU, OVMF), baked by the first script that needs it (e2e-image.sh)
# and reused by e2e-launch-qemu.sh and bench-image-formats.sh rather than baked again by each.
BAKER_SUITE_KEEPS_TOOLS=1
export BAKER_PG_BUILD BAKER_PG_CACHE BAKER_PG_IMAGE BAKER_QEMU_FIGURE BAKER_IMAGE_FIGURE BAKER_SUITE_KEEPS_TOOLS
suite_end() {
  rm -rf "$BAKER_PG_BUILD" "$BAKER_PG_CACHE" "$BAKER_PG_IMAGE" "$BAKER_QEMU_FIGURE" "$BAKER_IMAGE_FIGURE"
  docker images -q --filter label=baker.test --filter reference='baker-tools:*' | xargs -r docker rmi -f >/dev/null 2>&1 || true
  [ "$made_base" = 0 ] || docker rmi -f "$BASE" >/dev/null 2>&1 || true
}
trap suite_end EXIT
# Runs ci/NAME.sh and prints its wall time, so that a slow run shows where the time went.
script() {
  local start=$SECONDS
  bash "ci/$1.sh"
  echo "test.sh: $1 took $((SECONDS - start)) s" >&2
}
bash ci/base-image.sh "$BASE"
script e2e-build
script e2e-incremental
script bench-incremental
script e2e-launch
script e2e-launch-ssh
script e2e-image
script e2e-launch-qemu
# After e2e-launch-qemu.sh: it prints the qemu 1+1 figure that script left in $BAKER_QEMU_FIGURE.
script bench-launch
# The format writers against qemu-img, tar and pigz, and the re-image figure e2e-image.sh left
# (--full, a 10 GiB disk and a re-image of its own, runs outside CI).
script bench-image-formats
script e2e-faults
echo "test.sh: the whole suite took $SECONDS s" >&2
