#!/usr/bin/env bash
# bench-build.sh — baker against `docker build` of an equivalent Dockerfile (same base image, packages
# and commands), on the PostgreSQL example, measured in the same run:
#   cold        empty caches on both sides (`docker build --no-cache`, an empty baker cache)
#   no-change   the same build again
#   one-line    after changing one line of one C file (src/bin/psql/help.c)
# Both build the same local source tree (baker --source-dir, docker's COPY). Docker's time includes
# taking the installed tree out as a tarball (`docker run … tar`), since that is what a user needs;
# baker's includes its reproducible tarball and manifest. Prints the times and baker/docker ratios
# against the targets (cold <= 1.1x, no-change <= 1 s, one-line <= 0.3x); it reports, it does not fail
# on a missed target. Needs what ci/e2e-build.sh needs.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=ci/lib.sh
. ci/lib.sh
JOBS=$(nproc)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/baker-bench.XXXXXX")
TAG=baker-bench-docker:$$
cleanup() {
  docker rmi -f "$TAG" >/dev/null 2>&1 || true
  remove_test_resources
  docker builder prune -f >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
say() { echo "bench: $*" >&2; }

bash ci/docker-up.sh
BAKER=$BAKER bash ci/base-image.sh "$BASE"
bash ci/source-mirror.sh "$WORK/mirror"
mkdir -p "$WORK/ctx/src"
tar -xjf "$WORK/mirror/postgresql-15.18.tar.bz2" -C "$WORK/ctx/src" --strip-components=1
SRC=$WORK/ctx/src

# The Dockerfile a user would write for the same recipe (see recipes/postgresql/debian-12.toml).
cat >"$WORK/ctx/Dockerfile" <<DOCKERFILE
FROM $BASE
RUN export DEBIAN_FRONTEND=noninteractive && apt-get update && apt-get install -y bison build-essential ccache flex libreadline-dev pkg-config zlib1g-dev
COPY src/ /baker/src/
WORKDIR /baker/src
ENV CC="ccache gcc"
RUN ./configure --prefix=/usr/local/pgsql --without-icu --without-llvm
RUN make -j $JOBS -s world-bin
RUN make -s install-world-bin DESTDIR=/baker/dest && mkdir -p /baker/dest/etc/ld.so.conf.d && echo /usr/local/pgsql/lib > /baker/dest/etc/ld.so.conf.d/postgresql.conf
DOCKERFILE

docker_build() { # docker_build [--no-cache]
  DOCKER_BUILDKIT=0 docker build -q "$@" --label baker.test=1 -t "$TAG" "$WORK/ctx" >/dev/null
  docker run --rm --label baker.test=1 "$TAG" tar -C /baker/dest -czf - . >"$WORK/docker.tar.gz"
}
baker_build() {
  "$BAKER" build --recipe postgresql --distro debian12 --source-dir "$SRC" --jobs "$JOBS" \
    --cache-dir "$WORK/cache" --out "$WORK/out" --quiet
}
timed() { # timed COMMAND… -> prints the seconds it took
  local t
  t=$(now)
  "$@" >&2
  since "$t"
}

say "cold: docker build"
d_cold=$(timed docker_build --no-cache)
say "cold: baker"
b_cold=$(timed baker_build)
say "no-change: docker build"
d_same=$(timed docker_build)
say "no-change: baker"
b_same=$(timed baker_build)
sed -i 's/psql is the PostgreSQL interactive terminal/psql is the PostgreSQL interactive terminal (built twice)/' "$SRC/src/bin/psql/help.c"
grep -q 'built twice' "$SRC/src/bin/psql/help.c" || { echo "bench: the one-line change did not apply" >&2; exit 1; }
say "one-line: docker build"
d_line=$(timed docker_build)
say "one-line: baker"
b_line=$(timed baker_build)

python3 - "$d_cold" "$b_cold" "$d_same" "$b_same" "$d_line" "$b_line" <<'PY'
import sys
d_cold, b_cold, d_same, b_same, d_line, b_line = map(float, sys.argv[1:])
rows = [
    ("cold build", d_cold, b_cold, "baker <= 1.1x docker", b_cold <= 1.1 * d_cold),
    ("no-change rebuild", d_same, b_same, "baker <= 1 s", b_same <= 1.0),
    ("one-line change", d_line, b_line, "baker <= 0.3x docker", b_line <= 0.3 * d_line),
]
print(f"{'scenario':<20}{'docker build':>14}{'baker':>10}{'baker/docker':>14}  target")
for name, d, b, target, met in rows:
    print(f"{name:<20}{d:>12.2f} s{b:>8.2f} s{b / d:>14.2f}  {target}: {'met' if met else 'MISSED'}")
PY
