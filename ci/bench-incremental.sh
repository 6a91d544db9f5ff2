#!/usr/bin/env bash
# bench-incremental.sh [--full] — the edit–build loop of issue 8: baker against the peer an expert picks
# today, BuildKit with cache mounts for ccache and apt, on the PostgreSQL example built from a local tree,
# measured in one run:
#   cold        empty caches on every side (`docker builder prune` first, an empty baker cache)
#   no-change   the same build again
#   one-line    after changing one line of src/bin/psql/help.c (baker: `--incremental`)
# baker runs `--incremental` throughout (its cold build is a clean one that records its build tree).
# Each side's time includes taking the installed tree out as a tarball (docker: `docker run … tar`).
# With --full the legacy builder (DOCKER_BUILDKIT=0, the Dockerfile without cache mounts) runs the three
# scenarios too, and baker's first build is a cold one in its own empty cache; CI skips both (each costs
# a cold PostgreSQL build) and starts baker from the suite's warm cache. Prints times, ratios against
# the targets (one-line <= 0.3x BuildKit, no-change <= 0.3 s, cold <= 1.0x BuildKit) and baker's peak
# resident memory (/usr/bin/time -v); it reports, it does not fail on a missed target.
#
# The Dockerfile an expert writes for the same recipe (recipes/postgresql/debian-12.toml). There is no
# `# syntax=` line: it would pull a frontend image from a registry; the engine's built-in frontend
# understands RUN --mount.
#
#   FROM debian:bookworm
#   RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
#       --mount=type=cache,target=/var/lib/apt,sharing=locked \
#       rm -f /etc/apt/apt.conf.d/docker-clean && export DEBIAN_FRONTEND=noninteractive && apt-get update \
#       && apt-get install -y bison build-essential ccache flex libreadline-dev pkg-config zlib1g-dev
#   ENV CC="ccache gcc" CCACHE_DIR=/ccache
#   COPY src/ /baker/src/
#   WORKDIR /baker/src
#   RUN --mount=type=cache,target=/ccache ./configure --prefix=/usr/local/pgsql --without-icu --without-llvm --enable-depend
#   RUN --mount=type=cache,target=/ccache make -j N -s world-bin
#   RUN make -j N -s install-world-bin DESTDIR=/baker/dest && mkdir -p /baker/dest/etc/ld.so.conf.d \
#       && echo /usr/local/pgsql/lib > /baker/dest/etc/ld.so.conf.d/postgresql.conf
#
# Needs what ci/e2e-build.sh needs.
set -euo pipefail
cd "$(dirname "$0")/.."

FULL=0
[ "${1:-}" = --full ] && FULL=1
# shellcheck source=ci/lib.sh
. ci/lib.sh
start_run bench-incr
JOBS=$(nproc)
TAG=baker-bench-incr:$$
before_cleanup() {
  docker rmi -f "$TAG-kit" "$TAG-legacy" >/dev/null 2>&1 || true
  # BuildKit's layers and cache mounts of this run (several GB).
  [ ! -e "$WORK/build-cache.before" ] || remove_build_cache_since "$WORK/build-cache.before"
}
say() { echo "bench: $*" >&2; }

bash ci/docker-up.sh
build_cache_ids >"$WORK/build-cache.before"
BAKER=$BAKER bash ci/base-image.sh "$BASE"
cp "$BAKER" "$WORK/baker"
BAKER=$WORK/baker
bash ci/source-mirror.sh "$WORK/mirror"
mkdir -p "$WORK/ctx/src"
tar -xjf "$WORK/mirror/postgresql-15.18.tar.bz2" -C "$WORK/ctx/src" --strip-components=1
SRC=$WORK/ctx/src
# A file of this run's own: with the suite's shared cache (see below), the tree must be one no earlier
# build made, or baker's builds would be step-cache hits instead of the builds being measured.
echo "bench-incremental $$" >"$SRC/BAKER-BENCH"

# The Dockerfile above, and the same without cache mounts for the legacy builder.
sed -n '/^#   FROM/,/^#       && echo/p' "$0" | sed 's/^#   //; s/^#       /    /; s/make -j N/make -j '"$JOBS"'/' \
  | sed "s|^FROM debian:bookworm|FROM $BASE|" >"$WORK/ctx/Dockerfile.kit"
sed -E 's/--mount=[^ ]+ //g; s/rm -f \/etc\/apt\/apt.conf.d\/docker-clean && //' "$WORK/ctx/Dockerfile.kit" \
  | grep -v '^    --mount' >"$WORK/ctx/Dockerfile.legacy"

# The client that drives BuildKit: a docker CLI of 23 or later needs the buildx plugin for it, which
# Debian 12 does not package; the 20.10 CLI of Debian's docker.io (installed by ci/docker-up.sh)
# speaks BuildKit itself. Use the first that builds with it.
BUILD_CLI=docker
for cli in docker /usr/bin/docker; do
  if command -v "$cli" >/dev/null 2>&1 && DOCKER_BUILDKIT=1 "$cli" build --help 2>/dev/null | grep -q -- '--ssh' \
    && ! DOCKER_BUILDKIT=1 "$cli" build -q - </dev/null 2>&1 | grep -q buildx; then
    BUILD_CLI=$cli
    break
  fi
done
docker_build() { # docker_build kit|legacy [ARGS…]
  local kind=$1 kit=0
  shift
  [ "$kind" = kit ] && kit=1
  DOCKER_BUILDKIT=$kit "$BUILD_CLI" build -q "$@" --label baker.test=1 --label "$RUN_LABEL" \
    -f "$WORK/ctx/Dockerfile.$kind" -t "$TAG-$kind" "$WORK/ctx" >/dev/null
  docker run --rm --label baker.test=1 --label "$RUN_LABEL" "$TAG-$kind" \
    tar -C /baker/dest -czf - . >"$WORK/docker.tar.gz"
}
# baker's cache: its own, empty (a cold build); or, in CI without --full, the suite's PostgreSQL cache
# ($BAKER_PG_CACHE, warm from e2e-build.sh), which spares CI a second cold build but makes baker's
# first build a warm one: the cold row is then printed as such and measured only with --full.
CACHE=$WORK/cache
WARM=0
if [ "$FULL" = 0 ] && [ -n "${BAKER_PG_CACHE:-}" ]; then
  CACHE=$BAKER_PG_CACHE
  WARM=1
fi
# Each build's peak RSS goes to a file: builds run in `$(timed …)` subshells, where an array would be lost.
# Its debug log goes to $WORK/log.<n>, the n-th build's, for the phases printed at the end; the
# no-change rebuild's (the second) also times each engine request.
baker_build() {
  local n filter=baker=debug
  n=1
  [ ! -e "$WORK/rss" ] || n=$(($(wc -l <"$WORK/rss") + 1))
  [ "$n" != 2 ] || filter=baker=debug,bollard=debug
  BAKER_LOG=$filter /usr/bin/time -v -o "$WORK/time.txt" "$BAKER" build --recipe postgresql --distro debian12 \
    --source-dir "$SRC" --incremental --jobs "$JOBS" --cache-dir "$CACHE" --out "$WORK/out" --quiet \
    2>"$WORK/log.$n"
  awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt" >>"$WORK/rss"
}
timed() { # timed COMMAND… -> prints the seconds it took
  local t
  t=$(now)
  "$@" >&2
  since "$t"
}

say "cold: BuildKit (cache mounts emptied)"
"$BUILD_CLI" builder prune -af --filter "type=exec.cachemount" >/dev/null 2>&1 || true
k_cold=$(timed docker_build kit --no-cache)
say "cold: baker"
b_cold=$(timed baker_build)
if [ "$FULL" = 1 ]; then
  say "cold: legacy builder"
  l_cold=$(timed docker_build legacy --no-cache)
fi
say "no-change: BuildKit"
k_same=$(timed docker_build kit)
say "no-change: baker"
b_same=$(timed baker_build)
[ "$FULL" = 1 ] && l_same=$(timed docker_build legacy)
sed -i 's/psql is the PostgreSQL interactive terminal/psql is the PostgreSQL interactive terminal (edited)/' \
  "$SRC/src/bin/psql/help.c"
grep -q '(edited)' "$SRC/src/bin/psql/help.c" || { say "the one-line change did not apply"; exit 1; }
say "one-line: BuildKit"
k_line=$(timed docker_build kit)
say "one-line: baker --incremental"
b_line=$(timed baker_build)
[ "$FULL" = 1 ] && l_line=$(timed docker_build legacy)

python3 - "$WARM" "$k_cold" "$b_cold" "$k_same" "$b_same" "$k_line" "$b_line" "$(cat "$WORK/rss")" \
  "${l_cold:-}" "${l_same:-}" "${l_line:-}" <<'PY'
import sys
warm = sys.argv[1] == "1"
k_cold, b_cold, k_same, b_same, k_line, b_line = map(float, sys.argv[2:8])
rss = [int(x) for x in sys.argv[8].split()]
legacy = [float(x) for x in sys.argv[9:12] if x]
rows = [
    ("first build (warm)" if warm else "cold build", k_cold, b_cold,
     "not a cold measure: baker's compiler cache was warm (--full measures cold)" if warm
     else "baker <= 1.0x BuildKit", None if warm else b_cold <= 1.0 * k_cold),
    ("no-change rebuild", k_same, b_same, "baker <= 0.3 s", b_same <= 0.3),
    ("one-line change", k_line, b_line, "baker <= 0.3x BuildKit", b_line <= 0.3 * k_line),
]
head = f"{'scenario':<20}{'BuildKit+ccache':>16}{'baker':>10}{'baker/kit':>11}"
print(head + (f"{'legacy':>10}" if legacy else "") + "  target")
for i, (name, k, b, target, met) in enumerate(rows):
    line = f"{name:<20}{k:>14.2f} s{b:>8.2f} s{b / k:>11.2f}"
    if legacy:
        line += f"{legacy[i]:>8.2f} s"
    print(f"{line}  {target}" + ("" if met is None else f": {'met' if met else 'MISSED'}"))
print(f"baker peak RSS: {max(rss) / 1024:.1f} MB (cold, no-change, one-line: "
      + ", ".join(f"{r / 1024:.1f}" for r in rss) + ") — target < 200 MB: "
      + ("met" if max(rss) < 200 * 1024 else "MISSED"))
PY
# Where baker's no-change rebuild spent its time (seconds since it started, from its debug log):
# planning includes the stat of every file of the tree; building, the engine's answers.
phase() { sed -n "s/^ *\([0-9.]*\)s DEBUG .*: $1\$/\1/p" "$WORK/log.2" | head -n 1; }
echo "baker no-change phases: planned at $(phase planned) s, built at $(phase built) s, output set published at $(phase 'output set published') s"
# Over the target, its log says which part was slow: planning, an engine request, or the output set.
if python3 -c "import sys; sys.exit(not float(sys.argv[1] or 0) > 0.3)" "$(phase 'output set published')"; then
  echo "baker no-change rebuild over 0.3 s: its debug log (seconds since start; engine requests and answers):"
  grep 's DEBUG' "$WORK/log.2" | cut -c1-160
fi
