#!/usr/bin/env bash
# e2e-faults.sh — the fault suite of issue 7: `baker` against faults and bad input, the way a careful
# (or hostile) user meets them, on a real Docker engine and loopback servers this script starts.
# Each case is one function `case_…`, named in its output after the issue's item ("7.1 …"), and
# prints one line: "ok - NAME" or "not ok - NAME" followed by the tail of what it saw. The cases:
#   7.1  a mirror that accepts the connection and never answers: the build goes on to the next mirror;
#   7.8  a recipe path with `..` (or relative, or with a NUL byte) fails at load time with file:line:column;
#   7.9  `--mirror ftp://x` (and in $BAKER_MIRRORS) is refused, not taken for a directory;
#   7.9  a garbled baker.lock (not UTF-8, not TOML) names its path and the fix;
#   7.9  --out naming a file names --out; a silent engine names DOCKER_HOST within seconds;
#   7.6  --jobs 0 / 100000 refused at the flag; a step over its timeout is killed; the first error line;
#   7.2  two caches on one engine: `du` counts one's step images as the engine does, and prune and
#        clear in one keep the other's step images;
#   7.3  clear and prune loops during a build: they wait, the build succeeds, --no-wait fails at once; both name the build (pid, command);
#   7.4  a step-scoped variable is not seen by the next step; step images carry the base image's Env;
#   7.5  a SIGKILLed baker's step container is removed, with a warning, by the next command;
#   7.7  a full disk (tmpfs) while writing the output set leaves the previous set whole.
# The cases but 7.8 and 7.9 share one cold hello build (the "seed", made once on first use) and work on
# copies of its cache, so only the seed pays for the package and compile steps.
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

start_run faults
passed=0
failed=0
# Servers the cases start, one pid a line (cases run in subshells, so not in a variable).
SERVERS=$WORK/servers.pids
before_cleanup() {
  if mountpoint -q "$WORK/tmpfs" 2>/dev/null; then umount "$WORK/tmpfs" || true; fi
  if [ -f "$SERVERS" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$SERVERS"
  fi
}

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
  # The seed's cache without its downloads and the steps from `source` on: the source is fetched
  # again (through the silent mirror first) without paying for the package step twice.
  copy_seed "$WORK/cache-71" steps
  rm -rf "$WORK/cache-71/downloads" "$WORK/cache-71/artifacts"
  local f
  for f in "$WORK"/cache-71/steps/*.json; do
    if ! grep -q '"step": "packages"' "$f"; then rm -f "$f"; fi
  done
  t=$(now)
  BAKER_RESPONSE_TIMEOUT=3 timeout 900 "$BAKER" -v build --recipe hello --distro debian12 \
    --cache-dir "$WORK/cache-71" --out "$WORK/out-71" --no-upstream \
    --mirror "http://127.0.0.1:$port" --mirror "$MIRROR" >"$WORK/71.out" 2>"$WORK/71.err" || status=$?
  seconds=$(since "$t")
  note "7.1: a hello build from the source step on through a silent mirror: status $status in $seconds s"
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

# --- the seed: one cold hello build the later cases copy --------------------------------------------
SEED=$WORK/seed
seed() { # builds the seed cache once (cases run in subshells, so a marker file says it is done)
  [ -f "$SEED.done" ] && return 0
  local t
  t=$(now)
  hello "$SEED" "$WORK/seed-out" --mirror "$MIRROR" --quiet
  note "seed: a cold hello build in $(since "$t") s"
  touch "$SEED.done"
}
# copy_seed DEST [steps]: a copy of the seed cache (downloads, packages, compiler cache); with
# `steps`, its step index and artifacts too, so that builds resume after the seed's steps.
copy_seed() {
  seed
  cp -a "$SEED" "$1"
  rm -f "$1/cache-id" "$1/in-use.lock"
  [ "${2:-}" = steps ] || rm -rf "$1/steps" "$1/artifacts"
}
seed_images_intact() { # every step image the seed's index names is still in the engine
  local f id
  for f in "$SEED"/steps/*.json; do
    id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["image_id"])' "$f")
    docker image inspect "$id" >/dev/null 2>&1 || fail "the seed's step image $id ($(basename "$f")) is gone"
  done
}
# hello_with RECIPE_OUT TOML: the hello recipe with TOML (steps) inserted before the `check` step.
hello_with() {
  python3 -c '
import sys
text = open("recipes/hello/debian-12.toml").read()
print(text.replace("[[steps]]\nname = \"check\"", sys.argv[1] + "\n[[steps]]\nname = \"check\""), end="")
' "$2" >"$1"
}

# rerun_tail CACHE: forget CACHE's entries of the last steps (compile, check, install) and its
# artifacts, so that its next build commits again the keys that the seed holds too (quick: the
# compiler cache is warm).
rerun_tail() {
  local f
  for f in "$1"/steps/*.json; do
    if grep -qE '"step": "(compile|check|install)"' "$f"; then rm -f "$f"; fi
  done
  rm -rf "$1/artifacts"
}

# --- 7.2 two caches on one engine ------------------------------------------------------------------
case_two_caches() {
  local other=$WORK/cache-72 t label
  copy_seed "$other" steps
  rerun_tail "$other"
  t=$(now)
  hello "$other" "$WORK/out-72" --mirror "$MIRROR" --json >"$WORK/72-other.json"
  note "7.2: the second cache committed the seed's keys again in $(since "$t") s"
  label=baker.cache=$(cache_identity "$other")
  [ -n "$(docker images -q --filter "label=$label")" ] || fail "the second cache's step images lack $label"
  seed_images_intact
  # `cache du` counts the cache's images as the engine does: each by what it adds to its parent.
  local engine_bytes=0 id
  for id in $(docker images -aq --no-trunc --filter "label=$label"); do
    engine_bytes=$((engine_bytes + $(docker image inspect -f '{{.Size}}' "$id") -
      $(docker image inspect -f '{{.Size}}' "$(docker image inspect -f '{{.Parent}}' "$id")")))
  done
  "$BAKER" cache du --json --cache-dir "$other" >"$WORK/72-du.json"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); n=int(sys.argv[2]); assert n > 0 and d["engine_bytes"] + d["engine_bytes_unheld"] == n, (d, n)' \
    "$WORK/72-du.json" "$engine_bytes" || fail "cache du's engine bytes differ from the engine's ($engine_bytes): $(cat "$WORK/72-du.json")"
  "$BAKER" cache prune --cache-dir "$other" --max-size 0 >"$WORK/72-prune.out" 2>&1
  seed_images_intact
  [ -z "$(docker images -q --filter "label=$label")" ] || fail "prune --max-size 0 left the cache's own images"
  rerun_tail "$other"
  cp -a "$SEED/steps/." "$other/steps/"
  rerun_tail "$other"
  hello "$other" "$WORK/out-72" --mirror "$MIRROR" --quiet
  "$BAKER" cache clear --cache-dir "$other" >"$WORK/72-clear.out" 2>&1
  seed_images_intact
  [ -z "$(docker images -q --filter "label=$label")" ] || fail "clear left the cache's own images: $(docker images --filter "label=$label")"
  hello "$SEED" "$WORK/out-72-seed" --mirror "$MIRROR" --json >"$WORK/72.json"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["cache_hits"] == len(d["steps"]), d["steps"]' "$WORK/72.json" ||
    fail "the seed's rebuild was not fully cached"
  no_test_containers
}

# --- 7.3 clear and prune while a build uses the cache --------------------------------------------------
case_clear_during_build() {
  local cache=$WORK/cache-73 recipe=$WORK/busy.toml pid loop status=0 runs
  copy_seed "$cache" steps
  # A step that takes a while after the seed's steps, so that clear and prune meet a running build.
  hello_with "$recipe" $'[[steps]]\nname = "busy"\nrun = "sleep 8; ls /var/cache/apt/archives | grep -c deb"\ncaches = ["packages"]\n'
  "$BAKER" build --recipe "$recipe" --cache-dir "$cache" --out "$WORK/out-73" --mirror "$MIRROR" --no-upstream >"$WORK/73.out" 2>"$WORK/73.err" &
  pid=$!
  for _ in $(seq 300); do grep -q 'busy' "$WORK/73.err" 2>/dev/null && break; sleep 0.1; done
  "$BAKER" cache clear --cache-dir "$cache" --no-wait >/dev/null 2>"$WORK/73-nowait.err" && fail "clear --no-wait ran during a build"
  expect_in "$WORK/73-nowait.err" "is in use by a running build"
  # …and names it: the build's pid and command line.
  expect_in "$WORK/73-nowait.err" "pid $pid (baker build --recipe $recipe"
  # A clear and a prune loop: each waits for the build, then runs.
  (while kill -0 "$pid" 2>/dev/null; do
    "$BAKER" cache clear --cache-dir "$cache" >>"$WORK/73-clear.out" 2>&1 || echo "clear failed" >>"$WORK/73-clear.out"
    "$BAKER" cache prune --cache-dir "$cache" --max-size 0 >>"$WORK/73-clear.out" 2>&1 || echo "prune failed" >>"$WORK/73-clear.out"
  done) &
  loop=$!
  wait "$pid" || status=$?
  wait "$loop" || true
  runs=$(grep -c '^removed' "$WORK/73-clear.out" || true)
  note "7.3: the build finished with status $status; clear/prune ran $runs times around it"
  [ "$status" = 0 ] || { tail -n 20 "$WORK/73.err"; fail "the build failed while clear/prune looped"; }
  expect_in "$WORK/73-clear.out" "waiting for the builds (and images, and launches) using the cache $cache to finish: pid $pid (baker build"
  if grep -q 'failed' "$WORK/73-clear.out"; then fail "a clear or prune failed: $(cat "$WORK/73-clear.out")"; fi
  expect_in "$WORK/73.out" "built $WORK/out-73/hello-2.10-debian-12.tar.gz"
  seed_images_intact
  no_test_containers
}

# --- 7.4 a step's variables stay in that step ---------------------------------------------------------
case_step_env() {
  local cache=$WORK/cache-74 recipe=$WORK/env.toml img base_env step
  copy_seed "$cache" steps
  hello_with "$recipe" $'[[steps]]\nname = "scoped"\nrun = "echo scoped sees ONLY_HERE=${ONLY_HERE:-unset} CC=$CC"\nenv = { ONLY_HERE = "1" }\n\n[[steps]]\nname = "after"\nrun = "echo after sees ONLY_HERE=${ONLY_HERE:-unset} jobs=${BAKER_JOBS:-unset}"\n'
  "$BAKER" build --recipe "$recipe" --cache-dir "$cache" --out "$WORK/out-74" --mirror "$MIRROR" --no-upstream --jobs 3 >/dev/null 2>"$WORK/74.err"
  expect_in "$WORK/out-74/logs/05-scoped.log" "scoped sees ONLY_HERE=1 CC=ccache gcc"
  expect_in "$WORK/out-74/logs/06-after.log" "after sees ONLY_HERE=unset jobs=3"
  base_env=$(docker image inspect -f '{{json .Config.Env}}' "$BASE")
  for step in scoped after install; do
    img=$(docker images -q --filter "label=$RUN_LABEL" --filter "label=baker.step=$step" --filter "label=baker.cache=$(cache_identity "$cache")" | head -n 1)
    [ -n "$img" ] || fail "no step image for $step"
    [ "$(docker image inspect -f '{{json .Config.Env}}' "$img")" = "$base_env" ] ||
      fail "step image of $step has Env $(docker image inspect -f '{{json .Config.Env}}' "$img"), not the base's $base_env"
  done
  no_test_containers
}

# --- 7.5 a SIGKILLed baker's container is removed by the next command ----------------------------------
case_sigkill_orphan() {
  local cache=$WORK/cache-75 recipe=$WORK/doomed.toml pid victim="" t
  copy_seed "$cache" steps
  hello_with "$recipe" $'[[steps]]\nname = "doomed"\nrun = "sleep 300"\n'
  "$BAKER" build --recipe "$recipe" --cache-dir "$cache" --out "$WORK/out-75" --mirror "$MIRROR" --no-upstream >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 300); do
    victim=$(docker ps -q --filter "label=$RUN_LABEL" --filter label=baker.step=doomed)
    [ -n "$victim" ] && break
    sleep 0.1
  done
  [ -n "$victim" ] || fail "the doomed step never started"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  sleep 1
  [ -n "$(docker ps -q --filter "id=$victim")" ] || fail "the container died with baker; nothing to test"
  # A container started by hand from a committed step image is not baker's: images do not carry the
  # pid of the process that committed them, so it must survive the next command.
  local image mine
  image=$(docker images -q --filter "label=$RUN_LABEL" --filter label=baker.step | head -n 1)
  [ -n "$image" ] || fail "no committed step image to start a container from"
  mine=$(docker run -d --label "$RUN_LABEL" "$image" sleep 300)
  t=$(now)
  # The next command that connects to the engine: `cache du` does, to measure the cache's images.
  "$BAKER" cache du --cache-dir "$cache" >"$WORK/75.out" 2>"$WORK/75.err"
  note "7.5: the next command removed the orphan in $(since "$t") s"
  [ -z "$(docker ps -aq --filter "id=$victim")" ] || fail "the orphaned container $victim is still there"
  expect_in "$WORK/75.err" "its baker process (pid $pid) is gone"
  [ -n "$(docker ps -q --filter "id=$mine")" ] || fail "a container started by hand from a step image was removed as an orphan"
  docker rm -f "$mine" >/dev/null
  no_test_containers
}

# --- 7.6 --jobs, step timeouts, the first error line -----------------------------------------------------
case_jobs_and_timeouts() {
  local cache=$WORK/cache-76 recipe=$WORK/slow.toml status t seconds jobs
  for jobs in 0 100000; do
    status=0
    hello "$cache" "$WORK/out-76" --mirror "$MIRROR" --jobs "$jobs" >/dev/null 2>"$WORK/76-jobs.err" || status=$?
    [ "$status" = 2 ] || fail "--jobs $jobs gave status $status, not a usage error"
    expect_in "$WORK/76-jobs.err" "invalid value '$jobs' for '--jobs <JOBS>': $jobs is not in 1..=1024"
  done
  [ ! -e "$cache/steps" ] || fail "a build ran with a bad --jobs"
  copy_seed "$cache" steps
  hello_with "$recipe" $'[[steps]]\nname = "stuck"\nrun = "sleep 300"\ntimeout = "3s"\n'
  status=0
  t=$(now)
  "$BAKER" build --recipe "$recipe" --cache-dir "$cache" --out "$WORK/out-76" --mirror "$MIRROR" --no-upstream >/dev/null 2>"$WORK/76-timeout.err" || status=$?
  seconds=$(since "$t")
  note "7.6: a step with timeout = \"3s\" failed after $seconds s (status $status)"
  [ "$status" != 0 ] || fail "a step over its timeout succeeded"
  expect_in "$WORK/76-timeout.err" "\`stuck\` ran over its timeout of 3s and was killed"
  python3 -c 'import sys; sys.exit(float(sys.argv[1]) > 60)' "$seconds" || fail "the timeout took $seconds s"
  hello_with "$recipe" $'[[steps]]\nname = "stuck"\nrun = "sleep 300"\n'
  "$BAKER" build --recipe "$recipe" --cache-dir "$cache" --out "$WORK/out-76" --mirror "$MIRROR" --no-upstream --step-timeout 2s >/dev/null 2>"$WORK/76-flag.err" && fail "a step over --step-timeout succeeded"
  expect_in "$WORK/76-flag.err" "\`stuck\` ran over its timeout of 2s and was killed"
  "$BAKER" build --recipe hello --step-timeout soon >/dev/null 2>"$WORK/76-bad.err" && fail "--step-timeout soon was accepted"
  expect_in "$WORK/76-bad.err" "\`soon\` is not a duration"
  hello_with "$recipe" $'[[steps]]\nname = "broken"\nrun = "echo \'src/x.c:12: error: expected ;\'; for i in $(seq 60); do echo make: filler line $i; done; exit 2"\n'
  "$BAKER" build --recipe "$recipe" --cache-dir "$cache" --out "$WORK/out-76" --mirror "$MIRROR" --no-upstream >/dev/null 2>"$WORK/76-error.err" && fail "the broken step succeeded"
  expect_in "$WORK/76-error.err" "first error in its log:"
  expect_in "$WORK/76-error.err" "  | src/x.c:12: error: expected ;"
  expect_in "$WORK/76-error.err" "  | make: filler line 60"
  no_test_containers
}

# --- 7.7 a full disk while the output set is written ------------------------------------------------------
set_is_whole() { # set_is_whole DIR: manifest, checksum file and tarball agree
  local dir=$1 file sum
  file=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["artifact"]["file_name"])' "$dir/manifest.json")
  sum=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["artifact"]["sha256"])' "$dir/manifest.json")
  [ "$(sha256sum "$dir/$file" | cut -d' ' -f1)" = "$sum" ] || fail "$dir/$file does not match its manifest"
  grep -q "^$sum" "$dir/$file.sha256" || fail "$dir/$file.sha256 does not match the manifest"
  { [ -f "$dir/plan.json" ] && [ -d "$dir/logs" ]; } || fail "$dir lacks plan.json or logs/"
}
set_digest() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
case_full_disk() {
  local cache=$WORK/cache-77 fs=$WORK/tmpfs out before after tarball free room
  copy_seed "$cache" steps
  mkdir -p "$fs"
  mount -t tmpfs -o size=16m tmpfs "$fs"
  out=$fs/out
  # The previous set must hold other bytes than the builds below, or they would take its files over
  # by hard links and need no room at all: it is built with another SOURCE_DATE_EPOCH (other times
  # in the tarball).
  SOURCE_DATE_EPOCH=1 hello "$cache" "$out" --mirror "$MIRROR" --quiet
  set_is_whole "$out"
  before=$(set_digest "$out")
  tarball=$(stat -c %s "$out"/hello-2.10-debian-12.tar.gz)
  # Full to the brim, then with room for the tarball and its checksum but not the manifest.
  local refused=0
  for room in 0 $(((tarball / 4096 + 2) * 4096)); do
    rm -f "$fs/fill"
    free=$(df -B1 --output=avail "$fs" | tail -n 1)
    fallocate -l $((free - room)) "$fs/fill" 2>/dev/null ||
      dd if=/dev/zero of="$fs/fill" bs=4096 count=$(((free - room) / 4096)) 2>/dev/null || true
    if hello "$cache" "$out" --mirror "$MIRROR" >/dev/null 2>"$WORK/77.err"; then
      note "7.7: with $room bytes free the build succeeded; the new set must be whole"
      set_is_whole "$out"
      before=$(set_digest "$out")
      continue
    fi
    note "7.7: with $room bytes free: $(grep -m1 -o 'No space left on device' "$WORK/77.err" || head -n 1 "$WORK/77.err")"
    grep -q 'No space left on device' "$WORK/77.err" || fail "not a full disk: $(cat "$WORK/77.err")"
    refused=$((refused + 1))
    after=$(set_digest "$out")
    [ "$before" = "$after" ] || fail "the previous set changed: $(diff <(echo "$before") <(echo "$after"))"
    set_is_whole "$out"
    [ -z "$(find "$fs" -maxdepth 1 -name '.out.*')" ] || fail "staging left behind: $(ls -a "$fs")"
  done
  [ "$refused" -gt 0 ] || fail "no build met a full disk: the case tested nothing"
  umount "$fs"
  no_test_containers
}

# --- 7.9 --out naming a file; a silent engine -----------------------------------------------------------
case_out_file_and_silent_engine() {
  local status=0 t seconds port
  touch "$WORK/a-file"
  hello "$WORK/cache-79b" "$WORK/a-file" --mirror "$MIRROR" >/dev/null 2>"$WORK/79-out.err" && fail "--out naming a file was accepted"
  expect_in "$WORK/79-out.err" "invalid value '$WORK/a-file' for '--out <DIR>': a file, not a folder"
  if grep -q 'File exists (os error 17)' "$WORK/79-out.err"; then fail "the bare I/O error is back"; fi
  silent_server engine
  port=$(cat "$WORK/engine.port")
  t=$(now)
  DOCKER_HOST=tcp://127.0.0.1:$port hello "$WORK/cache-79b" "$WORK/out-79b" --mirror "$MIRROR" >/dev/null 2>"$WORK/79-engine.err" || status=$?
  seconds=$(since "$t")
  note "7.9: a silent engine failed the build after $seconds s"
  [ "$status" != 0 ] || fail "a build against a silent engine succeeded"
  expect_in "$WORK/79-engine.err" "the Docker engine at tcp://127.0.0.1:$port (DOCKER_HOST) accepted the connection but did not answer within 10s"
  python3 -c 'import sys; sys.exit(float(sys.argv[1]) > 30)' "$seconds" || fail "it took $seconds s"
}

ALL_CASES=(
  "7.1 silent mirror: the next mirror is tried|case_silent_mirror"
  "7.8 a [[files]] path with .. fails plan and build with file:line:column|case_dotdot_file_path"
  "7.8 repository, key and role config paths are checked at load time|case_every_recipe_path"
  "7.9 --mirror ftp://x is refused, not taken for a directory|case_unknown_mirror_scheme"
  "7.9 a garbled baker.lock names its path and the fix|case_garbled_lock"
  "7.9 --out naming a file names --out; a silent engine names DOCKER_HOST within seconds|case_out_file_and_silent_engine"
  "7.6 --jobs outside 1..=1024 is refused at the flag; a step over its timeout is killed; the first error line is shown|case_jobs_and_timeouts"
  "7.2 two caches on one engine: prune and clear in one keep the other's step images|case_two_caches"
  "7.3 clear and prune during a build wait for it, and the build succeeds|case_clear_during_build"
  "7.4 a step-scoped variable stays in its step; step images carry the base image's environment|case_step_env"
  "7.5 a SIGKILLed baker's step container is removed by the next command|case_sigkill_orphan"
  "7.7 a full disk while writing the output set leaves the previous set whole|case_full_disk"
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
