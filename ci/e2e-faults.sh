#!/usr/bin/env bash
# e2e-faults.sh — the fault suite of issue 7: `baker` against faults and bad input, the way a careful
# (or hostile) user meets them, on a real Docker engine and loopback servers this script starts.
# Each case is one function `case_…`, named in its output after the issue's item ("7.1 …"), and
# prints one line: "ok - NAME" or "not ok - NAME" followed by the tail of what it saw. The cases:
#   7.1  a mirror that accepts the connection and never answers: the build goes on to the next mirror;
#   7.8  a recipe path with `..` (or relative, or with a NUL byte) fails at load time with file:line:column;
#   7.9  `--mirror ftp://x` (and in $BAKER_MIRRORS) is refused, not taken for a directory;
#   7.9  a garbled baker.lock (not UTF-8, not TOML) names its path and the fix.
# Run one case alone with `bash ci/e2e-faults.sh case_silent_mirror` (several names may be given).
# Everything it creates carries the label baker.test=1 and a label of its own run, by which it is
# removed at the end (builds of other scripts on the same engine are left alone), with the servers it
# started and its temporary directory. Needs: a Docker engine (ci/docker-up.sh), the base image
# debian:bookworm (ci/base-image.sh), python3. Prints "N passed, N failed" last; fails if any case did.
# BAKER_RESPONSE_TIMEOUT shortens baker's wait for response headers so that case 7.1 is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=ci/lib.sh
. ci/lib.sh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/baker-faults.XXXXXX")
RUN_LABEL=baker.test.run=faults-${WORK##*.}
export BAKER_LABELS=$BAKER_LABELS,$RUN_LABEL
passed=0
failed=0
# Servers the cases start, one pid a line (cases run in subshells, so not in a variable).
SERVERS=$WORK/servers.pids
cleanup() {
  if [ -f "$SERVERS" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$SERVERS"
  fi
  remove_test_resources "$RUN_LABEL"
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { echo "e2e-faults: $*" >&2; }
note() { echo "e2e-faults: $*" >&3; } # from inside a case: a line for the CI log, not the case's log
# Inside a case: stop it with a reason.
fail() {
  echo "FAIL: $*"
  return 1
}
expect_in() { # expect_in FILE TEXT — FILE holds TEXT (a fixed string)
  grep -qF -- "$2" "$1" || fail "$1 lacks: $2"
}
no_test_containers() { # none of this run's containers is left
  [ -z "$(docker ps -aq --filter "label=$RUN_LABEL")" ] ||
    fail "containers left: $(docker ps -a --filter "label=$RUN_LABEL" --format '{{.Names}}')"
}
# run_case NAME FUNCTION: runs FUNCTION in a subshell with `set -e`, its output kept in a log that is
# shown only when it fails.
run_case() {
  local name=$1 fn=$2 status=0
  set +e
  (set -e; "$fn") 3>&2 >"$WORK/$fn.log" 2>&1
  status=$?
  set -e
  if [ "$status" = 0 ]; then
    passed=$((passed + 1))
    echo "ok - $name"
  else
    failed=$((failed + 1))
    echo "not ok - $name"
    tail -n 25 "$WORK/$fn.log" | sed 's/^/    /'
  fi
}

hello() { # hello CACHE OUT [ARGS…]: build the hello example from mirrors only
  local cache=$1 out=$2
  shift 2
  "$BAKER" build --recipe hello --distro debian12 --cache-dir "$cache" --out "$out" --no-upstream "$@"
}

# silent_server NAME: a TCP server on 127.0.0.1 that accepts connections, holds them open and never
# sends a byte. Its port goes to $WORK/NAME.port, the number of connections it took to $WORK/NAME.count.
silent_server() {
  local name=$1
  python3 - "$WORK/$name.port" "$WORK/$name.count" <<'EOF' &
import socket, sys
port_file, count_file = sys.argv[1:]
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(64)
held = []
open(count_file, "w").write("0")
open(port_file + ".tmp", "w").write(str(server.getsockname()[1]))
__import__("os").rename(port_file + ".tmp", port_file)
while True:
    conn, _ = server.accept()
    held.append(conn)
    open(count_file, "w").write(str(len(held)))
EOF
  echo "$!" >>"$SERVERS"
  for _ in $(seq 50); do [ -s "$WORK/$name.port" ] && return 0; sleep 0.1; done
  fail "the silent server did not start"
}

# --- 7.1 a mirror that accepts the connection and never answers -----------------------------------
case_silent_mirror() {
  silent_server silent
  local port seconds status=0 url
  port=$(cat "$WORK/silent.port")
  url="http://127.0.0.1:$port/hello-2.10.tar.gz"
  t=$(now)
  BAKER_RESPONSE_TIMEOUT=3 timeout 900 "$BAKER" -v build --recipe hello --distro debian12 \
    --cache-dir "$WORK/cache-71" --out "$WORK/out-71" --no-upstream \
    --mirror "http://127.0.0.1:$port" --mirror "$MIRROR" >"$WORK/71.out" 2>"$WORK/71.err" || status=$?
  seconds=$(since "$t")
  note "7.1: a cold hello build through a silent mirror: status $status in $seconds s"
  [ "$status" != 124 ] || fail "the build hung (killed after 900 s)"
  [ "$status" = 0 ] || { tail -n 30 "$WORK/71.err"; fail "the build failed with status $status"; }
  expect_in "$WORK/71.err" "hello-2.10.tar.gz: trying $url"
  expect_in "$WORK/71.err" "$url: no response within 3s; giving up on this source"
  expect_in "$WORK/71.err" "could not use $url: no response within 3s"
  expect_in "$WORK/71.err" "hello-2.10.tar.gz: trying $MIRROR/hello-2.10.tar.gz"
  expect_in "$WORK/71.out" "built $WORK/out-71/hello-2.10-debian-12.tar.gz"
  [ "$(cat "$WORK/silent.count")" = 1 ] || fail "the silent mirror was asked $(cat "$WORK/silent.count") times, not once"
  no_test_containers
}

# --- 7.8 every path in a recipe is checked at load time ----------------------------------------------
# with_table TABLE: the hello recipe with TOML TABLE appended.
with_table() {
  cat recipes/hello/debian-12.toml
  printf '\n%s\n' "$1"
}

case_dotdot_file_path() {
  local recipe=$WORK/dotdot.toml line status=0
  with_table $'[[files]]\npath = "/etc/../x"\ncontent = "x"' >"$recipe"
  line=$(grep -n '^path = "/etc/../x"$' "$recipe" | cut -d: -f1)
  "$BAKER" plan --recipe "$recipe" >/dev/null 2>"$WORK/78-plan.err" || status=$?
  [ "$status" != 0 ] || fail "baker plan accepted a [[files]] path with .."
  status=0
  "$BAKER" build --recipe "$recipe" --cache-dir "$WORK/cache-78" --out "$WORK/out-78" \
    --mirror "$MIRROR" --no-upstream >/dev/null 2>"$WORK/78-build.err" || status=$?
  [ "$status" != 0 ] || fail "baker build accepted a [[files]] path with .."
  for cmd in plan build; do
    expect_in "$WORK/78-$cmd.err" "$recipe:$line:8: path \"/etc/../x\" has a \`..\` component"
    expect_in "$WORK/78-$cmd.err" "expected an absolute path of a file inside the container"
  done
  [ ! -e "$WORK/cache-78/steps" ] || fail "the build got as far as the step cache"
  no_test_containers
}

case_every_recipe_path() {
  local recipe=$WORK/paths.toml table path line fault
  local tables=(
    $'[[repositories]]\nname = "r"\npath = PATH\ncontent = "x"'
    $'[[repositories]]\nname = "r"\npath = "/etc/r.list"\ncontent = "x"\n[[repositories.keys]]\nurl = "http://127.0.0.1:9/key"\npath = PATH\nunpinned = "test"'
    $'[[roles.hello.config]]\npath = PATH\ncontent = "x"'
  )
  local paths=('"etc/x"|is not absolute' '"/srv/app/.."|has a `..` component' '"/etc/x\u0000y"|contains a NUL byte' '""|is not absolute')
  for table in "${tables[@]}"; do
    for entry in "${paths[@]}"; do
      path=${entry%%|*}
      fault=${entry#*|}
      with_table "${table/PATH/"$path"}" >"$recipe"
      line=$(grep -nF "path = $path" "$recipe" | tail -n 1 | cut -d: -f1)
      if "$BAKER" plan --recipe "$recipe" >/dev/null 2>"$WORK/paths.err"; then
        fail "baker plan accepted path = $path in: $table"
      fi
      expect_in "$WORK/paths.err" "$recipe:$line:8: path "
      expect_in "$WORK/paths.err" "$fault; expected an absolute path of a file inside the container"
    done
  done
}

# --- 7.9 a mirror with a scheme baker cannot read ----------------------------------------------------
case_unknown_mirror_scheme() {
  local status=0
  hello "$WORK/cache-79" "$WORK/out-79" --mirror ftp://x --mirror "$MIRROR" >/dev/null 2>"$WORK/79.err" || status=$?
  [ "$status" != 0 ] || fail "--mirror ftp://x was accepted"
  expect_in "$WORK/79.err" "--mirror: mirror \`ftp://x\` has the unsupported scheme \`ftp://\`; a mirror is an http:// or https:// base URL, a file:// URL or a directory"
  status=0
  BAKER_MIRRORS="$MIRROR s3://bucket/dist" hello "$WORK/cache-79" "$WORK/out-79" >/dev/null 2>"$WORK/79-env.err" || status=$?
  [ "$status" != 0 ] || fail "s3:// in \$BAKER_MIRRORS was accepted"
  expect_in "$WORK/79-env.err" "\$BAKER_MIRRORS: mirror \`s3://bucket/dist\` has the unsupported scheme \`s3://\`"
  [ ! -e "$WORK/cache-79/steps" ] || fail "the build got as far as the step cache"
  no_test_containers
}

# --- 7.9 a garbled lock file ------------------------------------------------------------------------
case_garbled_lock() {
  local cache=$WORK/cache-lock garbage
  mkdir -p "$cache"
  for garbage in $'\xff\xfegarbage' $'[files]\n"http://a/x" = '; do
    printf '%s' "$garbage" >"$cache/baker.lock"
    if hello "$cache" "$WORK/out-lock" --mirror "$MIRROR" >/dev/null 2>"$WORK/lock.err"; then
      fail "a build with a garbled lock file succeeded"
    fi
    expect_in "$WORK/lock.err" "lock file $cache/baker.lock is not valid: line "
    expect_in "$WORK/lock.err" "restore it from version control, or delete it"
    grep -q 'stream did not contain valid UTF-8' "$WORK/lock.err" && fail "the bare I/O error is back"
    [ "$(cat "$cache/baker.lock")" = "$garbage" ] || fail "the lock file was changed"
  done
  no_test_containers
}

ALL_CASES=(
  "7.1 silent mirror: the next mirror is tried|case_silent_mirror"
  "7.8 a [[files]] path with .. fails plan and build with file:line:column|case_dotdot_file_path"
  "7.8 repository, key and role config paths are checked at load time|case_every_recipe_path"
  "7.9 --mirror ftp://x is refused, not taken for a directory|case_unknown_mirror_scheme"
  "7.9 a garbled baker.lock names its path and the fix|case_garbled_lock"
)

bash ci/docker-up.sh >&2
BAKER=$BAKER bash ci/base-image.sh "$BASE"
MIRROR=$WORK/mirror
bash ci/source-mirror.sh "$MIRROR"

for entry in "${ALL_CASES[@]}"; do
  fn=${entry#*|}
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$fn"; then continue; fi
  run_case "${entry%%|*}" "$fn"
done

echo "e2e-faults: $passed passed, $failed failed"
[ "$failed" = 0 ]
