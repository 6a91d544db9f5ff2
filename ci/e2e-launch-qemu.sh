#!/usr/bin/env bash
# e2e-launch-qemu.sh — `baker launch --provider qemu` end to end with the PostgreSQL example: VMs
# booted from qcow2 overlays of the image's raw disk, on a switch that needs no root:
#   - 1 primary + 1 standby with --smoke reaches ready (printed as `qemu 1+1 to ready: N s (…)`, and
#     written to $BAKER_QEMU_FIGURE when set, for bench-launch.sh), the
#     smoke row written on the primary is read on the standby;
#   - the nodes have their switch addresses, the forwarded ports listen on 127.0.0.1 only; the first
#     NIC took its address, default route and DNS server by the image's own DHCP client, as on a cloud;
#   - status, logs and login answer from a new process;
#   - with the primary's VM stopped (as when the host restarts) and its SSH host port taken by
#     another program, `launch --resume` boots it again over its own overlay to ready, with that
#     forward moved to a free port, and the smoke test's row is still on it;
#   - destroy leaves no QEMU process, overlay or seed, and is safe to repeat; a one-node launch
#     killed midway (with `--accel tcg`, which the state records and its VM runs with) leaves its
#     state and its own hard link of the image's disk; with that VM dead and the image's folder
#     removed, `launch --resume` boots the node again from the cluster's disk to ready; with its
#     state directory then removed by hand, destroy still finds its VM (by its command line) and
#     stops it;
#   - where the first launch's KVM trial failed, the next launch skips it (software emulation at
#     once, saying why);
#   - with `--qemu tools`, a primary boots under the QEMU of baker's tools image (as on a host with
#     only Docker) to ready, with its node's host name; status answers; destroy stops it and its
#     container goes; an engine that cannot run it as a host program (baker in a container) is
#     refused before anything starts, saying why.
# The image comes from $BAKER_PG_IMAGE (a `baker image` output directory; ci/test.sh shares the one
# ci/e2e-image.sh made) with the build from $BAKER_PG_BUILD; otherwise this script makes them.
# QEMU runs on the host (installed here when missing), and once from baker's tools image (made from
# the local Debian 12 base image, unless ci/test.sh kept the one ci/e2e-image.sh made). Prints
# "N passed, N failed" last.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=ci/lib.sh
. ci/lib.sh

start_run launch-qemu
export BAKER_STATE_DIR=$WORK/state BAKER_CACHE_DIR=$WORK/cache
before_cleanup() {
  for c in $(ls "$BAKER_STATE_DIR" 2>/dev/null); do
    "$BAKER" destroy "$c" >/dev/null 2>&1 || true
  done
  # A VM whose cluster state is gone: stopped by the pid in its pidfile.
  for p in $(find "$WORK" -name '*.pid' 2>/dev/null); do
    kill "$(cat "$p")" 2>/dev/null || true
  done
}

need() { # need COMMAND PACKAGE: installs PACKAGE when COMMAND is missing
  command -v "$1" >/dev/null 2>&1 || {
    say "installing $2"
    apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >/dev/null 2>&1
  }
}
need qemu-system-x86_64 qemu-system-x86
need qemu-img qemu-utils
need ss iproute2

PG=${BAKER_PG_BUILD:-}
IMAGE=${BAKER_PG_IMAGE:-}
if [ -z "$IMAGE" ] || [ ! -f "$IMAGE/image.json" ] || [ -z "$PG" ] || [ ! -f "$PG/plan.json" ]; then
  bash ci/docker-up.sh
  BAKER=$BAKER bash ci/base-image.sh "$BASE"
  if [ -z "$PG" ] || [ ! -f "$PG/plan.json" ]; then
    say "building postgresql (set BAKER_PG_BUILD to reuse a build)"
    bash ci/source-mirror.sh "$WORK/mirror"
    PG=$WORK/pg-build
    "$BAKER" build --recipe postgresql --distro debian12 --cache-dir "$WORK/cache" --out "$PG" \
      --mirror "$WORK/mirror" --no-upstream -q
  fi
  say "imaging the build (set BAKER_PG_IMAGE to reuse an image)"
  IMAGE=$WORK/pg-image
  "$BAKER" image --from "$PG" --format raw --out "$IMAGE" --cache-dir "$WORK/cache" -q
fi

# --- 1+1 with the smoke test -----------------------------------------------------------------------
t=$(now)
if "$BAKER" launch qpg --provider qemu --image "$IMAGE" --from "$PG" --masters 1 --slaves 1 --smoke \
  >"$WORK/launch.out" 2>"$WORK/launch.err"; then
  ok "launch qpg 1+1 --provider qemu --smoke reaches ready and passes the smoke test ($(since "$t") s)"
  figure="qemu 1+1 to ready: $(json "$BAKER_STATE_DIR/qpg/state.json" \
    '(lambda t: "%.1f s (boot %.1f s, roles %.1f s)" % (t["boot"] + t["ready"], t["boot"], t["ready"]))(d["timings"])')"
  echo "$figure"
  # For bench-launch.sh in the same suite, which prints it rather than boot the same cluster again.
  [ -z "${BAKER_QEMU_FIGURE:-}" ] || echo "$figure" >"$BAKER_QEMU_FIGURE"
else
  not_ok "launch qpg 1+1 --provider qemu --smoke reaches ready"
  tail -n 40 "$WORK/launch.err" >&2
fi
cat "$WORK/launch.out" >&2

"$BAKER" status qpg >"$WORK/status.out" 2>&1 || true
check "status from a new process shows both nodes ready" \
  [ "$(grep -c 'ready since' "$WORK/status.out")" = 2 ]
check "and each node's QEMU by its pid, a running QEMU's" bash -c \
  "[ \$(grep -oE ' pid [0-9]+ ' '$WORK/status.out' | wc -l) = 2 ] && for p in \$(grep -oE ' pid [0-9]+ ' '$WORK/status.out' | awk '{print \$2}'); do grep -q qemu /proc/\$p/cmdline || exit 1; done"
subnet=$(json "$BAKER_STATE_DIR/qpg/state.json" 'd["resources"]["subnet"].rsplit(".", 1)[0]')
check "the nodes have their addresses on the cluster's switch ($subnet.x)" \
  [ "$(json "$BAKER_STATE_DIR/qpg/state.json" '" ".join(n["address"] for n in d["nodes"])')" = "$subnet.10 $subnet.11" ]
ports=$(json "$BAKER_STATE_DIR/qpg/state.json" '" ".join(str(p) for n in d["nodes"] for p in n["published"].values())')
listening_on_loopback_only() {
  for p in $ports; do
    ss -Hltn "sport = :$p" | grep -q "127.0.0.1:$p" || return 1
    ! ss -Hltn "sport = :$p" | grep -v -q "127.0.0.1:$p" || return 1
  done
}
check "every forwarded port (SSH, 5432) listens on 127.0.0.1 only ($ports)" listening_on_loopback_only
# A role's port is forwarded to the node's address on the switch (a role may bind that one alone, as
# Mesos' --ip does): PostgreSQL answers an SSLRequest there with N or S.
pg_port=$(json "$BAKER_STATE_DIR/qpg/state.json" 'd["nodes"][0]["published"]["5432"]')
answer=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$pg_port; printf '\\x00\\x00\\x00\\x08\\x04\\xd2\\x16\\x2f' >&3; head -c 1 <&3" 2>&1 || true)
check "the primary's 5432, forwarded to its switch address, answers PostgreSQL's protocol from the host (saw: $answer)" \
  bash -c "[ '$answer' = N ] || [ '$answer' = S ]"
check "logs shows the standby's role log" bash -c \
  "'$BAKER' logs qpg standby-1 2>&1 | grep -q 'role standby starting on qpg-standby-1'"
"$BAKER" logs qpg standby-1 -n 100000 >"$WORK/standby.log" 2>&1 || true
check "the smoke test left no ERROR in the standby's whole log (it looks its table up before reading it)" \
  bash -c "grep -q 'role standby starting' '$WORK/standby.log' && ! grep -E 'ERROR: |does not exist' '$WORK/standby.log'"
streaming=$(echo "/usr/local/pgsql/bin/psql -U postgres -Atc \"select count(*) from pg_stat_replication where state = 'streaming'\"" \
  | "$BAKER" login qpg 2>/dev/null | tail -n 1 || true)
check "login opens a shell on the primary, whose pg_stat_replication shows 1 streaming standby (saw: $streaming)" \
  [ "$streaming" = 1 ]
# The first NIC is the image's business, as on a cloud: baker's bundle names only the switch NIC.
first_nic=$(echo "grep -h fixed-address /var/lib/dhcp/dhclient*.leases | tail -n 1; ip -4 -o addr show dev eth0; ip route show default; grep '^nameserver' /etc/resolv.conf" \
  | "$BAKER" login qpg 2>/dev/null | grep -E 'fixed-address|inet |^default|^nameserver' | tr -s ' \\\n' ' ' || true)
check "the primary's eth0 took 10.0.2.15, its default route and its DNS server from QEMU's DHCP server through the image's dhclient (saw: $first_nic)" \
  bash -c "grep -Eq 'fixed-address 10\.0\.2\.15;.* inet 10\.0\.2\.15/24 .*dynamic eth0.*default via 10\.0\.2\.2 dev eth0.*nameserver 10\.0\.2\.3' <<<'$first_nic'"

# --- a ready cluster whose primary's VM stopped (as when the host restarts) -----------------------
# Resumed, the primary boots again over its own overlay: what it held (the smoke test's row) is still
# there, and the smoke test is not run again.
primary_pid=$(cat "$BAKER_STATE_DIR/qpg/qpg-primary.pid" 2>/dev/null || true)
kill "$primary_pid" 2>/dev/null || true
for _ in $(seq 1 100); do [ -n "$(tr -d '\0' 2>/dev/null <"/proc/$primary_pid/cmdline")" ] || break; sleep 0.1; done
# Meanwhile another program listens on the host port of the primary's SSH forward.
ssh_port() { json "$BAKER_STATE_DIR/qpg/state.json" '[n for n in d["nodes"] if n["name"] == "qpg-primary"][0]["published"]["22"]'; }
old_port=$(ssh_port)
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(900)' "$old_port" &
squatter=$!
sleep 0.5
resumes qpg "launch --resume of the ready qpg with its primary's VM stopped reaches ready again" "$WORK/restart.err"
kill "$squatter" 2>/dev/null || true
check "it started the primary again over its own disk, and ran no smoke test" bash -c \
  "grep -q 'qpg-primary does not run: starting it again over its own disk' '$WORK/restart.err' && ! grep -q 'smoke test' '$WORK/restart.err'"
check "its SSH forward moved off the host port another program took ($old_port -> $(ssh_port)), saying so in a warning: line" bash -c \
  "[ '$(ssh_port)' != '$old_port' ] && grep -q '^warning: another program took a host port of qpg-primary' '$WORK/restart.err'"
row=$(echo "/usr/local/pgsql/bin/psql -U postgres -Atc 'select v from baker_smoke'" \
  | "$BAKER" login qpg 2>/dev/null | tail -n 1 || true)
check "the restarted primary still holds the smoke test's row (saw: $row)" [ "$row" = "written on qpg-primary" ]

# --- destroy -------------------------------------------------------------------------------------
vm_pids=$(cat "$BAKER_STATE_DIR"/qpg/*.pid 2>/dev/null || true)
"$BAKER" destroy qpg >"$WORK/destroy.out" 2>&1 || true
# A process that runs has a command line (a stopped QEMU may stay a zombie until init reaps it).
runs() { [ -n "$(tr -d '\0' 2>/dev/null <"/proc/$1/cmdline")" ]; }
no_qemu_left() { # the VMs' pids are gone, and no QEMU names the cluster's directory
  for p in $vm_pids; do ! runs "$p" || return 1; done
  ! pgrep -f "[q]emu-system.*$BAKER_STATE_DIR/qpg/" >/dev/null
}
check "destroy stops the cluster's QEMU processes (pids: $(echo $vm_pids))" no_qemu_left
check "destroy leaves no overlay, seed or state" [ ! -e "$BAKER_STATE_DIR/qpg" ]
check "destroy counts the cluster's 2 VMs, each with its overlay" grep -q '^destroyed qpg: 2 VMs removed, with their overlays$' "$WORK/destroy.out"
check "destroy is safe to repeat" "$BAKER" destroy qpg

# --- QEMU from baker's tools image, launched now and checked below ---------------------------------
say "launching qtools in the background: a primary under the QEMU of baker's tools image (--qemu tools)"
tools_note=", including the tools image"
[ -z "$(docker images -q baker-tools)" ] || tools_note=", with the tools image made before"
tools_t=$(now)
"$BAKER" launch qtools --provider qemu --qemu tools --image "$IMAGE" --from "$PG" --slaves 0 \
  >"$WORK/tools.out" 2>"$WORK/tools.err" &
tools_launch=$!

# --- a launch killed midway (with --accel tcg: no KVM trial), resumed with a dead VM after the image
# it came from is gone -----------------------------------------------------------------------------
# A folder of its own holding the image's raw disk and image.json, removed below.
mkdir -p "$WORK/qkill-image"
raw=$(json "$IMAGE/image.json" '[f["file"] for f in d["formats"] if f["format"] == "raw"][0]')
cp "$IMAGE/image.json" "$WORK/qkill-image/"
cp --sparse=always "$IMAGE/$raw" "$WORK/qkill-image/"
"$BAKER" launch qkill --provider qemu --accel tcg --image "$WORK/qkill-image" --from "$PG" --slaves 0 -q &
pid=$!
for _ in $(seq 1 300); do
  [ -n "$(ls "$BAKER_STATE_DIR"/qkill/*.pid 2>/dev/null)" ] && break
  sleep 0.2
done
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
vm_pids=$(cat "$BAKER_STATE_DIR"/qkill/*.pid 2>/dev/null || true)
check "a launch killed midway left its VM running and its state, which status reads as not ready (exit 3) ($(echo $vm_pids))" \
  bash -c "[ -n '$vm_pids' ] && { '$BAKER' status qkill >/dev/null; [ \$? = 3 ]; }"
tcg_only() {
  [ "$(json "$BAKER_STATE_DIR/qkill/state.json" 'd["resources"]["accel"]')" = tcg ] || return 1
  for p in $vm_pids; do tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- '-accel tcg' || return 1; done
}
check "--accel tcg is recorded and the VM runs under software emulation" tcg_only
inode() { stat -c %i "$1" 2>/dev/null; }
check "the cluster keeps the image's disk in its directory (a hard link, no copy)" \
  bash -c "[ '$(inode "$BAKER_STATE_DIR/qkill/disk.raw")' = '$(inode "$WORK/qkill-image/$raw")' ]"
# The VM dies before its role ever started, and the image's folder goes: the resumed launch boots
# the node again from the cluster's own disk, to ready. (qpg above resumed a cluster whose other
# VM still ran.)
primary_pid=$(cat "$BAKER_STATE_DIR/qkill/qkill-primary.pid" 2>/dev/null || true)
kill "$primary_pid" 2>/dev/null || true
for _ in $(seq 1 100); do runs "$primary_pid" || break; sleep 0.1; done
rm -rf "$WORK/qkill-image"
resumes qkill "launch --resume of qkill, with its VM dead and the image's folder removed, reaches ready" \
  "$WORK/resume.err"
check "the resumed launch said it made the dead VM again" grep -q 'qkill-primary does not run: making it again' "$WORK/resume.err"
vm_pids="$vm_pids $(cat "$BAKER_STATE_DIR"/qkill/*.pid 2>/dev/null || true)"
# Its state directory removed by hand, under running VMs: destroy finds them by their command lines.
rm -rf "$BAKER_STATE_DIR/qkill"
"$BAKER" destroy qkill >"$WORK/orphans.out" 2>&1 || true
orphans_gone() {
  for p in $vm_pids; do ! runs "$p" || return 1; done
  grep -q '^destroyed qkill, which had no state: 1 VM stopped$' "$WORK/orphans.out"
}
check "destroy of qkill, whose state directory was removed by hand, stops its VM" orphans_gone
[ "$failed" = 0 ] || cat "$WORK/orphans.out" >&2
check "and says nothing is left when repeated" grep -q '^no cluster qkill is left' <("$BAKER" destroy qkill 2>&1)

# --- a failed KVM trial is remembered (where qpg's failed) -----------------------------------------
if grep -q 'KVM did not run' "$WORK/launch.err"; then
  check "qpg's failed KVM trial is remembered in the cache (host/kvm-verdict.json)" \
    test -s "$BAKER_CACHE_DIR/host/kvm-verdict.json"
  t=$(now)
  "$BAKER" launch qskip --provider qemu --image "$IMAGE" --from "$PG" --slaves 1 >/dev/null 2>"$WORK/skip.err" &
  pid=$!
  for _ in $(seq 1 300); do
    [ -n "$(ls "$BAKER_STATE_DIR"/qskip/*.pid 2>/dev/null)" ] && break
    sleep 0.2
  done
  say "qskip's first VM started after $(since "$t") s"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  vm_pids=$(cat "$BAKER_STATE_DIR"/qskip/*.pid 2>/dev/null || true)
  skipped_trial() {
    grep -q 'KVM failed its trial on this host' "$WORK/skip.err" && ! grep -q 'KVM did not run' "$WORK/skip.err" || return 1
    [ -n "$vm_pids" ] || return 1
    for p in $vm_pids; do tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- '-accel tcg' || return 1; done
  }
  check "the next launch skips the trial, saying why, and its VMs run under software emulation" skipped_trial
  "$BAKER" destroy qskip >/dev/null 2>&1 || true
else
  say "KVM passed its trial here, or is absent: nothing to remember"
fi

# --- QEMU from baker's tools image (as on a host with only Docker) ---------------------------------
# Launched in the background before qkill (each cluster is one VM, and the machine has a core for
# each); its checks start here.
if wait "$tools_launch"; then
  ok "launch qtools --qemu tools reaches ready ($(since "$tools_t") s$tools_note, beside qkill)"
else
  not_ok "launch qtools --qemu tools reaches ready"
  tail -n 40 "$WORK/tools.err" >&2
fi
vm_pids=$(cat "$BAKER_STATE_DIR"/qtools/*.pid 2>/dev/null || true)
in_tools_container() { # the state says so, and the VM's QEMU is the process of a container labelled baker.vm
  [ "$(json "$BAKER_STATE_DIR/qtools/state.json" 'd["resources"]["qemu"]')" = tools ] || return 1
  [ -n "$vm_pids" ] || return 1
  for id in $(docker ps -q --no-trunc --filter "label=$RUN_LABEL" --filter label=baker.vm=qtools-primary); do
    [ "$(docker inspect -f '{{.State.Pid}}' "$id")" = "$vm_pids" ] || grep -q "$id" "/proc/$vm_pids/cgroup" && return 0
  done
  return 1
}
check "the state records --qemu tools and the VM's QEMU runs in a container of the tools image" in_tools_container
"$BAKER" status qtools >"$WORK/tools-status.out" 2>&1 || true
check "status from a new process shows the primary ready" [ "$(grep -c 'ready since' "$WORK/tools-status.out")" = 1 ]
name=$(echo hostname | "$BAKER" login qtools 2>/dev/null | tail -n 1 || true)
check "the VM carries its node's host name, not the image's (saw: $name)" [ "$name" = qtools-primary ]
"$BAKER" destroy qtools >"$WORK/tools-destroy.out" 2>&1 || true
vm_container_gone() { # QEMU stopped, and the engine removed its container
  for _ in $(seq 1 50); do
    [ -z "$(docker ps -aq --filter "label=$RUN_LABEL" --filter label=baker.vm)" ] && break
    sleep 0.2
  done
  for p in $vm_pids; do ! runs "$p" || return 1; done
  [ -z "$(docker ps -aq --filter "label=$RUN_LABEL" --filter label=baker.vm)" ] && [ ! -e "$BAKER_STATE_DIR/qtools" ]
}
check "destroy stops the VM, its container goes with it, and no overlay or state is left" vm_container_gone

# An engine that cannot run the tools image's QEMU as a host program (here: baker itself in a
# container, sharing the host's engine; the same check refuses a rootless or remote engine).
say "launching qjail: baker in a container, with the host's engine, and --qemu tools"
docker run --rm --label "$RUN_LABEL" --label baker.test=1 -e BAKER_LABELS -e BAKER_CACHE_DIR \
  -v /var/run/docker.sock:/var/run/docker.sock -v "$BAKER:/usr/local/bin/baker:ro" \
  -v "$BAKER_CACHE_DIR:$BAKER_CACHE_DIR" -v "$IMAGE:$IMAGE:ro" -v "$PG:$PG:ro" "$BASE" \
  baker launch qjail --provider qemu --qemu tools --image "$IMAGE" --from "$PG" --slaves 0 \
  >"$WORK/jail.out" 2>"$WORK/jail.err" && jailed=0 || jailed=$?
refused_jail() { # fails at once, says what differs, starts no VM, leaves no state
  [ "$jailed" != 0 ] && grep -q "cannot run the QEMU of baker-tools:.* as a host program: its host network is not baker's" "$WORK/jail.err" &&
    [ -z "$(docker ps -aq --filter "label=$RUN_LABEL" --filter label=baker.vm)" ] && [ ! -e "$BAKER_STATE_DIR/qjail" ]
}
check "an engine whose host network and processes are not baker's is refused, saying why" refused_jail
tail -n 1 "$WORK/jail.err" >&2

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
