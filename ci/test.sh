#!/usr/bin/env bash
# test.sh — the whole test suite: what CI runs (.ci/run) and what developers run before pushing.
#   bash ci/test.sh          formatting, lints, unit and CLI tests, then the end-to-end builds on a real
#                            Docker engine (installed and started if none runs) and the benchmark
#   bash ci/test.sh --quick  formatting, lints, unit and CLI tests only (no Docker, a minute or two)
set -euo pipefail
cd "$(dirname "$0")/.."

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
trap '[ "$made_base" = 0 ] || docker rmi -f "$BASE" >/dev/null 2>&1 || true' EXIT
bash ci/base-image.sh "$BASE"
# One cold PostgreSQL build, made by e2e-build.sh, serves the later end-to-end scripts.
SHARED=$(mktemp -d "${TMPDIR:-/tmp}/baker-ci.XXXXXX")
trap '[ "$made_base" = 0 ] || docker rmi -f "$BASE" >/dev/null 2>&1 || true; rm -rf "$SHARED"' EXIT
export BAKER_E2E_PG_OUT=$SHARED/pg-out
bash ci/e2e-build.sh
bash ci/e2e-launch.sh
bash ci/e2e-faults.sh
bash ci/e2e-incremental.sh
bash ci/bench-incremental.sh
