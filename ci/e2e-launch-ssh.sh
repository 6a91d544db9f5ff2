#!/usr/bin/env bash
# e2e-launch-ssh.sh — `baker launch --provider ssh` end to end, on "machines" that are containers
# running sshd which this script makes (from the local base image, with a test key authorized), and
# the PostgreSQL example:
#   - an unreachable host is refused before anything is made, and so is a machine whose SSH host key
#     is not known, saying how to trust it, without --accept-new-host-keys (which the launches below
#     give: keys seen first go to the cluster's own known_hosts, never the user's);
#   - 1 primary + 2 standbys from a Mesos deploy directory (`masters`/`slaves` files) with --smoke:
#     the runtime packages, the tarball and the agent are installed over SSH, the agent outlives the
#     SSH session, the primary's pg_stat_replication shows 2 streaming standbys, the smoke row is on
#     both, status/logs answer from a new process; with the primary's postgres stopped (as when its
#     machine restarts), `launch --resume` starts it again over its own data, smoke row included;
#     with a machine's recorded host key changed, destroy is refused, naming the key, and keeps the
#     cluster;
#   - destroy stops every role process and removes the bundle, the role's user and data, leaves the
#     installed software, and is safe to repeat;
#   - 1+1 again from baker's own inventory file (`master USER@HOST` lines), as a user with
#     password-less sudo, with a relative --inventory, --ssh-key and --from, killed midway, finished
#     with --resume from another directory, where status and destroy work too; the standby's machine
#     has a postgres user of its own (home /var/lib/postgresql, as Debian's package makes it), whom
#     the standby runs as, in a data directory the agent makes and destroy removes, user kept;
#   - 1+2 on two machines, both standbys on that host again (slots 0 and 1: ports 5432/5433, their own
#     PGDATA, bundle, agent state, logs and pidfile) with --smoke; the primary tells them apart by
#     application_name; destroying the cluster without one standby leaves that standby running and
#     its state untouched, until its own destroy.
# The build comes from $BAKER_PG_BUILD (ci/test.sh shares one), else this script builds PostgreSQL.
# Everything it makes carries baker.test=1 and is removed at the end. Prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ci/lib.sh
. ci/lib.sh

start_run launch-ssh
export BAKER_STATE_DIR=$WORK/state
NET=baker-ssh-test-$$
SSHD_IMAGE=baker-test-sshd:$$
before_cleanup() {
  for c in $(ls "$BAKER_STATE_DIR" 2>/dev/null); do
    "$BAKER" destroy "$c" >/dev/null 2>&1 || true
  done
}

bash ci/docker-up.sh
BAKER=$BAKER bash ci/base-image.sh "$BASE"

PG_OUT=$(pg_build "$WORK")
PSQL=/usr/local/pgsql/bin/psql

# --- the machines: containers running sshd, reachable from here at their addresses --------------
# The test key logs in as root, and as `admin`, who has password-less sudo.
t=$(now)
ssh-keygen -q -t ed25519 -N '' -C baker-e2e -f "$WORK/id"
docker run --name "baker-ssh-prep-$$" --label baker.test=1 --label "$RUN_LABEL" -e "PUB=$(cat "$WORK/id.pub")" "$BASE" bash -c '
  set -e
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server sudo >/dev/null
  mkdir -p /run/sshd
  useradd --create-home --shell /bin/bash admin
  echo "admin ALL=(ALL) NOPASSWD: ALL" > /etc/sudoers.d/admin
  for home in /root /home/admin; do
    mkdir -p -m 700 $home/.ssh && echo "$PUB" > $home/.ssh/authorized_keys
  done
  chown -R admin: /home/admin/.ssh' >"$WORK/prep.log" 2>&1 || { tail -n 20 "$WORK/prep.log" >&2; exit 1; }
docker commit --change "LABEL baker.test=1" --change "LABEL $RUN_LABEL" \
  --change 'CMD ["/usr/sbin/sshd", "-D", "-e"]' "baker-ssh-prep-$$" "$SSHD_IMAGE" >/dev/null
docker rm "baker-ssh-prep-$$" >/dev/null
docker network create --label baker.test=1 --label "$RUN_LABEL" "$NET" >/dev/null
IPS=()
for m in 1 2 3; do
  c=baker-ssh-m$m-$$
  # --init: a machine's init reaps what its services leave (sshd as PID 1 would not).
  docker run -d --init --name "$c" --hostname "m$m" --network "$NET" --label baker.test=1 --label "$RUN_LABEL" \
    "$SSHD_IMAGE" >/dev/null
  IPS+=("$(docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$c")")
done
SSH=(ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
  -o IdentitiesOnly=yes -i "$WORK/id")
on() { local ip=$1; shift; "${SSH[@]}" "root@$ip" "$@"; }
for ip in "${IPS[@]}"; do
  for _ in $(seq 1 50); do on "$ip" true 2>/dev/null && break; sleep 0.2; done
done
check "three machines answer over SSH ($(since "$t") s to make them)" \
  bash -c "$(declare -p SSH IPS); for ip in \"\${IPS[@]}\"; do \"\${SSH[@]}\" root@\$ip true || exit 1; done"
M1=${IPS[0]} M2=${IPS[1]} M3=${IPS[2]}
KEY=(--ssh-user root --ssh-key "$WORK/id" --accept-new-host-keys)
# What the user's own known hosts hold before: baker must never write them.
user_known_hosts() { md5sum ~/.ssh/known_hosts ~/.ssh/known_hosts2 2>/dev/null || true; }
USER_KNOWN_HOSTS=$(user_known_hosts)

# --- bad inventories fail before anything is made ------------------------------------------------
printf 'master %s\nslave 127.0.0.1:1\n' "$M1" >"$WORK/unreachable"
out=$("$BAKER" launch far --provider ssh --inventory "$WORK/unreachable" --slaves 1 --from "$PG_OUT" "${KEY[@]}" 2>&1 || true)
check "an unreachable host is refused by name (saw: $(tail -n 1 <<<"$out"))" grep -q "cannot reach 127.0.0.1:1 over SSH" <<<"$out"
check "and it made no cluster and touched no machine" bash -c \
  "[ -z \"\$(ls '$BAKER_STATE_DIR' 2>/dev/null)\" ] && $(declare -p SSH); ! \"\${SSH[@]}\" root@$M1 test -e /usr/lib/baker"

printf 'master %s\nslave %s\n' "$M1" "$M2" >"$WORK/unknown"
out=$("$BAKER" launch strict --provider ssh --inventory "$WORK/unknown" --slaves 1 --from "$PG_OUT" \
  --ssh-user root --ssh-key "$WORK/id" 2>&1 || true)
check "a machine whose host key is not known is refused without --accept-new-host-keys (saw: $(tail -n 1 <<<"$out"))" \
  grep -q "host key of $M1:22 is not known" <<<"$out"
check "and the refusal says how to check and trust the key" bash -c \
  'grep -q fingerprint <<<"$1" && grep -q "ssh -p 22 root@$2" <<<"$1" && grep -q ssh-keyscan <<<"$1" &&
   grep -q -- --accept-new-host-keys <<<"$1"' _ "$out" "$M1"
check "and it made no cluster and touched no machine" bash -c \
  "[ -z \"\$(ls '$BAKER_STATE_DIR' 2>/dev/null)\" ] && $(declare -p SSH); ! \"\${SSH[@]}\" root@$M1 test -e /usr/lib/baker"

# --- 1+2 from a Mesos deploy directory, with the smoke test --------------------------------------
mkdir -p "$WORK/deploy"
echo "$M1" >"$WORK/deploy/masters"
printf '# the standbys\n%s\n%s\n' "$M2" "$M3" >"$WORK/deploy/slaves"
t=$(now)
if "$BAKER" launch pg --provider ssh --inventory "$WORK/deploy" --slaves 2 --smoke --from "$PG_OUT" \
  "${KEY[@]}" >"$WORK/launch.out" 2>"$WORK/launch.err"; then
  ok "launch pg 1+2 --smoke over SSH reaches ready ($(since "$t") s, installing packages and the tarball)"
else
  not_ok "launch pg 1+2 --smoke over SSH reaches ready"
  tail -n 30 "$WORK/launch.err" >&2
fi
cat "$WORK/launch.out" >&2
streaming=$(on "$M1" ". /etc/baker/role/env; $PSQL -h $M1 -U postgres -Atc \"select count(*) from pg_stat_replication where state = 'streaming'\"" 2>&1 || true)
check "the primary's pg_stat_replication shows 2 streaming standbys (saw: $streaming)" [ "$streaming" = 2 ]
for ip in "$M2" "$M3"; do
  row=$(on "$ip" ". /etc/baker/role/env; $PSQL -h $ip -U postgres -Atc 'select v from baker_smoke'" 2>&1 || true)
  check "the smoke row is on the standby at $ip (saw: $row)" [ "$row" = "written on pg-primary" ]
done
check "the agent runs detached, its pid recorded" on "$M2" 'kill -0 "$(cat /run/baker/agent.pid)"'
check "the role's process is the agent's own: no runuser between them to die and leave it behind" on "$M1" \
  '[ "$(cat /run/baker/agent.pid)" = "$(head -n 1 /var/lib/postgres/data/postmaster.pid)" ] &&
   [ "$(stat -c %U /proc/$(cat /run/baker/agent.pid))" = postgres ]'
"$BAKER" status pg >"$WORK/status.out" || true
check "status shows 3 ready nodes" [ "$(grep -c 'ready since' "$WORK/status.out")" = 3 ]
"$BAKER" logs pg standby-2 >"$WORK/logs.out" || true
check "logs shows the standby's role log" grep -q "role standby starting on pg-standby-2" "$WORK/logs.out"
check "and what postgres itself printed, through the tee the agent left to init" \
  grep -q "database system is ready to accept read-only connections" "$WORK/logs.out"
login=$(echo 'cat /etc/baker/role/node' | "$BAKER" login pg standby-1 2>/dev/null || true)
check "login opens a shell on the node over SSH (saw: $(tail -n 1 <<<"$login"))" grep -qx pg-standby-1 <<<"$login"
check "clusters lists pg as an ssh cluster, ready" bash -c "'$BAKER' clusters | grep -q '^pg  *ssh  *ready'"
check "the state records the machines, not the secret" bash -c \
  "grep -q '\"provider\": \"ssh\"' '$BAKER_STATE_DIR/pg/state.json' && ! grep -q \"\$(cat '$BAKER_STATE_DIR/pg/secret')\" '$BAKER_STATE_DIR/pg/state.json'"
check "the machines' host keys are in the cluster's own known_hosts" \
  [ "$(grep -c . "$BAKER_STATE_DIR/pg/known_hosts" 2>/dev/null)" -ge 3 ]
check "and the user's own known hosts are untouched" [ "$(user_known_hosts)" = "$USER_KNOWN_HOSTS" ]
check "the cluster keeps the tarball it was launched with" bash -c \
  "cmp -s '$BAKER_STATE_DIR/pg/tarball.tar.gz' \"\$(ls '$PG_OUT'/*.tar.gz | head -n 1)\" &&
   grep -q '\"tarball\": \"$BAKER_STATE_DIR/pg/tarball.tar.gz\"' '$BAKER_STATE_DIR/pg/state.json'"

# --- the primary's role stopped (as when its machine restarts): resumed over what it held ----------
# postgres, the agent's own process, stops at SIGINT (a fast shutdown).
on "$M1" 'agent=$(cat /run/baker/agent.pid); kill -INT "$(head -n 1 /var/lib/postgres/data/postmaster.pid)"
  for i in $(seq 1 100); do kill -0 "$agent" 2>/dev/null || exit 0; sleep 0.1; done; exit 1' ||
  say "the primary's role did not stop within 10 s"
resumes pg "launch --resume of the ready pg with its primary stopped reaches ready again" "$WORK/restart.err"
row=$(on "$M1" ". /etc/baker/role/env; $PSQL -h $M1 -U postgres -Atc 'select v from baker_smoke'" 2>&1 || true)
check "the primary started again over its own data, which still holds the smoke row (saw: $row)" bash -c \
  "[ '$row' = 'written on pg-primary' ] && grep -q 'pg-primary does not run: starting it again over its own disk' '$WORK/restart.err'"

# --- a machine's host key changed: refused ----------------------------------------------------------
# The recorded keys are swapped for others of the same type: to baker, as if someone else answered.
cp "$BAKER_STATE_DIR/pg/known_hosts" "$WORK/pg-known_hosts"
for t in ed25519 ecdsa rsa; do ssh-keygen -q -t $t -N '' -C other -f "$WORK/other-$t"; done
awk -v ed="$(cut -d' ' -f2 "$WORK/other-ed25519.pub")" -v ec="$(cut -d' ' -f2 "$WORK/other-ecdsa.pub")" \
  -v rsa="$(cut -d' ' -f2 "$WORK/other-rsa.pub")" \
  '{ k = $2 == "ssh-ed25519" ? ed : $2 == "ssh-rsa" ? rsa : ec; print $1, $2, k }' \
  "$WORK/pg-known_hosts" >"$BAKER_STATE_DIR/pg/known_hosts"
out=$("$BAKER" destroy pg 2>&1 || true)
check "with a machine's host key changed, destroy is refused, naming the key and how to remove it (saw: $(tail -n 1 <<<"$out"))" \
  bash -c 'grep -q "host key of .* has changed since it was recorded" <<<"$1" && grep -q "ssh-keygen -R" <<<"$1"' _ "$out"
check "and it kept the cluster, its state and its nodes" bash -c \
  "[ -f '$BAKER_STATE_DIR/pg/state.json' ] && $(declare -p SSH); \"\${SSH[@]}\" root@$M1 'kill -0 \$(cat /run/baker/agent.pid)'"
cp "$WORK/pg-known_hosts" "$BAKER_STATE_DIR/pg/known_hosts"

# --- destroy -------------------------------------------------------------------------------------
"$BAKER" destroy pg >"$WORK/destroy.out" 2>&1 || cat "$WORK/destroy.out" >&2
check "destroy counts the nodes it cleaned" grep -q "destroyed pg: 3 nodes cleaned" "$WORK/destroy.out"
# cleaned IP [theirs]: no role process, bundle, agent state or data left (of any slot), nor the role's
# user baker made; with `theirs`, the machine's own postgres user and its home stay. The software stays.
cleaned() {
  local user='! id postgres >/dev/null 2>&1'
  [ "${2:-}" = theirs ] && user='id postgres >/dev/null && [ -f /var/lib/postgresql/.profile ]'
  on "$1" '! grep -qsx postgres /proc/[0-9]*/comm && [ ! -e /etc/baker/role ] && [ ! -e /var/lib/baker ] &&
    ! ls -d /etc/baker/role-* /var/lib/baker-* /var/log/baker-* /run/baker-* >/dev/null 2>&1 &&
    [ ! -e /run/baker ] && '"$user"' && [ ! -e /var/lib/postgres ] &&
    [ -x /usr/local/pgsql/bin/postgres ] && [ -x /usr/lib/baker/baker-agent ]'
}
for ip in "$M1" "$M2" "$M3"; do
  check "destroy stopped and removed the node at $ip, leaving the installed software" cleaned "$ip"
done
check "destroy forgot the cluster" bash -c "! '$BAKER' status pg >/dev/null 2>&1"
check "destroy is safe to repeat" "$BAKER" destroy pg

# --- 1+1 from baker's own inventory file, as a sudo user, killed midway and resumed ---------------
# $M3 has a postgres user of its own, as Debian's package makes it (home /var/lib/postgresql): the
# standby runs as that user, in a data directory the agent makes, which destroy removes, user kept.
on "$M3" 'useradd --system --create-home --home-dir /var/lib/postgresql --shell /bin/bash postgres &&
  echo "# the machine'"'"'s own" > /var/lib/postgresql/.profile'
printf '# baker inventory\nmaster admin@%s\nslave  admin@%s:22  # the standby\n' "$M1" "$M3" >"$WORK/inventory"
t=$(now)
# Relative paths, from $WORK; everything after runs from another directory.
(cd "$WORK" && exec "$BAKER" launch pg2 --provider ssh --inventory inventory --slaves 1 \
  --from "$(realpath --relative-to="$WORK" "$PG_OUT")" --ssh-key ./id --accept-new-host-keys -q) 2>"$WORK/launch2.err" &
pid=$!
# Killed once the machines are recorded, while they are being set up or started.
for _ in $(seq 1 200); do grep -qs '"provider_id": "admin@' "$BAKER_STATE_DIR/pg2/state.json" && break; sleep 0.05; done
sleep 1
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
check "the killed launch left pg2 unfinished" bash -c "! grep -q '\"phase\": \"ready\"' '$BAKER_STATE_DIR/pg2/state.json'"
check "its state records the relative paths absolute" bash -c \
  "grep -q '\"inventory\": \"$WORK/inventory\"' '$BAKER_STATE_DIR/pg2/state.json' &&
   grep -q '\"ssh-key\": \"$WORK/id\"' '$BAKER_STATE_DIR/pg2/state.json'"
if (cd / && "$BAKER" launch pg2 --resume -q) 2>>"$WORK/launch2.err"; then
  ok "launch pg2 1+1 from baker's inventory file as a sudo user, killed and resumed from another directory, reaches ready ($(since "$t") s)"
else
  not_ok "launch pg2 1+1 from baker's inventory file as a sudo user, killed and resumed from another directory, reaches ready"
  tail -n 30 "$WORK/launch2.err" >&2
fi
streaming=$(on "$M1" ". /etc/baker/role/env; $PSQL -h $M1 -U postgres -Atc \"select client_addr from pg_stat_replication where state = 'streaming'\"" 2>&1 || true)
check "its standby streams from the primary (saw: $streaming)" [ "$streaming" = "$M3" ]
check "status answers through the sudo user, from another directory" bash -c "cd / && '$BAKER' status pg2 | grep -c 'ready since' | grep -qx 2"
(cd / && "$BAKER" destroy pg2) >"$WORK/destroy2.out" 2>&1 || cat "$WORK/destroy2.out" >&2
check "destroy of pg2 from another directory forgot it" bash -c "! '$BAKER' status pg2 >/dev/null 2>&1"
check "destroy of pg2 cleaned both machines, leaving $M3's own postgres user and home" \
  bash -c "$(declare -f on cleaned); $(declare -p SSH); cleaned $M1 && cleaned $M3 theirs"

# --- 1+2 on two machines: both standbys on one host, each in its own slot --------------------------
# On $M3 again, after pg2's destroy: a machine a cluster was destroyed on takes a new one.
printf 'master %s\nslave %s\nslave %s:22\n' "$M1" "$M3" "$M3" >"$WORK/shared"
t=$(now)
if "$BAKER" launch pg3 --provider ssh --inventory "$WORK/shared" --slaves 2 --smoke --from "$PG_OUT" \
  "${KEY[@]}" >"$WORK/launch3.out" 2>"$WORK/launch3.err"; then
  ok "launch pg3 1+2 --smoke with both standbys on $M3 reaches ready ($(since "$t") s)"
else
  not_ok "launch pg3 1+2 --smoke with both standbys on $M3 reaches ready"
  tail -n 30 "$WORK/launch3.err" >&2
fi
names=$(on "$M1" ". /etc/baker/role/env; $PSQL -h $M1 -U postgres -Atc \"select application_name from pg_stat_replication where state = 'streaming' and client_addr = '$M3' order by 1\"" 2>&1 | paste -sd, || true)
check "the primary streams to both standbys on $M3, told apart by name (saw: $names)" \
  [ "$names" = "pg3-standby-1,pg3-standby-2" ]
for slot in 0 1; do
  bundle=/etc/baker/role$([ $slot = 0 ] || echo "-$slot")
  row=$(on "$M3" ". $bundle/env; $PSQL -h $M3 -p $((5432 + slot)) -U postgres -Atc 'select v from baker_smoke'" 2>&1 || true)
  check "the smoke row is on the slot-$slot standby at $M3:$((5432 + slot)) (saw: $row)" [ "$row" = "written on pg3-primary" ]
done
check "each standby on $M3 has its own bundle, PGDATA, log and running agent" on "$M3" \
  '[ "$(cat /etc/baker/role/node)" = pg3-standby-1 ] && [ "$(cat /etc/baker/role-1/node)" = pg3-standby-2 ] &&
   [ -f /var/lib/postgres/data/PG_VERSION ] && [ -f /var/lib/postgres/data-1/PG_VERSION ] &&
   grep -q "role standby starting on pg3-standby-2" /var/log/baker-1/role.log &&
   kill -0 "$(cat /run/baker/agent.pid)" && kill -0 "$(cat /run/baker-1/agent.pid)"'
"$BAKER" logs pg3 standby-2 >"$WORK/logs3.out" 2>&1 || true
check "logs shows the slot-1 standby's own role log" grep -q "role standby starting on pg3-standby-2" "$WORK/logs3.out"
# Destroy the cluster as if it had no second standby: that standby must keep running, untouched.
cp -a "$BAKER_STATE_DIR/pg3" "$WORK/pg3-state"
jq 'del(.nodes[2])' "$WORK/pg3-state/state.json" >"$BAKER_STATE_DIR/pg3/state.json"
"$BAKER" destroy pg3 >"$WORK/destroy3.out" 2>&1 || cat "$WORK/destroy3.out" >&2
check "destroying the primary and standby-1 leaves standby-2 on the same host running, its state untouched" on "$M3" \
  '[ ! -e /etc/baker/role ] && [ "$(cat /etc/baker/role-1/node)" = pg3-standby-2 ] && [ -d /var/lib/baker-1 ] &&
   [ -s /var/log/baker-1/role.log ] && kill -0 "$(cat /run/baker-1/agent.pid)" && id postgres >/dev/null &&
   [ -f /var/lib/postgres/data-1/PG_VERSION ] && /usr/local/pgsql/bin/pg_isready -q -h '"$M3"' -p 5433'
check "and the primary's machine is clean" cleaned "$M1"
rm -rf "$BAKER_STATE_DIR/pg3" && cp -a "$WORK/pg3-state" "$BAKER_STATE_DIR/pg3"
"$BAKER" destroy pg3 >"$WORK/destroy3b.out" 2>&1 || cat "$WORK/destroy3b.out" >&2
check "its own destroy then cleans $M3 of both slots and their data, a data directory's parent made for both included" \
  cleaned "$M3" theirs

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
