#!/usr/bin/env bash
# lib.sh — sourced by the end-to-end scripts: which baker to run, the labels that mark what tests
# create, the shared base image, timing, the ok/not ok checks, and the cleanup of what the tests made.

BAKER=${BAKER:-$PWD/target/release/baker}
[ -x "$BAKER" ] || cargo build --release -q
# Every container and committed image baker makes in a test carries this label.
export BAKER_LABELS=baker.test=1
BASE=debian:bookworm

now() { date +%s.%N; }
say() { echo "$(basename "$0" .sh): $*" >&2; }
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() { # check DESCRIPTION COMMAND…
  local what=$1
  shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# json FILE EXPR: EXPR evaluated in Python with the parsed FILE as `d`.
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
resumes() { # resumes NAME DESCRIPTION ERR: `baker launch NAME --resume` reaches ready (timed); its
  # errors go to ERR, shown when it fails
  local t
  t=$(now)
  if "$BAKER" launch "$1" --resume >"${3%.err}.out" 2>"$3"; then
    ok "$2 ($(since "$t") s)"
  else
    not_ok "$2"
    tail -n 40 "$3" >&2
  fi
}
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(now)"; }
# interrupt PATTERN ERR DELAY COMMAND…: Ctrl-C as a user sends it. Runs COMMAND in the background as
# a process of its own (with job control on, so that it does not start with SIGINT ignored, as a
# non-interactive shell's background jobs otherwise do), its stderr to ERR; once PATTERN shows in
# ERR (or COMMAND ended, or two minutes passed), waits DELAY seconds more, sends SIGINT and waits for
# it. Sets REACHED (yes when PATTERN showed), STATUS (its exit status) and STOPPED_IN (seconds from
# the signal to its end).
interrupt() {
  local pattern=$1 err=$2 delay=$3 pid t
  shift 3
  set -m
  "$@" >/dev/null 2>"$err" &
  pid=$!
  set +m
  REACHED=no
  for _ in $(seq 1200); do
    if grep -q -- "$pattern" "$err" 2>/dev/null; then REACHED=yes; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  sleep "$delay"
  t=$(now)
  kill -INT "$pid" 2>/dev/null || true
  STATUS=0
  wait "$pid" || STATUS=$?
  STOPPED_IN=$(since "$t")
}

# Removes containers, networks, volumes and images labelled baker.test (baker puts BAKER_LABELS on
# every container and committed step image), or only those carrying LABEL (`key` or `key=value`) when
# one is given, except the base image, which ci/test.sh removes at the very end, and, when
# $BAKER_SUITE_KEEPS_TOOLS is set (by ci/test.sh), baker's tools image (`baker-tools:*`): a minute of
# apt that the suite's image and QEMU scripts share, removed by ci/test.sh at the end. `docker images`
# lists the newest first, so children go before their parents; a few rounds catch what a race left.
remove_test_resources() { # remove_test_resources [LABEL]
  local label=${1:-baker.test} keep_tools=${BAKER_SUITE_KEEPS_TOOLS:+1}
  docker ps -aq --filter "label=$label" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker network ls -q --filter "label=$label" | xargs -r docker network rm >/dev/null 2>&1 || true
  docker volume ls -q --filter "label=$label" | xargs -r docker volume rm -f >/dev/null 2>&1 || true
  for _ in 1 2 3; do
    docker images --filter "label=$label" --format '{{.ID}} {{.Repository}}:{{.Tag}}' \
      | awk -v base="$BASE" -v keep_tools="$keep_tools" \
        '$2 != base && !(keep_tools && $2 ~ /^baker-tools:/) && !seen[$1]++ {print $1}' \
      | xargs -r docker rmi -f >/dev/null 2>&1 || true
  done
}

# start_run NAME: begins this script's run. $WORK is a new temporary directory, and $RUN_LABEL
# (baker.test.run=NAME-<pid>) joins BAKER_LABELS, so that everything baker and the script make carries
# it: the script's checks and cleanup never see another run's resources. On exit, the script's
# `before_cleanup` runs when it defines one (destroying clusters, stopping servers…), then what carries
# the label (containers, networks, volumes, images) and $WORK are removed.
start_run() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/baker-$1.XXXXXX")
  RUN_LABEL=baker.test.run=$1-$$
  export BAKER_LABELS="baker.test=1,$RUN_LABEL"
  trap end_run EXIT
}
end_run() {
  if declare -F before_cleanup >/dev/null; then before_cleanup || true; fi
  remove_test_resources "$RUN_LABEL"
  if [ -n "${NONROOT:-}" ]; then userdel -r "$NONROOT" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}

# A user without root who may use the engine (in the group of its socket), as most people run baker:
# `nonroot_user` makes one for this run, removed with its home at the end, with baker in its home
# ($NONROOT, $NONROOT_HOME); `as_nonroot COMMAND…` runs COMMAND as that user, from its home, with
# this run's labels.
nonroot_user() {
  local socket=${DOCKER_HOST:-unix:///var/run/docker.sock}
  NONROOT=bakerci$$
  useradd --create-home --groups "$(stat -c %G "${socket#unix://}")" --shell /bin/bash "$NONROOT"
  NONROOT_HOME=$(getent passwd "$NONROOT" | cut -d: -f6)
  install -o "$NONROOT" -m 755 "$BAKER" "$NONROOT_HOME/baker"
}
cache_identity() { # CACHE_DIR: the label value (baker.cache=…) of what that cache keeps in the engine
  printf '%s\0%s' "$(realpath "$1")" "$(cat "$1/cache-id")" | sha256sum | cut -d' ' -f1
}
as_nonroot() { # (from /: the script's own directory, a fresh clone in a 0700 temporary one, may be closed to it)
  (cd / && runuser -u "$NONROOT" -- env BAKER_LABELS="$BAKER_LABELS" HOME="$NONROOT_HOME" \
    bash -c 'cd "$HOME" && exec "$@"' as_nonroot "$@")
}

# BuildKit's cache records on the engine, one ID a line, sorted. They carry no labels, so a script that
# builds with BuildKit lists them before it starts and removes the new ones when it ends.
build_cache_ids() {
  { docker system df -v --format '{{json .BuildCache}}' 2>/dev/null || true; } \
    | python3 -c 'import json, sys; t = sys.stdin.read().strip(); [print(r["ID"]) for r in (json.loads(t) if t else None) or []]' | sort
}
remove_build_cache_since() { # remove_build_cache_since FILE: the records not listed in FILE
  local id new _
  # One ID a call (the engine takes one value a filter); a record under another goes in a later
  # round, and one BuildKit still holds for a moment after the build (seen in CI) in a round after that.
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    new=$(comm -13 "$1" <(build_cache_ids))
    [ -n "$new" ] || return 0
    for id in $new; do
      docker builder prune -af --filter "id=$id" >/dev/null 2>&1 || true
    done
    sleep 1
  done
  say "BuildKit cache records left on the engine: $(comm -13 "$1" <(build_cache_ids) | tr '\n' ' ')"
}

# The PostgreSQL build (a `baker build --out` directory) that the launch scripts start from:
# $BAKER_PG_BUILD when it holds one (ci/test.sh shares the one ci/e2e-build.sh made), else one
# built under WORK from a loopback source mirror. Prints its path.
pg_build() { # pg_build WORK
  local work=$1
  if [ -n "${BAKER_PG_BUILD:-}" ] && [ -f "$BAKER_PG_BUILD/plan.json" ]; then
    echo "$BAKER_PG_BUILD"
    return
  fi
  say "building postgresql (set BAKER_PG_BUILD to reuse a build)"
  bash ci/source-mirror.sh "$work/mirror" >&2
  "$BAKER" build --recipe postgresql --distro debian12 --cache-dir "$work/cache" --out "$work/pg-out" \
    --mirror "$work/mirror" --no-upstream -q >&2
  # Only the build folder is needed from here on: its step images and cache (several hundred MB)
  # go now rather than at the caller's exit.
  "$BAKER" cache clear --cache-dir "$work/cache" -q >&2
  echo "$work/pg-out"
}

# A copy of the build in SRC with one file of its tarball changed (a line appended to the
# PostgreSQL library path file), repacked as baker packs it and with manifest.json's sha256
# updated: what a one-file change in a build gives `baker image --from`.
changed_build() { # changed_build SRC DST
  local src=$1 dst=$2 tarball
  tarball=$(json "$src/manifest.json" 'd["artifact"]["file_name"]')
  mkdir -p "$dst/x"
  tar -xzf "$src/$tarball" -C "$dst/x"
  echo "# changed" >>"$dst/x/etc/ld.so.conf.d/postgresql.conf"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@"$(json "$src/manifest.json" 'd["source_date_epoch"]')" \
    -C "$dst/x" -czf "$dst/$tarball" .
  rm -rf "$dst/x"
  cp "$src/plan.json" "$dst/"
  python3 - "$src/manifest.json" "$dst" <<'PY'
import hashlib, json, sys
m = json.load(open(sys.argv[1]))
tarball = f"{sys.argv[2]}/{m['artifact']['file_name']}"
m["artifact"]["sha256"] = hashlib.sha256(open(tarball, "rb").read()).hexdigest()
json.dump(m, open(f"{sys.argv[2]}/manifest.json", "w"))
PY
}
