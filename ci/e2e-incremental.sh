#!/usr/bin/env bash
# e2e-incremental.sh — the edit–build loop of issue 8 end to end, on the PostgreSQL example built from a
# local tree (`--source-dir`) on a real Docker engine:
#   - a first `--incremental` build (no earlier tree: it runs clean and records its build tree);
#   - a one-line change in src/bin/psql/help.c built `--incremental`: configure is skipped, compile reruns,
#     the manifest says `incremental.from` = the first build's key;
#   - a clean build of the changed tree, copied to another path, gives the same sha256 (and the compiler
#     cache, keyed on the fixed /baker/src, hits across the two source paths);
#   - a new file matching configure's `inputs` (`**/*.in`) reruns configure; a deleted source file
#     disappears from the incremental build tree;
#   - an incremental build killed mid-compile (SIGKILL) leaves the previous record and its tree usable:
#     the next incremental build starts from it and succeeds.
# Everything it creates carries the label baker.test=1 and is removed at the end.
# Needs: root, a Docker engine (ci/docker-up.sh), debootstrap. Prints "N passed, N failed" last.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=ci/lib.sh
. ci/lib.sh

start_run e2e-incr

step_ran() { # step_ran MANIFEST STEP -> true when STEP ran (was not taken from the tree or cache)
  [ "$(json "$1" "[s['cache_hit'] for s in d['steps'] if s['name'] == '$2'][0]")" = False ]
}
step_skipped() { ! step_ran "$@"; }

bash ci/docker-up.sh
BAKER=$BAKER bash ci/base-image.sh "$BASE"
# A copy of the binary: rebuilding target/ while this runs must not change the baker under test.
cp "$BAKER" "$WORK/baker"
BAKER=$WORK/baker
bash ci/source-mirror.sh "$WORK/mirror"
SRC=$WORK/src
mkdir -p "$SRC"
tar -xjf "$WORK/mirror/postgresql-15.18.tar.bz2" -C "$SRC" --strip-components=1
# $BAKER_PG_CACHE (set by ci/test.sh): the suite's PostgreSQL cache, whose compiler cache is warm.
CACHE=${BAKER_PG_CACHE:-$WORK/cache}
JOBS=$(nproc)

pg() { # pg OUT [ARGS…]: a PostgreSQL build of $SRC into OUT
  local out=$1
  shift
  "$BAKER" build --recipe postgresql --distro debian12 --source-dir "$SRC" --jobs "$JOBS" \
    --cache-dir "$CACHE" --out "$out" --quiet "$@"
}
sha() { cut -d' ' -f1 "$1"/postgresql-15.18-debian-12.tar.gz.sha256; }
# The record of $SRC: the only incremental build of this cache until bench-incremental.sh runs.
record() { ls "$CACHE"/incremental/*.json; }

say "first --incremental build (clean, records its tree)"
pg "$WORK/a" --incremental
check "the first incremental build is clean and recorded" \
  test "$(json "$WORK/a/manifest.json" "d.get('incremental')")" = None -a -s "$(record)"

say "one-line change, --incremental"
sed -i 's/psql is the PostgreSQL interactive terminal/psql is the PostgreSQL interactive terminal (edited)/' \
  "$SRC/src/bin/psql/help.c"
t=$(now)
pg "$WORK/b" --incremental
say "one-line change took $(since "$t") s"
check "the manifest names the build it started from" \
  test "$(json "$WORK/b/manifest.json" "d['incremental']['from']")" = \
  "$(json "$WORK/a/manifest.json" "d['steps'][-1]['key']")"
check "a source change skips configure" step_skipped "$WORK/b/manifest.json" configure
check "a source change reruns compile" step_ran "$WORK/b/manifest.json" compile

say "clean build of the changed tree at another path"
cp -a "$SRC" "$WORK/src-copy"
"$BAKER" build --recipe postgresql --distro debian12 --source-dir "$WORK/src-copy" --jobs "$JOBS" \
  --cache-dir "$CACHE" --out "$WORK/c" --quiet
check "incremental and clean builds of the same tree are byte-identical ($(sha "$WORK/b"))" \
  test "$(sha "$WORK/b")" = "$(sha "$WORK/c")"
check "the compiler cache hits across source paths" \
  python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['compiler_cache']; sys.exit(not (c and c['hit_rate'] > 0.9))" \
  "$WORK/c/manifest.json"

say "a new configure input and a deleted source file, --incremental"
echo "# baker e2e" >"$SRC/baker-e2e.in"
rm "$SRC/src/tutorial/complex.c"
pg "$WORK/d" --incremental
check "a change to configure's inputs reruns configure" step_ran "$WORK/d/manifest.json" configure
image=$(json "$(record)" "d['image']")
check "a deleted source file disappears from the incremental build tree" \
  docker run --rm --label baker.test=1 "$image" sh -c '! test -e /baker/src/src/tutorial/complex.c && test -e /baker/src/baker-e2e.in'

say "an incremental build killed mid-compile"
before=$(sha256sum "$(record)" | cut -d' ' -f1)
cp -p "$SRC/src/include/pg_config_manual.h" "$WORK/pg_config_manual.h"
# A real token (a comment would leave the preprocessed text, and so ccache, unchanged): every file
# that includes the header recompiles, so the kill lands mid-compile.
echo "#define BAKER_E2E_REBUILD 1" >>"$SRC/src/include/pg_config_manual.h"
# baker itself in the background (not a function's subshell), so that the kill reaches it.
"$BAKER" build --recipe postgresql --distro debian12 --source-dir "$SRC" --jobs "$JOBS" \
  --cache-dir "$CACHE" --out "$WORK/e" --quiet --incremental &
pid=$!
# A build writes its logs into a staging directory beside --out until it succeeds (issue 7.7).
staged() { compgen -G "$WORK/.e.*.staging/logs/$1" >/dev/null; }
for _ in $(seq 300); do
  staged 04-compile.log && break
  sleep 1
done
sleep 5
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
# A killed baker cannot remove its container; this run's label finds it.
docker ps -aq --filter "label=$RUN_LABEL" | xargs -r docker rm -f >/dev/null 2>&1 || true
mid_compile() {
  staged 04-compile.log || { say "no compile log in $(ls -d "$WORK"/.e.*.staging 2>/dev/null)"; return 1; }
  ! staged 05-install.log || { say "install had started: $(ls "$WORK"/.e.*.staging/logs)"; return 1; }
  [ ! -e "$WORK/e/manifest.json" ] || { say "the build had finished"; return 1; }
}
check "the kill came mid-compile" mid_compile
check "an interrupted incremental build leaves the previous record" \
  test "$(sha256sum "$(record)" | cut -d' ' -f1)" = "$before"
cp -p "$WORK/pg_config_manual.h" "$SRC/src/include/pg_config_manual.h"
sed -i 's/(edited)/(edited twice)/' "$SRC/src/bin/psql/help.c"
pg "$WORK/f" --incremental
check "the next incremental build starts from the previous tree" \
  test "$(json "$WORK/f/manifest.json" "d['incremental']['from']")" = \
  "$(json "$WORK/d/manifest.json" "d['steps'][-1]['key']")"
check "and skips configure" step_skipped "$WORK/f/manifest.json" configure
check "and reruns compile" step_ran "$WORK/f/manifest.json" compile

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
