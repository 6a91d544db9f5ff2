#!/usr/bin/env bash
# e2e-image.sh — `baker image` end to end on a real Docker engine and QEMU, the way users run it.
#
# Images the PostgreSQL example's build and checks what issue 9 promises for the raw disk:
#   - `baker image --from <build> --format raw` writes the disk, its .sha256 and image.json;
#   - the disk, read with tools baker did not write: a GPT (`sfdisk --dump`) with a BIOS boot
#     partition at sector 2048, an EFI System Partition whose FAT holds \EFI\BOOT\BOOTX64.EFI (`mdir`,
#     `mtype`) and the root, GRUB in the protective MBR, an ext4 root that e2fsck finds clean and
#     debugfs lists, holding the tarball's postgres, the first-boot unit, eth0 by DHCP (ifupdown,
#     dhclient, net.ifnames=0), an empty machine-id and no SSH host keys, apt lists or DHCP leases;
#     image.json says it boots with bios and uefi and that its first NIC takes DHCP;
#   - `baker image boot` boots it under QEMU to the first-boot ready line, with BIOS (SeaBIOS) and
#     with UEFI (`--firmware uefi`, OVMF, and `--accel tcg`: no KVM trial; `--qemu tools`: QEMU and
#     OVMF from baker's tools image) — one hybrid disk for both;
#   - every format, read with qemu-img and Python's tarfile: qcow2 and vhd convert back to the raw
#     bytes, ami is the raw disk, gce is a gzipped tar with one sparse member disk.raw;
#   - the EFI loader finds the root by its file system's UUID before its fixed prefix;
#   - two runs at once on a new tree volume, the second started once the first made it: the second
#     waits for the first to unpack the tree, and both make the cold run's disk;
#   - it removes the tools image another baker version baked;
#   - a no-change re-image answers at once; a format the image lacks is written from the raw disk
#     it holds, byte-identical to one written with a new disk; a changed tarball reuses the cached OS
#     layer (timed, and written to $BAKER_IMAGE_FIGURE when set, for bench-image-formats.sh), from a
#     build folder whose name holds a `:`;
#   - a format that fails beside another leaves image.json listing the one written, and the same
#     command run again writes only the failed one, from the raw disk;
#   - Ctrl-C while the formats are written stops baker at once, leaving no partial file;
#   - an output directory with less room than the disk's files is refused before mkfs writes, saying
#     how much each holds;
#   - two image builds from empty image caches, the second by a user without root, are
#     byte-identical (sha256s printed);
#   - a disk made after its OS layer was made again under the same key holds the new layer's files;
#   - each cache keeps an OS layer and a tree volume of its own; the user's `cache clear` removes
#     its own and nothing of root's; `cache du` counts them as the engine does, and
#     `cache prune --max-size` removes them;
#   - a boot that times out prints the console's last lines and the log's path; where the first
#     boot's KVM trial failed, that boot skips the trial, saying why (the failure is remembered).
# The build comes from $BAKER_PG_BUILD (a `baker build --out` folder of the postgresql recipe, which
# ci/test.sh shares with ci/e2e-build.sh) when it holds one; otherwise `baker image` builds it first
# (the source from ci/source-mirror.sh), which takes about ten minutes on 2 cores.
# Everything it creates carries the labels baker.test=1 and baker.test.run=e2e-image-<pid> and is removed at the end.
# Needs: root (it makes the user without root and mounts a small tmpfs), a Docker engine (ci/docker-up.sh). Prints "N passed, N failed" last.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=ci/lib.sh
. ci/lib.sh

start_run e2e-image

need() { # need COMMAND PACKAGE: installs PACKAGE when COMMAND is missing (the host-side checks)
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] || {
    say "installing $2"
    apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null 2>&1
  }
}
need sfdisk fdisk
need debugfs e2fsprogs
need /usr/bin/time time
need qemu-img qemu-utils
need mdir mtools
PATH=$PATH:/usr/sbin:/sbin

bash ci/docker-up.sh
BAKER=$BAKER bash ci/base-image.sh "$BASE"

# --- the build to image ------------------------------------------------------------------------------
PG=${BAKER_PG_BUILD:-}
if [ -z "$PG" ] || [ ! -f "$PG/plan.json" ]; then
  # `baker image` builds first when not given --from: the build, then a first image, in one command.
  say "no postgresql build in \$BAKER_PG_BUILD; building one with baker image (about ten minutes)"
  bash ci/source-mirror.sh "$WORK/mirror"
  PG=$WORK/pg-build
  "$BAKER" image --recipe postgresql --distro debian12 --cache-dir "$WORK/cache-build" --out "$PG" \
    --mirror "$WORK/mirror" --no-upstream --quiet
  check "baker image builds first when not given --from" test -s "$PG/plan.json" -a -s "$PG/image.json"
fi
DISK=postgresql-15.18-debian-12.raw

image() { # image OUT CACHE [ARGS…]: baker image of the build, timed, peak RSS in OUT.rss
  local out=$1 cache=$2
  shift 2
  /usr/bin/time -f %M -o "$out.rss" "$BAKER" image --from "$PG" --format raw --out "$out" --cache-dir "$cache" --json "$@" >"$out.json"
}

# --- a cold image: the tools image and the OS layer made now -------------------------------------------
# A tools image another baker version baked: a stand-in, the base relabelled. The engine keeps one.
OLD_TOOLS=baker-tools:0000000000000000
old=$(docker create "$BASE" true)
docker commit -c "LABEL baker.image=tools baker.test=1 $RUN_LABEL" "$old" "$OLD_TOOLS" >/dev/null
docker rm "$old" >/dev/null
say "cold image (OS layer built)"
t=$(now)
image "$WORK/img-a" "$WORK/cache-a" --no-cache
say "cold image: $(since "$t") s, peak RSS $(cat "$WORK/img-a.rss") KiB"
check "baker image removed the tools image another baker version baked" [ -z "$(docker images -q "$OLD_TOOLS")" ]
A=$WORK/img-a/$DISK
# $BAKER_PG_IMAGE (set by ci/test.sh) keeps this image for ci/e2e-launch-qemu.sh, which boots it.
if [ -n "${BAKER_PG_IMAGE:-}" ]; then
  cp --sparse=always "$A" "$WORK/img-a/image.json" "$BAKER_PG_IMAGE/"
fi
check "the disk, its .sha256 and image.json are written" test -s "$A" -a -s "$A.sha256" -a -s "$WORK/img-a/image.json"
check "the .sha256 matches the disk" bash -c "cd '$WORK/img-a' && sha256sum -c --quiet $DISK.sha256"
check "image.json is format 1 and lists the raw disk with its size and sha256" \
  [ "$(json "$WORK/img-a/image.json" 'd["format"] == 1 and d["formats"][0]["file"] == "'$DISK'" and d["formats"][0]["size"] == '"$(stat -c %s "$A")"' and len(d["formats"][0]["sha256"]) == 64')" = True ]
check "image.json says the disk is GPT and boots with bios and uefi, with its EFI System Partition" \
  [ "$(json "$WORK/img-a/image.json" 'd["disk"]["partition_table"] == "gpt" and d["disk"]["firmware"] == ["bios", "uefi"] and d["disk"]["esp"]["offset"] == 2097152')" = True ]
check "image.json names the kernel, the plan's key and where the image boots" \
  [ "$(json "$WORK/img-a/image.json" 'd["kernel"]["version"].endswith("-cloud-amd64") and d["plan_key"] == json.load(open("'"$PG"'/manifest.json"))["steps"][-1]["key"] and any(t["provider"] == "qemu" for t in d["boots_on"])')" = True ]
check "the disk is a whole number of GiB" [ $(($(stat -c %s "$A") % 1073741824)) = 0 ]
check "the disk is sparse" [ $(($(stat -c %b "$A") * 512)) -lt "$(stat -c %s "$A")" ]

# --- two runs at once on a new tree volume: one unpacks the tree, the other waits for it ---------------
# The second starts once the first has made the volume, so it finds a volume without its tree yet
# (before, it failed there).
trees() { docker volume ls -q --filter "label=baker.cache=$(cache_identity "$WORK/cache-a")" --filter label=baker.tree-of=postgresql; }
docker volume rm $(trees) >/dev/null
t=$(now)
image "$WORK/img-p1" "$WORK/cache-a" 2>"$WORK/img-p1.err" &
p1=$!
for _ in $(seq 1 300); do [ -z "$(trees)" ] || break; sleep 0.1; done
image "$WORK/img-p2" "$WORK/cache-a" 2>"$WORK/img-p2.err" || tail -n 20 "$WORK/img-p2.err" >&2
wait "$p1" || tail -n 20 "$WORK/img-p1.err" >&2
say "two images at once on a new tree volume: $(since "$t") s"
check "two runs at once on a new tree volume both make the same disk as the cold run" bash -c \
  "cmp -s '$A' '$WORK/img-p1/$DISK' && cmp -s '$A' '$WORK/img-p2/$DISK'"
rm -rf "$WORK/img-p1" "$WORK/img-p2"

# --- the disk, read with tools baker did not write ----------------------------------------------------
sfdisk --dump "$A" >"$WORK/sfdisk.txt"
gpt_has() { # gpt_has N START SIZE TYPE NAME: partition N of the sfdisk dump
  grep -Eq "^$A$1 : start= +$2, size= +$3, type=$4, uuid=[0-9A-F-]{36}, name=\"$5\"$" "$WORK/sfdisk.txt"
}
check "sfdisk finds a GPT" grep -qx 'label: gpt' "$WORK/sfdisk.txt"
check "partition 1 is the BIOS boot partition at sector 2048 (GRUB's core.img)" \
  gpt_has 1 2048 2048 21686148-6449-6E6F-744E-656564454649 bios-boot
check "partition 2 is a 32 MiB EFI System Partition" gpt_has 2 4096 65536 C12A7328-F81F-11D2-BA4B-00A0C93EC93B esp
check "partition 3 is the Linux root at 34 MiB" gpt_has 3 69632 '[0-9]+' 0FC63DAF-8483-4772-8E79-3D69D8477DE4 root
check "the EFI System Partition's FAT holds \\EFI\\BOOT\\BOOTX64.EFI, a PE image" bash -c \
  "mdir -i '$A@@2M' ::/EFI/BOOT | grep -Eq '^BOOTX64 +EFI ' && [ \"\$(mtype -i '$A@@2M' ::/EFI/BOOT/BOOTX64.EFI | head -c 2)\" = MZ ]"
ROOT_UUID=$(json "$WORK/img-a/image.json" 'd["disk"]["root_uuid"]')
check "the EFI loader looks for the root by its UUID ($ROOT_UUID) first (its embedded config)" bash -c \
  "mtype -i '$A@@2M' ::/EFI/BOOT/BOOTX64.EFI | grep -aqF 'search --no-floppy --fs-uuid --set=root $ROOT_UUID'"
check "the MBR ends in 55aa and holds GRUB's boot code" bash -c \
  "[ \"\$(dd if='$A' bs=1 skip=510 count=2 status=none | od -An -tx1 | tr -d ' ')\" = 55aa ] && dd if='$A' bs=440 count=1 status=none | grep -aq GRUB"
root_partition() { # root_partition IMAGE_DIR OUT: the image's root partition, by image.json's offset
  dd if="$1/$DISK" of="$2" bs=1M skip=$(($(json "$1/image.json" 'd["disk"]["partition_offset"]') / 1048576)) conv=sparse status=none
}
root_partition "$WORK/img-a" "$WORK/part.ext4"
check "e2fsck finds the root file system clean" bash -c "e2fsck -fn '$WORK/part.ext4' >'$WORK/e2fsck.txt' 2>&1"
debugfs -R 'ls -l /' "$WORK/part.ext4" >"$WORK/root.txt" 2>/dev/null
check "debugfs lists the root: boot, etc, usr, var" bash -c "for d in boot etc usr var; do grep -Eq \" \$d\$\" '$WORK/root.txt' || exit 1; done"
dfs() { debugfs -R "$1" "$WORK/part.ext4" 2>/dev/null; }
entries() { dfs "ls -p $1" | awk -F/ 'NF > 5 && $6 != "." && $6 != ".." {print $6}'; }
mtime_of() { printf %d "0x$(dfs "stat $1" | sed -n 's/^ *mtime: 0x\([0-9a-f]*\):.*/\1/p')"; }
has_postgres() {
  dfs 'stat /usr/local/pgsql/bin/postgres' | grep -q 'Type: regular' &&
    dfs 'cat /etc/ld.so.conf.d/postgresql.conf' | grep -qx /usr/local/pgsql/lib
}
has_first_boot_unit() {
  dfs 'cat /etc/systemd/system/baker-first-boot.service' | grep -q 'ExecStart=/usr/lib/baker/first-boot' &&
    dfs 'stat /etc/systemd/system/multi-user.target.wants/baker-first-boot.service' | grep -q 'link dest: "../baker-first-boot.service"'
}
grub_boots_root_by_uuid() {
  dfs 'cat /boot/grub/grub.cfg' | grep -q "root=UUID=$(json "$WORK/img-a/image.json" 'd["disk"]["root_uuid"]') ro .*console=ttyS0"
}
nothing_node_specific() {
  dfs 'stat /etc/machine-id' | grep -q 'Size: 0$' &&
    ! entries /etc/ssh | grep -q ssh_host_ &&
    [ -z "$(entries /var/lib/apt/lists)" ] &&
    ! entries /var/lib/systemd | grep -qx random-seed &&
    [ -z "$(entries /var/lib/dhcp)" ] &&
    ! entries /etc/dpkg/dpkg.cfg.d | grep -qx baker-unsafe-io
}
check "the tarball is unpacked at / (postgres, its ld.so.conf.d entry)" has_postgres
check "the first-boot unit is installed and enabled" has_first_boot_unit
# As on every cloud: eth0 (net.ifnames=0 keeps the name) by DHCP, with the distro's own client.
first_nic_by_dhcp() {
  dfs 'cat /etc/network/interfaces' >"$WORK/interfaces" &&
    grep -qx 'allow-hotplug eth0' "$WORK/interfaces" && grep -qx 'iface eth0 inet dhcp' "$WORK/interfaces" &&
    dfs 'stat /sbin/dhclient' | grep -q 'Type: regular' &&
    dfs 'cat /boot/grub/grub.cfg' | grep -q ' ro net\.ifnames=0 ' &&
    [ "$(json "$WORK/img-a/image.json" 'd["first_nic"]')" = dhcp ]
}
check "the first NIC, eth0, takes its address by DHCP: ifupdown's interfaces, dhclient, net.ifnames=0, and image.json says so" first_nic_by_dhcp
check "grub.cfg boots the root by UUID on the serial console" grub_boots_root_by_uuid
check "nothing node-specific is baked: empty machine-id, no SSH host keys, no apt lists, no random seed, no DHCP leases, dpkg's default fsyncs" nothing_node_specific
check "files written while imaging carry the plan's epoch" \
  [ "$(mtime_of /etc/machine-id)" = "$(json "$PG/manifest.json" 'd["source_date_epoch"]')" ]
# Dates inside files: every entry's last password change, in /etc/shadow and in the backup useradd
# left beside it (openssh-server made a user), is clamped to the epoch's day.
shadow_clamped() {
  local day=$(($(json "$PG/manifest.json" 'd["source_date_epoch"]') / 86400)) f
  for f in /etc/shadow /etc/shadow-; do
    dfs "cat $f" | awk -F: -v day="$day" 'NF > 2 { n++ } $3 != "" && $3 + 0 > day { bad++ } END { exit !(n > 0 && bad == 0) }' || return 1
  done
}
check "and the password-change days in /etc/shadow and /etc/shadow- are no later than the epoch's day" shadow_clamped

# --- no-change re-image, boot ---------------------------------------------------------------------------
t=$(now)
image "$WORK/img-a" "$WORK/cache-a"
took=$(since "$t")
say "no-change re-image: $took s"
check "a no-change re-image answers from the cache, in under 2 s" \
  [ "$(json "$WORK/img-a.json" 'd["unchanged"] and d["seconds"] < 2')" = True ]

# booted_in OUT: "in 22.4s (tcg (software emulation), on the host)" from `baker image boot`'s ready line.
booted_in() { sed -n 's/^ready: .* \(in [0-9.]*s (.*)\)$/\1/p' "$1" | head -n 1; }
# The UEFI boot below runs beside this one, from the start (each boot is one VM, and the machine
# has a core for each; --accel tcg keeps it out of this boot's KVM trial).
t_uefi=$(now)
"$BAKER" image boot "$WORK/img-a" --firmware uefi --accel tcg --qemu tools --timeout 600 --log "$WORK/uefi.log" \
  --cache-dir "$WORK/cache-a" >"$WORK/boot-uefi.out" 2>"$WORK/boot-uefi.err" &
uefi_boot=$!
say "booting the image under QEMU (and, beside it, with UEFI firmware)"
t=$(now)
if "$BAKER" image boot "$WORK/img-a" --timeout 600 --cache-dir "$WORK/cache-a" >"$WORK/boot.out" 2>"$WORK/boot.err"; then
  ok "the image boots under QEMU to the first-boot ready line"
else
  not_ok "the image boots under QEMU to the first-boot ready line"
  cat "$WORK/boot.err" >&2
fi
say "boot to ready: $(since "$t") s ($(booted_in "$WORK/boot.out"))"
check "the console log holds the kernel's and systemd's lines" grep -aq 'Linux version' "$A.console.log"
check "booting leaves the disk unchanged (a snapshot)" bash -c "cd '$WORK/img-a' && sha256sum -c --quiet $DISK.sha256"

# With --accel tcg: software emulation at once, no KVM trial (the BIOS boot above makes baker's own choice).
# With --qemu tools: QEMU and OVMF from baker's tools image, as on a host with only Docker (the BIOS
# boot above runs the host's QEMU).
say "the same disk under QEMU with UEFI firmware (OVMF), --accel tcg, --qemu tools, started with the BIOS boot"
if wait "$uefi_boot"; then
  ok "the image boots under UEFI firmware to the first-boot ready line"
else
  not_ok "the image boots under UEFI firmware to the first-boot ready line"
  cat "$WORK/boot-uefi.err" >&2
fi
say "UEFI boot to ready: $(since "$t_uefi") s, beside the BIOS boot ($(booted_in "$WORK/boot-uefi.out"))"
check "the UEFI console shows OVMF starting GRUB, then the kernel" bash -c \
  "grep -aq 'BdsDxe: starting' '$WORK/uefi.log' && grep -aq 'Linux version' '$WORK/uefi.log'"
check "and leaves the disk unchanged" bash -c "cd '$WORK/img-a' && sha256sum -c --quiet $DISK.sha256"
check "--accel tcg boots under software emulation with no KVM trial" bash -c \
  "grep -q 'tcg (software emulation)' '$WORK/boot-uefi.out' && ! grep -q 'KVM did not run' '$WORK/boot-uefi.err'"
check "--qemu tools boots it with the QEMU of baker's tools image" grep -q ', in baker-tools:' "$WORK/boot-uefi.out"

# --- a format the image lacks, from the raw disk it holds ---------------------------------------------
say "adding vhd to the raw image"
raw_mtime=$(stat -c %y "$A")
t=$(now)
"$BAKER" image --from "$PG" --format raw,vhd --out "$WORK/img-a" --cache-dir "$WORK/cache-a" --json >"$WORK/img-add.json"
say "vhd added from the raw disk: $(since "$t") s"
V=$WORK/img-a/${DISK%.raw}.vhd
check "a format the image lacks is written from its raw disk, and image.json lists both" \
  [ "$(json "$WORK/img-add.json" 'not d["unchanged"] and d["disk_reused"] and [f["format"] for f in d["image"]["formats"]] == ["raw", "vhd"]')" = True ]
check "the raw disk is left as it was" bash -c "[ \"\$(stat -c %y '$A')\" = '$raw_mtime' ] && cd '$WORK/img-a' && sha256sum -c --quiet $DISK.sha256 ${DISK%.raw}.vhd.sha256"
"$BAKER" image --from "$PG" --format vhd --out "$WORK/img-a" --cache-dir "$WORK/cache-a" --json >"$WORK/img-add2.json"
check "asked again, it is unchanged" [ "$(json "$WORK/img-add2.json" 'd["unchanged"]')" = True ]

# --- every format, read with tools baker did not write ----------------------------------------------------
say "every format"
# Into a folder that holds the build too, as `baker image` without --from leaves it: the build's
# tarball (<stem>.tar.gz) must survive the gce archive beside it.
mkdir "$WORK/img-f" && cp "$PG"/plan.json "$PG"/manifest.json "$PG"/*.tar.gz "$PG"/*.tar.gz.sha256 "$WORK/img-f/"
t=$(now)
/usr/bin/time -f %M -o "$WORK/img-f.rss" "$BAKER" image --from "$PG" --format raw,ami,qcow2,vhd,gce --out "$WORK/img-f" --cache-dir "$WORK/cache-a" --json >"$WORK/img-f.json"
say "all formats (OS layer cached): $(since "$t") s, peak RSS $(cat "$WORK/img-f.rss") KiB"
F=$WORK/img-f/postgresql-15.18-debian-12
check "every format is written with its .sha256, and image.json lists five" bash -c \
  "cd '$WORK/img-f' && for f in raw ami.raw qcow2 vhd gce.tar.gz; do sha256sum -c --quiet postgresql-15.18-debian-12.\$f.sha256 || exit 1; done && [ \"\$(python3 -c 'import json; print(len(json.load(open(\"image.json\"))[\"formats\"]))')\" = 5 ]"
check "the build's tarball beside the images is untouched, and still the one its manifest names" bash -c \
  "cd '$WORK/img-f' && sha256sum -c --quiet postgresql-15.18-debian-12.tar.gz.sha256 && cmp -s postgresql-15.18-debian-12.tar.gz '$PG/postgresql-15.18-debian-12.tar.gz'"
check "the raw disk is the one imaged before (same inputs, same bytes)" cmp -s "$F.raw" "$A"
check "ami is the raw disk" cmp -s "$F.ami.raw" "$F.raw"
check "the vhd added to the raw image is the one written with a new disk" cmp -s "$F.vhd" "$V"
check "qemu-img reads the qcow2 with the raw disk's size and bytes" bash -c \
  "qemu-img check -q '$F.qcow2' && qemu-img compare -q -f raw -F qcow2 '$F.raw' '$F.qcow2'"
check "qemu-img reads the vhd as vpc with the raw disk's size and bytes" bash -c \
  "qemu-img info --output=json -f vpc '$F.vhd' | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d[\"virtual-size\"] != $(stat -c %s "$A"))' && qemu-img compare -q -f raw -F vpc '$F.raw' '$F.vhd'"
check "gce is a gzip whose tar holds one sparse member disk.raw with the raw disk's bytes" python3 - "$F.gce.tar.gz" "$(cut -c1-64 "$A.sha256")" <<'PY'
import hashlib, sys, tarfile
with tarfile.open(sys.argv[1], "r:gz") as tar:
    members = tar.getmembers()
    assert [m.name for m in members] == ["disk.raw"], members
    assert members[0].issparse(), "disk.raw is not a sparse member"
    h = hashlib.sha256()
    with tar.extractfile(members[0]) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    assert h.hexdigest() == sys.argv[2], (h.hexdigest(), sys.argv[2])
PY
check "gzip -t accepts the gce archive" gzip -t "$F.gce.tar.gz"
rm -rf "$WORK/img-f"

# --- a changed tarball reuses the OS layer -----------------------------------------------------------------
say "a changed tarball"
# Its folder has a `:`, as one named for a time does: the engine's bind strings cannot name it.
CHANGED=$WORK/pg-changed:10:00
changed_build "$PG" "$CHANGED"
# Timed as bench-image-formats.sh times it (nothing left to write back first; elapsed, CPU, peak
# RSS), and left in $BAKER_IMAGE_FIGURE when set, for that benchmark to print: the suite images
# the same build after the same one-file change once, not twice.
sync
/usr/bin/time -f "%e %U %S %M" -o "$WORK/img-c.time" \
  "$BAKER" image --from "$CHANGED" --format raw --out "$WORK/img-c" --cache-dir "$WORK/cache-a" --json >"$WORK/img-c.json"
read -r secs user system rss <"$WORK/img-c.time"
say "re-image after a tarball change: $secs s, peak RSS $rss KiB"
figure=$(python3 - "$secs" "$user" "$system" "$rss" "$WORK/img-c/$DISK" "$WORK/cache-a" <<'PY'
import os, subprocess, sys
secs, user, system, rss = map(float, sys.argv[1:5])
disk, cache = sys.argv[5:7]
allocated = os.stat(disk).st_blocks * 512 >> 20
cached = int(subprocess.run(["du", "-sk", cache], capture_output=True, text=True).stdout.split()[0]) >> 10
print(f"warm PostgreSQL re-image after a one-file change in the tarball: {secs:.2f} s (target < 15 s: "
      f"{'met' if secs < 15 else 'MISSED'}), CPU {user + system:.2f} s, peak RSS {int(rss) >> 10} MiB; "
      f"disk {os.path.getsize(disk) >> 20} MiB, {allocated} MiB allocated, the image cache {cached} MiB")
PY
)
failed_before=$failed
check "a changed tarball reuses the cached OS layer and makes a new disk" \
  [ "$(json "$WORK/img-c.json" 'd["os_layer_cached"] and not d["unchanged"]')" = True ]
check "and the new disk differs" [ "$(cut -c1-64 "$A.sha256")" != "$(cut -c1-64 "$WORK/img-c/$DISK.sha256")" ]
# Only the figure of a re-image that did what it should (a warm OS layer, a new disk).
[ -z "${BAKER_IMAGE_FIGURE:-}" ] || [ "$failed" != "$failed_before" ] || echo "$figure" >"$BAKER_IMAGE_FIGURE"

# --- a format that fails beside another: image.json lists what was written; run again, only the rest ----
# gce's rename over a directory of its name fails, after the raw disk is written.
say "a format that fails beside another"
U=$WORK/img-u
mkdir -p "$U/${DISK%.raw}.gce.tar.gz"
rc=0
"$BAKER" image --from "$CHANGED" --format raw,gce --out "$U" --cache-dir "$WORK/cache-a" --quiet 2>"$WORK/img-u.err" || rc=$?
check "baker image fails, naming the format's file, what image.json lists and what running it again does" bash -c \
  "[ $rc != 0 ] && grep -q 'cannot write .*gce.tar.gz' '$WORK/img-u.err' && grep -q 'image.json lists the formats that were written (raw)' '$WORK/img-u.err' && grep -q 'writes gce from the raw disk' '$WORK/img-u.err'"
check "and image.json lists the raw disk it wrote, which matches its .sha256" bash -c \
  "[ \"\$(python3 -c 'import json; print([f[\"format\"] for f in json.load(open(\"$U/image.json\"))[\"formats\"]])')\" = \"['raw']\" ] && cd '$U' && sha256sum -c --quiet $DISK.sha256"
rmdir "$U/${DISK%.raw}.gce.tar.gz"
t=$(now)
"$BAKER" image --from "$CHANGED" --format raw,gce --out "$U" --cache-dir "$WORK/cache-a" --json >"$WORK/img-u.json"
say "the same command again, once the way is clear: $(since "$t") s"
check "the same command again writes only gce, from the raw disk, and image.json lists both" \
  [ "$(json "$WORK/img-u.json" 'd["disk_reused"] and [f["format"] for f in d["image"]["formats"]] == ["raw", "gce"]')" = True ]
check "and the gce archive is whole" bash -c "gzip -t '$U/${DISK%.raw}.gce.tar.gz' && cd '$U' && sha256sum -c --quiet ${DISK%.raw}.gce.tar.gz.sha256"
# Another build's image into the same folder: the older image's files go before it writes its own
# (its gce, which it does not write, must not stay beside it with a .sha256 that still checks out).
"$BAKER" image --from "$PG" --format raw --out "$U" --cache-dir "$WORK/cache-a" >/dev/null 2>"$WORK/img-u2.err"
check "an image of another build into that folder removes the older image's gce, saying so, and leaves only its own files" bash -c \
  "grep -qF \"removed the older image's $DISK, ${DISK%.raw}.gce.tar.gz from $U: this image replaces it\" '$WORK/img-u2.err' && cd '$U' && sha256sum -c --quiet $DISK.sha256 && [ \"\$(ls | sort | tr '\n' ' ')\" = 'image.json $DISK $DISK.sha256 ' ]"
rm -rf "$U"

# --- Ctrl-C while the formats are written: out at once, nothing half-written left ---------------------
# The formats stage is a minute of synchronous writing on a large image; Ctrl-C used to wait for it.
say "interrupting the formats stage"
I=$WORK/img-i
interrupt 'formats: running' "$WORK/img-i.err" 0.5 \
  "$BAKER" image --from "$CHANGED" --format raw,vhd,qcow2,gce --out "$I" --cache-dir "$WORK/cache-a"
say "baker image stopped $STOPPED_IN s after Ctrl-C"
check "Ctrl-C in the formats stage stops baker image within 3 s, with status 130 (the stage was reached: $REACHED)" \
  bash -c "[ $REACHED = yes ] && [ $STATUS = 130 ] && python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= 3)' $STOPPED_IN"
check "and leaves no partial file or work directory, only finished formats that image.json lists" python3 - "$I" <<'PY'
import json, os, sys
d = sys.argv[1]
names = set(os.listdir(d))
hidden = {n for n in names if n.startswith(".") and n != ".baker-image.stamp"}
assert not hidden, hidden
listed = set()
if "image.json" in names:
    for f in json.load(open(os.path.join(d, "image.json")))["formats"]:
        listed |= {f["file"], f["file"] + ".sha256"}
left = names - {"image.json", ".baker-image.stamp"}
assert left == listed, (left, listed)
PY
rm -rf "$I"

# --- an output directory too small for the disk: refused before mkfs fills it ---------------------------
# A 300 MiB tmpfs, where the disk's files take about 400 MiB, then 600 MiB; unmounted at the end
# whatever happens.
say "an output directory too small for the disk"
mkdir "$WORK/small"
before_cleanup() { if mountpoint -q "$WORK/small"; then umount "$WORK/small"; fi; }
mount -t tmpfs -o size=300m baker-e2e "$WORK/small"
rc=0
t=$(now)
"$BAKER" image --from "$CHANGED" --format raw --out "$WORK/small/img" --cache-dir "$WORK/cache-a" --quiet 2>"$WORK/small.err" || rc=$?
say "refused in $(since "$t") s"
check "an output directory with less room than the disk's files is refused before mkfs, saying what each holds" bash -c \
  "[ $rc != 0 ] && grep -q 'no room for the disk in .*small/img: its files take [0-9.]* MiB and the file system there has [0-9.]* MiB free' '$WORK/small.err'"
check "and nothing is left: the --out it made is removed" [ ! -e "$WORK/small/img" ]
# 600 MiB: room for the disk, not for the disk and a vhd copy of it (tmpfs shares no blocks).
mount -o remount,size=600m "$WORK/small"
rc=0
"$BAKER" image --from "$CHANGED" --format raw,vhd --out "$WORK/small/img" --cache-dir "$WORK/cache-a" --quiet 2>"$WORK/small.err" || rc=$?
check "an output directory with room for the disk but not for the vhd copy is refused before mkfs, naming the copy" bash -c \
  "[ $rc != 0 ] && grep -q 'no room for the disk and its formats in .*small/img: its files take [0-9.]* MiB, [0-9.]* MiB with the copy of them that vhd makes' '$WORK/small.err' && [ ! -e '$WORK/small/img' ]"
rc=0
"$BAKER" image --from "$CHANGED" --format raw --out "$WORK/small/img" --cache-dir "$WORK/cache-a" --quiet 2>"$WORK/small.err" || rc=$?
check "and the raw disk alone is made there" bash -c "[ $rc = 0 ] && [ -s '$WORK/small/img/$DISK' ]"
umount "$WORK/small"
# --- a --size too small for the files, and an --out that is a file: refused, leaving nothing -----------
rc=0
"$BAKER" image --from "$CHANGED" --format raw --size 300M --out "$WORK/img-s" --cache-dir "$WORK/cache-a" --quiet 2>"$WORK/img-s.err" || rc=$?
check "a --size too small for the image's files is refused before mkfs, saying what they take and what to do" bash -c \
  "[ $rc != 0 ] && grep -q -- '--size 300 MiB is too small for the image: its files take [0-9.]* MiB.*leave --size out (baker then picks 2 GiB)' '$WORK/img-s.err' && [ ! -e '$WORK/img-s' ]"
echo file >"$WORK/img-file"
rc=0
"$BAKER" image --from "$CHANGED" --format raw --out "$WORK/img-file" --cache-dir "$WORK/cache-a" --quiet 2>"$WORK/img-file.err" || rc=$?
check "an --out that is a file is refused by name before any work" bash -c \
  "[ $rc != 0 ] && grep -qF \"for '--out <DIR>': a file, not a folder\" '$WORK/img-file.err' && [ \"\$(cat '$WORK/img-file')\" = file ]"
# A warm image, with --from and no --out: into the build's own folder, once another run (flock(1)
# standing in for it) lets go of the folder.
cp -a "$PG" "$WORK/pg-copy"
: >"$WORK/img-w.err"
# Held until baker says it waits (at most 60 s), then let go.
flock "$WORK/pg-copy" bash -c "for _ in \$(seq 600); do grep -q 'waiting for another' '$WORK/img-w.err' && break; sleep 0.1; done" &
holder=$!
until ! flock -n "$WORK/pg-copy" true; do sleep 0.05; done
"$BAKER" image --from "$WORK/pg-copy" --format raw --cache-dir "$WORK/cache-a" >/dev/null 2>"$WORK/img-w.err"
wait "$holder"
check "with --from and no --out, the image goes into the build's folder, after waiting for the run that holds it" bash -c \
  "grep -q 'waiting for another .baker image. (or build) into $WORK/pg-copy' '$WORK/img-w.err' && [ -s '$WORK/pg-copy/$DISK' ] && cd '$WORK/pg-copy' && sha256sum -c --quiet ./*.tar.gz.sha256 && [ -s plan.json ] && [ -s manifest.json ]"
check "a warm image (cached OS layer and tree) is byte-identical to the cold one" cmp -s "$WORK/pg-copy/$DISK" "$A"
rm -rf "$WORK/pg-copy" "$WORK/img-c" "$CHANGED"

# --- byte-identity from empty image caches, the second a user's without root ----------------------------
# No root on the host: the second cold image is made by a user without root (in the engine's group),
# from a copy of the build in its home, into its own cache.
# Its cache is its own, so its OS layer and tree volume are too (what a cache keeps in the engine
# carries its label; caches sharing an engine never use each other's).
say "second cold image from empty caches, by a user without root"
nonroot_user
mkdir "$NONROOT_HOME/pg" && cp "$PG"/plan.json "$PG"/manifest.json "$PG"/*.tar.gz "$NONROOT_HOME/pg/"
chown -R "$NONROOT": "$NONROOT_HOME/pg"
as_nonroot ./baker image --from "$NONROOT_HOME/pg" --format raw --out "$NONROOT_HOME/img-b" \
  --cache-dir "$NONROOT_HOME/cache-b" --no-cache --quiet 2>"$WORK/img-b.err" || tail -n 20 "$WORK/img-b.err" >&2
B=$NONROOT_HOME/img-b/$DISK
sha_a=$(cut -c1-64 "$A.sha256")
sha_b=$(cut -c1-64 "$B.sha256" 2>/dev/null || true)
echo "sha256 of two clean image builds (root's, and a user's without root): $sha_a $sha_b"
check "two image builds from empty caches (root's and a user's without root) give the same sha256" [ "$sha_a" = "$sha_b" ]
check "and byte-identical disks" cmp -s "$A" "$B"
check "the user owns the image and its sparse disk (no more than the root's disk allocates)" bash -c \
  "[ -z \"\$(find '$NONROOT_HOME/img-b' ! -user '$NONROOT')\" ] && [ \$(du -k '$B' | cut -f1) -le \$(du -k '$A' | cut -f1) ]"

# --- what a cache keeps in the engine is its own, and `cache clear` removes it ----------------------------
ID_A=$(cache_identity "$WORK/cache-a")
ID_B=$(cache_identity "$NONROOT_HOME/cache-b")
in_engine() { # in_engine IDENTITY: "<OS layer images> <tree volumes>" labelled with that cache
  echo "$(docker images -q --filter "label=baker.cache=$1" --filter label=baker.image=os-layer | wc -l)" \
    "$(docker volume ls -q --filter "label=baker.cache=$1" --filter label=baker.tree-of=postgresql \
      --filter label=baker.tree-distro=debian-12 | wc -l)"
}
check "each cache has one OS layer and one tree volume (of its recipe and distro) of its own (root's: $(in_engine "$ID_A"); the user's: $(in_engine "$ID_B"))" \
  bash -c "[ '$(in_engine "$ID_A")' = '1 1' ] && [ '$(in_engine "$ID_B")' = '1 1' ]"
as_nonroot ./baker cache clear --cache-dir "$NONROOT_HOME/cache-b" -q 2>"$WORK/clear-b.err" || tail -n 20 "$WORK/clear-b.err" >&2
check "the user's cache clear removes its OS layer and tree volume ($(in_engine "$ID_B") left), and nothing of root's cache ($(in_engine "$ID_A"))" \
  bash -c "[ '$(in_engine "$ID_B")' = '0 0' ] && [ '$(in_engine "$ID_A")' = '1 1' ]"

# --- a boot that does not reach the ready line ----------------------------------------------------------
# Its console goes to the default log, where the boot above left its own.
if "$BAKER" image boot "$A" --timeout 3 --cache-dir "$WORK/cache-a" 2>"$WORK/short.err" >/dev/null; then
  not_ok "a boot that times out fails"
else
  ok "a boot that times out fails"
fi
check "and prints the console's last lines, the log's path and a hint (a longer --timeout, or an empty console)" bash -c \
  "grep -q \"console's last lines\" '$WORK/short.err' && grep -q 'full console log: $A.console.log' '$WORK/short.err' && grep -Eq 'hint: (nothing on the console says what went wrong|the console stayed empty)' '$WORK/short.err'"
check "the boot before it keeps its console log as .1, and says so" bash -c \
  "grep -q 'the last boot.s is now $A.console.log.1' '$WORK/short.err' && grep -aq 'Linux version' '$A.console.log.1'"
# A file that is not a disk (no partition table, no qcow2 or VHD header) is refused before QEMU starts,
# not after the firmware's search or --timeout.
head -c 1M /dev/zero >"$WORK/zeros.raw"
rc=0
t=$(now)
"$BAKER" image boot "$WORK/zeros.raw" --timeout 120 --cache-dir "$WORK/cache-a" 2>"$WORK/zeros.err" >/dev/null || rc=$?
took=$(since "$t")
check "booting a file that is not a disk fails at once ($took s of a 120 s timeout), before QEMU, saying so" bash -c \
  "[ $rc != 0 ] && python3 -c 'import sys; sys.exit(not $took < 5)' && grep -q 'zeros.raw is not a disk image' '$WORK/zeros.err' && ! grep -q 'booting' '$WORK/zeros.err'"
# Where the first boot's KVM trial failed, it is remembered: this boot skipped it, saying why.
if grep -q 'KVM did not run' "$WORK/boot.err"; then
  check "a failed KVM trial is remembered in the cache (host/kvm-verdict.json)" test -s "$WORK/cache-a/host/kvm-verdict.json"
  check "and the next boot goes straight to software emulation, saying why" bash -c \
    "grep -q 'KVM failed its trial on this host' '$WORK/short.err' && ! grep -q 'KVM did not run' '$WORK/short.err'"
else
  say "KVM passed its trial here, or is absent: nothing to remember"
fi
check "no container is left behind" [ -z "$(docker ps -aq --filter "label=$RUN_LABEL" --filter label=baker.image)" ]
# Root's cache imaged two tarballs (the build and a changed one) and kept one tree volume.
check "one tree volume is kept per recipe, distro and cache" [ "$(in_engine "$ID_A")" = '1 1' ]

# --- `cache du` counts what the cache keeps in the engine, and `cache prune` bounds it -------------------
# What the engine says the OS layer adds to the image it stands on, and what the tree volume's files take.
layer=$(docker images -q --filter "label=baker.cache=$ID_A" --filter label=baker.image=os-layer)
parent=$(docker image inspect -f '{{.Parent}}' "$layer")
layer_bytes=$(( $(docker image inspect -f '{{.Size}}' "$layer") - $(docker image inspect -f '{{.Size}}' "$parent") ))
volume=$(docker volume ls -q --filter "label=baker.cache=$ID_A" --filter label=baker.tree-of=postgresql)
volume_bytes=$(du -sb "$(docker volume inspect -f '{{.Mountpoint}}' "$volume")" | cut -f1)
"$BAKER" cache du --json --cache-dir "$WORK/cache-a" >"$WORK/du-a.json"
du_bytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["parts"]["os-layers"]["bytes"])' "$WORK/du-a.json")
echo "cache du: os-layers $du_bytes bytes; the engine: layer $layer_bytes + tree $volume_bytes"
check "cache du counts the OS layer and its tree in the engine (within 5% of the engine's own figures)" \
  python3 -c 'import sys; d, l, v = map(int, sys.argv[1:]); assert abs(d - (l + v)) <= 0.05 * (l + v) and l > 0 and v > 0' \
  "$du_bytes" "$layer_bytes" "$volume_bytes"

# --- an OS layer made again under its key is unpacked again -------------------------------------------
# `--no-cache`, or a new base image, makes the OS layer again under the same key. The disk must then be
# made from the new layer, not from the tree volume unpacked from the one it replaced. A stand-in for
# a new layer: the cached one with a marker file, committed under its reference (its labels kept;
# the layer it replaces stays below it, untagged, and goes when it goes).
say "an OS layer made again under its key"
layer_ref=$(docker images --format '{{.Repository}}:{{.Tag}}' --filter "label=baker.cache=$ID_A" --filter label=baker.image=os-layer)
docker run --name "baker-e2e-layer-$$" --label "$RUN_LABEL" "$layer_ref" sh -c 'echo remade >/etc/baker-e2e-remade'
docker commit "baker-e2e-layer-$$" "$layer_ref" >/dev/null && docker rm "baker-e2e-layer-$$" >/dev/null
"$BAKER" image --from "$PG" --format raw --out "$WORK/img-m" --cache-dir "$WORK/cache-a" -q 2>"$WORK/img-m.err" || tail -n 20 "$WORK/img-m.err" >&2
root_partition "$WORK/img-m" "$WORK/part-m.ext4"
check "a disk made after its OS layer was made again holds the new layer's files" \
  bash -c "debugfs -R 'cat /etc/baker-e2e-remade' '$WORK/part-m.ext4' 2>/dev/null | grep -qx remade"
check "and the tree unpacked from the layer it replaced is removed ($(in_engine "$ID_A") left)" [ "$(in_engine "$ID_A")" = '1 1' ]
rm -rf "$WORK/img-m" "$WORK/part-m.ext4"

"$BAKER" cache prune --max-size 1M --cache-dir "$WORK/cache-a" >"$WORK/prune-a.out" 2>&1 || cat "$WORK/prune-a.out" >&2
check "cache prune --max-size 1M removes the OS layer and its tree volume ($(in_engine "$ID_A") left)" \
  [ "$(in_engine "$ID_A")" = '0 0' ]

echo "e2e-image: $passed passed, $failed failed"
[ "$failed" = 0 ]
