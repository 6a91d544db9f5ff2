#!/usr/bin/env bash
# e2e-launch.sh — `baker launch --provider docker` end to end on a real engine, with the PostgreSQL
# example, whose primary/standby pair is a real master/slave cluster:
#   - Ctrl-C while the node image is made stops the launch, leaving nothing;
#   - 1 primary + 2 standbys with --smoke: the primary's pg_stat_replication shows 2 streaming
#     standbys, the smoke row is on both, a client without the password is refused, the ports are
#     published on 127.0.0.1 only, status/logs/clusters answer from a new process, no secret in the
#     state file or in `status`; `launch --resume` runs a smoke test an interrupt cut short again;
#   - destroy leaves no container or network, and is safe to repeat;
#   - bad input fails before anything is created (a name in use, --masters 2); so does a launch of
#     pg from another state directory while pg runs (which it leaves alone, as its destroy does), and
#     one whose node name a user's own container takes (which it keeps);
#   - a standby pointed at a wrong master is reported as that standby failing, with its log, and
#     the failed cluster is rolled back;
#   - two clusters run side by side; while a launch runs, status says so and a second `--resume`
#     or a destroy of that cluster is refused; a launch killed midway is finished by `launch
#     --resume`, or cleaned up by destroy; resuming a ready cluster whose standby's container stopped starts
#     that same container again, to ready; a node restarted outside baker (`docker restart`) makes
#     status exit 3 until `launch --resume` checks it again;
#   - the node image belongs to the cache: `cache du` counts it; a changed build makes a new one,
#     the older stays while a cluster names it or another launch holds the cache, and goes with the
#     next launch after; `cache prune` keeps it while a cluster runs it, and removes it after.
# The build comes from $BAKER_PG_BUILD (a `baker build` output directory; ci/test.sh shares the one
# ci/e2e-build.sh made), else this script builds PostgreSQL itself. Prints "N passed, N failed" last.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ci/lib.sh
. ci/lib.sh

start_run launch
export BAKER_STATE_DIR=$WORK/state
before_cleanup() {
  for c in $("$BAKER" clusters -q 2>/dev/null; ls "$BAKER_STATE_DIR" 2>/dev/null); do
    "$BAKER" destroy "$c" >/dev/null 2>&1 || true
  done
}


bash ci/docker-up.sh
BAKER=$BAKER bash ci/base-image.sh "$BASE"

PG_OUT=$(pg_build "$WORK")
export BAKER_CACHE_DIR=$WORK/cache
PSQL=/usr/local/pgsql/bin/psql

# --- Ctrl-C while the node image is made ----------------------------------------------------------
# Once the build's stage has ended, nothing listened for signals until the launch proper began: a
# Ctrl-C then was lost and the launch went on to exit 0. The node image is made from this run's own
# cache, so it is new here; the launch below makes it again.
setsid "$BAKER" launch pgint --from "$PG_OUT" >"$WORK/int.out" 2>"$WORK/int.err" &
int=$!
for _ in $(seq 1 300); do grep -q "making the node image" "$WORK/int.err" && break; sleep 0.1; done
sleep 1
kill -INT "$int" 2>/dev/null || true
t=$(now)
status=0
wait "$int" || status=$?
check "Ctrl-C while the node image is made stops the launch with status 130 (saw $status, $(since "$t") s after)" [ "$status" = 130 ]
check "and says nothing of the cluster was made" grep -q "interrupted before cluster pgint had any node: nothing of it was made" "$WORK/int.err"
check "and leaves no container, no state and no node image" bash -c \
  "[ -z \"\$(docker ps -aq --filter label=baker.node-image)\" ] && [ ! -e '$BAKER_STATE_DIR/pgint' ] && \
   [ -z \"\$(docker images -q --filter label=baker.cache=$(cache_identity "$BAKER_CACHE_DIR") --filter label=baker.node-of)\" ] && [ \"\$('$BAKER' clusters)\" = 'no clusters' ]"

# --- 1+2 with the smoke test -----------------------------------------------------------------------
t=$(now)
if "$BAKER" launch pg --from "$PG_OUT" --masters 1 --slaves 2 --smoke >"$WORK/launch.out" 2>"$WORK/launch.err"; then
  ok "launch pg 1+2 --smoke reaches ready ($(since "$t") s with the node image)"
else
  not_ok "launch pg 1+2 --smoke reaches ready"
  tail -n 30 "$WORK/launch.err" >&2
fi
cat "$WORK/launch.out" >&2
streaming=$(docker exec pg-primary bash -c ". /etc/baker/role/env; $PSQL -h pg-primary -U postgres -Atc \"select count(*) from pg_stat_replication where state = 'streaming'\"" 2>&1 || true)
check "the primary's pg_stat_replication shows 2 streaming standbys (saw: $streaming)" [ "$streaming" = 2 ]
for s in pg-standby-1 pg-standby-2; do
  row=$(docker exec "$s" bash -c ". /etc/baker/role/env; $PSQL -h $s -U postgres -Atc 'select v from baker_smoke'" 2>&1 || true)
  check "the smoke row is on $s (saw: $row)" [ "$row" = "written on pg-primary" ]
done
refused=$(docker exec pg-standby-1 bash -c "$PSQL -h pg-primary -U postgres -Atc 'select 1'" 2>&1 || true)
check "a client without the password is refused" grep -q "password" <<<"$refused"
check "ports are published on 127.0.0.1 only" bash -c \
  "docker port pg-primary 5432 | grep -q '^127.0.0.1:' && ! docker port pg-primary 5432 | grep -qv '^127.0.0.1:'"
"$BAKER" status pg >"$WORK/status.out"
check "status shows 3 ready nodes" [ "$(grep -c 'ready since' "$WORK/status.out")" = 3 ]
check "and names each node's container by its short id, as docker ps does" bash -c \
  "ids=\$(docker ps -q --filter label=baker.cluster=pg); [ \$(echo \$ids | wc -w) = 3 ] && for id in \$ids; do grep -q \" \$id \" '$WORK/status.out' || exit 1; done"
port=$(grep -oE '; ports [0-9]+->5432' "$WORK/status.out" | head -1 | grep -oE '[0-9]+->' | tr -d '>-')
check "and each node's host port for 5432, where the primary answers ($port)" bash -c \
  "[ \$(grep -cE '; ports [0-9]+->5432' '$WORK/status.out') = 3 ] && timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$port'"
login=$(printf 'cat /etc/baker/role/node\ncommand -v psql\n' | "$BAKER" login pg master 2>"$WORK/login.err" || true)
check "login with piped input runs it in the master named by its kind, psql on its PATH (saw: $(tr '\n' ' ' <<<"$login"))" \
  bash -c 'grep -qx pg-primary <<<"$1" && grep -qx /usr/local/pgsql/bin/psql <<<"$1" && ! grep -q "not a TTY" "$2"' _ "$login" "$WORK/login.err"
"$BAKER" logs pg standby-1 >"$WORK/logs.out"
check "logs shows the standby's role log" grep -q "role standby starting on pg-standby-1" "$WORK/logs.out"
# logs -f runs until stopped: in a session of its own, so that stopping it stops its docker client too.
setsid "$BAKER" logs pg standby-1 -f >"$WORK/follow.out" 2>&1 &
follow=$!
sleep 3
kill -- "-$follow" 2>/dev/null || true
wait "$follow" 2>/dev/null || true
check "logs -f follows the standby's role log" grep -q "role standby starting on pg-standby-1" "$WORK/follow.out"
check "clusters lists pg as ready" bash -c "'$BAKER' clusters | grep -q '^pg .*ready'"
secret=$(cat "$BAKER_STATE_DIR/pg/secret")
check "the secret is 0600 and in neither the state file nor status" bash -c \
  "[ \"\$(stat -c %a '$BAKER_STATE_DIR/pg/secret')\" = 600 ] && ! grep -q '$secret' '$BAKER_STATE_DIR/pg/state.json' '$WORK/status.out'"

# --- a smoke test an interrupt cut short ----------------------------------------------------------
# What Ctrl-C between the smoke test's steps leaves: the cluster ready, the primary's row written,
# and no result recorded (the state records the test once all of it passed).
python3 - "$BAKER_STATE_DIR/pg/state.json" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
del state["timings"]["smoke"]
json.dump(state, open(sys.argv[1], "w"), indent=2)
PY
"$BAKER" launch pg --resume >"$WORK/smoke-again.out" 2>&1 && status=0 || status=$?
check "launch --resume runs an unfinished smoke test again, over the row its first run wrote" bash -c \
  "[ $status = 0 ] && grep -q 'its smoke test did not finish: running it again' '$WORK/smoke-again.out' && grep -q 'smoke test 2/2' '$WORK/smoke-again.out'"
[ "$failed" = 0 ] || cat "$WORK/smoke-again.out" >&2
rows=$(docker exec pg-standby-2 bash -c ". /etc/baker/role/env; $PSQL -h pg-standby-2 -U postgres -Atc 'select count(*) from baker_smoke'" 2>&1 || true)
check "the smoke table holds one row after the second run (saw: $rows)" [ "$rows" = 1 ]
check "and the state records the test's result" python3 -c \
  "import json, sys; sys.exit('smoke' not in json.load(open(sys.argv[1]))['timings'])" "$BAKER_STATE_DIR/pg/state.json"

# --- another state directory's cluster of the same name, and a user's container named like a node --
OTHER_STATE=$WORK/state-other
BAKER_STATE_DIR=$OTHER_STATE "$BAKER" launch pg --from "$PG_OUT" --slaves 1 >"$WORK/other.out" 2>&1 && status=0 || status=$?
check "a launch of pg from another state directory is refused, naming the running pg's containers and network" bash -c \
  "[ $status = 1 ] && grep -q 'a cluster named pg of another state directory runs on this engine (containers pg-primary, pg-standby-1, pg-standby-2; network baker-pg)' '$WORK/other.out'"
[ "$failed" = 0 ] || cat "$WORK/other.out" >&2
BAKER_STATE_DIR=$OTHER_STATE "$BAKER" destroy pg >"$WORK/other-destroy.out" 2>&1 && status=0 || status=$?
check "and a destroy of pg from there fails, saying the engine's pg is another state directory's and how to remove it (status $status)" bash -c \
  "[ $status = 1 ] && grep -q 'the cluster named pg on this engine (containers pg-primary, pg-standby-1, pg-standby-2; network baker-pg) is another state directory' '$WORK/other-destroy.out' && grep -q 'docker rm -f' '$WORK/other-destroy.out'"
check "neither it nor a destroy of pg from that state directory touched pg: still ready, with its 3 containers and its network" bash -c \
  "'$BAKER' -q status pg && [ \$(docker ps -q --filter label=baker.cluster=pg | wc -l) = 3 ] && [ \$(docker network ls -q --filter label=baker.cluster=pg | wc -l) = 1 ]"
docker run -d --name mine-primary --label "$RUN_LABEL" "$BASE" sleep infinity >/dev/null
"$BAKER" launch mine --from "$PG_OUT" --slaves 0 >"$WORK/mine.out" 2>&1 && status=0 || status=$?
check "a launch whose node name a user's own container takes is refused, naming it; the container runs on, and no network was made" bash -c \
  "[ $status = 1 ] && grep -q 'container mine-primary (not baker.s) takes a name cluster mine needs' '$WORK/mine.out' && [ \$(docker ps -q --filter name=mine-primary | wc -l) = 1 ] && [ -z \"\$(docker network ls -q --filter label=baker.cluster=mine)\" ]"
[ "$failed" = 0 ] || cat "$WORK/mine.out" >&2
docker rm -f mine-primary >/dev/null

# --- bad input fails before anything is created --------------------------------------------------
before=$(docker ps -aq --filter "label=$RUN_LABEL" | wc -l)
check "a cluster name in use is refused" bash -c "'$BAKER' launch pg --from '$PG_OUT' 2>&1 | grep -q 'exists already'"
check "--masters 2 is refused for a one-master recipe" bash -c \
  "'$BAKER' launch pg2 --from '$PG_OUT' --masters 2 2>&1 | grep -q 'supports one master'"
check "and nothing was created by either" [ "$(docker ps -aq --filter "label=$RUN_LABEL" | wc -l)" = "$before" ]

# --- two clusters side by side ---------------------------------------------------------------------
check "a second cluster runs beside the first" bash -c "'$BAKER' launch side --from '$PG_OUT' --slaves 1 >'$WORK/side.out' 2>&1"
check "the first launch's summary counts the node image it made, then boot, ready and smoke; the second's, which found it, starts at boot" bash -c \
  "grep -qE '^  took: node image [0-9.]+s, boot [0-9.]+s, ready [0-9.]+s, smoke [0-9.]+s\$' '$WORK/launch.out' && grep -qE '^  took: boot [0-9.]+s, ready [0-9.]+s\$' '$WORK/side.out'"
[ "$failed" = 0 ] || cat "$WORK/side.out" >&2
check "both answer" bash -c "docker exec pg-primary true && docker exec side-primary true"

# --- destroy -------------------------------------------------------------------------------------
"$BAKER" destroy pg >"$WORK/destroy.out"
check "destroy counts pg's 3 containers and its network apart" \
  grep -qx 'destroyed pg: 3 containers and 1 network removed' "$WORK/destroy.out"
check "destroy leaves no container or network of the cluster" bash -c \
  "[ -z \"\$(docker ps -aq --filter label=baker.cluster=pg)\" ] && [ -z \"\$(docker network ls -q --filter label=baker.cluster=pg)\" ]"
check "destroy is safe to repeat" "$BAKER" destroy pg
check "the other cluster is untouched" docker exec side-primary true
"$BAKER" destroy side >/dev/null

# --- a standby given a wrong master --------------------------------------------------------------
mkdir -p "$WORK/recipes/postgresql" "$WORK/bad"
python3 - "$WORK/recipes/postgresql/debian-12.toml" <<'PY'
import sys
text = open("recipes/postgresql/debian-12.toml").read()
standby = text.index("[roles.standby]")
head, tail = text[:standby], text[standby:]
# The standby waits for a master at its own address, where nothing listens: it never gets ready.
wrong = tail.replace("pg_isready -q -U postgres -h {{master.ip}}", "pg_isready -q -U postgres -h {{self.ip}}", 1)
wrong = wrong.replace('equals = "streaming"', 'equals = "streaming"\ntimeout_seconds = 15', 1)
# The recipe changed under this test when a replacement finds nothing: fail here, not later.
assert wrong.count("{{self.ip}}") > tail.count("{{self.ip}}") and "timeout_seconds = 15" in wrong, "the standby's wait for its primary is not where this test looks"
tail = wrong
open(sys.argv[1], "w").write(head + tail)
PY
"$BAKER" --recipes-dir "$WORK/recipes" plan --recipe postgresql --distro debian12 --json \
  | python3 -c "import json,sys; d=json.load(sys.stdin); d['format']=1; json.dump(d, open(sys.argv[1], 'w'))" "$WORK/bad/plan.json"
cp "$PG_OUT"/postgresql-*.tar.gz "$PG_OUT/manifest.json" "$WORK/bad/"
"$BAKER" launch wrong --from "$WORK/bad" --slaves 1 >"$WORK/wrong.out" 2>&1 && status=0 || status=$?
check "a standby with a wrong master fails the launch" [ "$status" != 0 ]
check "the failure names the standby, shows its role log and the recipe's hint" bash -c \
  "grep -q 'node wrong-standby-1 (standby) is not ready' '$WORK/wrong.out' && grep -q 'waiting for the primary at' '$WORK/wrong.out' && grep -q 'hint: the standby cannot reach its primary' '$WORK/wrong.out'"
[ "$failed" = 0 ] || cat "$WORK/wrong.out" >&2
check "the failed cluster was rolled back" bash -c \
  "[ -z \"\$(docker ps -aq --filter label=baker.cluster=wrong)\" ] && ! '$BAKER' status wrong 2>/dev/null"

# --- a launch killed midway: resumed, or destroyed -----------------------------------------------
kill_midway() { # kill_midway NAME [CHECKS]: starts a 1+1 launch and SIGKILLs it once its first
  # container runs; with CHECKS, first runs that function with the launch's pid while the launch
  # is frozen (SIGSTOP: it holds its cluster as a launch at work in another shell does)
  "$BAKER" launch "$1" --from "$PG_OUT" --slaves 1 -q &
  local pid=$!
  for _ in $(seq 1 100); do
    [ -n "$(docker ps -q --filter "label=baker.cluster=$1")" ] && break
    sleep 0.1
  done
  if [ -n "${2:-}" ]; then
    # Stopped (T), not a zombie that ended before it: a zombie takes the signal too.
    if kill -STOP "$pid" 2>/dev/null && sleep 0.1 && [ "$(ps -o stat= -p "$pid" | cut -c1)" = T ]; then
      "$2" "$pid"
    else
      not_ok "the launch of $1 still ran once its first container did (it had ended: nothing to check it against)"
    fi
  fi
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
while_launching() { # while_launching PID: what other commands do while launch PID runs
  "$BAKER" status resumed >"$WORK/launching-status.out" 2>&1 && status=0 || status=$?
  check "while a launch runs in another shell, status says so, naming its pid, and exits 3" bash -c \
    "[ $status = 3 ] && grep -q ': its launch runs now (pid $1 (baker launch resumed ' '$WORK/launching-status.out'"
  "$BAKER" launch resumed --resume >"$WORK/launching-resume.out" 2>&1 && status=0 || status=$?
  check "a --resume meanwhile is refused, naming the launch" bash -c \
    "[ $status = 1 ] && grep -q 'cluster .resumed. is busy: its launch runs now (pid $1 (baker launch resumed ' '$WORK/launching-resume.out'"
  "$BAKER" destroy resumed >"$WORK/launching-destroy.out" 2>&1 && status=0 || status=$?
  check "so is a destroy, which leaves the cluster's containers and state alone" bash -c \
    "[ $status = 1 ] && grep -q 'pid $1 ' '$WORK/launching-destroy.out' && [ -n \"\$(docker ps -q --filter label=baker.cluster=resumed)\" ] && [ -f '$BAKER_STATE_DIR/resumed/state.json' ]"
  [ "$failed" = 0 ] || cat "$WORK"/launching-*.out >&2
}
kill_midway resumed while_launching
"$BAKER" status resumed >"$WORK/killed-status.out" 2>&1 && status=0 || status=$?
check "a launch killed midway left its state; status says it stopped and to finish it with --resume, and exits 3 (not ready)" bash -c \
  "[ $status = 3 ] && grep -q 'its launch stopped before it finished (.baker launch resumed --resume. finishes it)' '$WORK/killed-status.out'"
check "launch --resume finishes it" "$BAKER" launch resumed --resume -q
"$BAKER" status resumed >"$WORK/resumed.out" 2>&1 || true
check "and both its nodes are ready" [ "$(grep -c 'ready since' "$WORK/resumed.out")" = 2 ]
# A ready node whose container stopped (as when the host restarts) is started again in that
# container, with what it held.
id=$(docker ps -q --no-trunc --filter name=resumed-standby-1)
node_field() { json "$BAKER_STATE_DIR/resumed/state.json" "[n for n in d['nodes'] if n['name']=='resumed-$1'][0]['$2']"; }
primary_since=$(node_field primary ready_since)
standby_since=$(node_field standby-1 ready_since)
standby_ports=$(node_field standby-1 published)
sleep 1 # a new ready time differs from the old one by a second at least
docker stop -t 5 resumed-standby-1 >/dev/null 2>&1 || true
"$BAKER" -q status resumed && status=0 || status=$?
check "with the standby's container stopped, status -q exits 3 (a health check fails)" [ "$status" = 3 ]
"$BAKER" launch resumed --resume >"$WORK/restart.out" 2>&1 && status=0 || status=$?
check "launch --resume of the ready cluster with its standby's container stopped reaches ready again" [ "$status" = 0 ]
check "it started the standby again in its own container, not a new one" bash -c \
  "grep -q 'resumed-standby-1 does not run: starting it again over its own disk' '$WORK/restart.out' && [ -n '$id' ] && [ \"\$(docker ps -q --no-trunc --filter name=resumed-standby-1)\" = '$id' ]"
[ "$failed" = 0 ] || cat "$WORK/restart.out" >&2
"$BAKER" status resumed >"$WORK/restarted.out" 2>&1 && status=0 || status=$?
check "and both its nodes are ready again, status exiting 0" \
  bash -c "[ $status = 0 ] && [ \$(grep -c 'ready since' '$WORK/restarted.out') = 2 ]"
check "the primary, which never stopped, keeps its ready time; the standby has a new one" bash -c \
  "[ '$(node_field primary ready_since)' = '$primary_since' ] && [ '$(node_field standby-1 ready_since)' != '$standby_since' ]"
if [ "$(node_field standby-1 published)" = "$standby_ports" ]; then
  check "the standby's ports stayed where they were ($standby_ports), and resume says nothing of them" \
    bash -c "! grep -q 'is now published on host port' '$WORK/restart.out'"
else
  check "the standby's ports moved ($standby_ports -> $(node_field standby-1 published)), and resume says so" \
    grep -q "resumed-standby-1's port .* is now published on host port" "$WORK/restart.out"
fi
# A node restarted outside baker (as `docker start` after a reboot) runs, but its role was not
# checked since: a few seconds after it was checked ready, so that its start is seen as later.
sleep 4
docker restart -t 5 resumed-standby-1 >/dev/null
"$BAKER" status resumed >"$WORK/restarted-outside.out" 2>&1 && status=0 || status=$?
check "after a docker restart of the standby, status says it was not checked since and --resume checks it, and exits 3" bash -c \
  "[ $status = 3 ] && grep -q 'resumed-standby-1 .*running, not checked ready since it started: .baker launch resumed --resume. checks it' '$WORK/restarted-outside.out'"
[ "$failed" = 0 ] || cat "$WORK/restarted-outside.out" >&2
"$BAKER" launch resumed --resume >"$WORK/recheck.out" 2>&1 && status=0 || status=$?
check "launch --resume checks the restarted standby again, and status then exits 0" bash -c \
  "[ $status = 0 ] && grep -q 'resumed-standby-1 was started again outside baker since it was checked ready: checking it again' '$WORK/recheck.out' && '$BAKER' -q status resumed"
[ "$failed" = 0 ] || cat "$WORK/recheck.out" >&2
"$BAKER" destroy resumed >/dev/null
kill_midway killed
check "destroy of a half-made cluster removes its containers and network" bash -c \
  "'$BAKER' destroy killed >/dev/null && [ -z \"\$(docker ps -aq --filter label=baker.cluster=killed)\" ] && [ -z \"\$(docker network ls -q --filter label=baker.cluster=killed)\" ]"

# --- node images belong to the cache ---------------------------------------------------------------
ID=$(cache_identity "$BAKER_CACHE_DIR")
nodes() { docker images -q --filter "label=baker.cache=$ID" --filter label=baker.node-of=postgresql-debian-12 | wc -l; }
"$BAKER" cache du --json >"$WORK/du.json"
check "the cache holds one node image, and cache du counts it ($(json "$WORK/du.json" 'd["parts"].get("node-images")'))" \
  bash -c "[ $(nodes) = 1 ] && [ $(json "$WORK/du.json" 'd["parts"]["node-images"]["bytes"] > 100e6') = True ]"
changed_build "$PG_OUT" "$WORK/pg-changed"
"$BAKER" launch old --from "$PG_OUT" --slaves 0 -q
"$BAKER" launch new --from "$WORK/pg-changed" --slaves 0 -q
check "a changed build makes a new node image, and the older stays while a cluster names it ($(nodes))" [ "$(nodes)" = 2 ]
"$BAKER" destroy old >/dev/null
"$BAKER" destroy new >/dev/null
# Another launch that has picked its node image but not yet named it in its state holds the cache's
# lock shared; `flock -s` stands in for it, so no launch may remove an image no cluster names.
flock -s "$BAKER_CACHE_DIR/in-use.lock" "$BAKER" launch held --from "$WORK/pg-changed" --slaves 0 -q
check "while another launch holds the cache, a launch removes no node image ($(nodes))" [ "$(nodes)" = 2 ]
"$BAKER" destroy held >/dev/null
"$BAKER" launch again --from "$WORK/pg-changed" --slaves 0 -q
check "the next launch of the recipe removes the node image no cluster names any more ($(nodes))" [ "$(nodes)" = 1 ]
"$BAKER" cache prune --max-size 1M >"$WORK/prune-kept.out" 2>&1 || cat "$WORK/prune-kept.out" >&2
check "cache prune keeps the node image a cluster's containers run, and says so ($(nodes))" \
  bash -c "[ $(nodes) = 1 ] && grep -q 'kept 1 entry whose images containers were created from' '$WORK/prune-kept.out'"
"$BAKER" destroy again >/dev/null
"$BAKER" cache prune --max-size 1M >"$WORK/prune.out" 2>&1 || cat "$WORK/prune.out" >&2
check "cache prune --max-size 1M removes it once the cluster is gone ($(nodes))" [ "$(nodes)" = 0 ]

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
