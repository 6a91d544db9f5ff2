#!/usr/bin/env bash
# bench-image-formats.sh — baker's image format writers against the tools people use today, in one
# run on the same sparse raw disk:
#   vhd    qemu-img convert -O vpc -o subformat=fixed,force_size
#   gce    tar --format=oldgnu -Sczf, and tar --format=oldgnu -S | pigz
#   qcow2  qemu-img convert -O qcow2
#   raw    cp --sparse=always
# and raw, ami and vhd written in one run (as `baker image --format raw,ami,vhd` does: one pass that
# reads and hashes the disk once), and all five in one run, against those tools run one after
# another, each followed by its sha256.
# Then a whole warm `baker image --format raw` of the PostgreSQL build after a one-file change in its
# tarball (the OS layer and its tree cached by a first image), against the target of under 15 s —
# or, when $BAKER_IMAGE_FIGURE names a file e2e-image.sh filled with that figure in the same suite
# (ci/test.sh), that figure, and no image of its own.
# The disk is made like a real image: an MBR and one ext4 partition (mkfs.ext4 -d) holding half
# real binaries and libraries from this machine and half incompressible files (stand-ins for
# compressed packages, media, encrypted data), copied in with dd conv=sparse.
#   bash ci/bench-image-formats.sh          2 GiB disk, about 500 MiB of data, best of 2 runs
#   bash ci/bench-image-formats.sh --full   10 GiB disk, about 2 GiB of data, one run
# baker's times include the sha256 it computes while writing (the `.sha256` beside each file); the
# tools compute none, so each is also timed followed by `openssl dgst -sha256` of its output.
# Prints elapsed and CPU seconds, baker/tool ratios (against the fastest tool alone and followed by
# its sha256), a one-line verdict per format against the target that holds with the hash (no slower
# than the fastest tool followed by its sha256; a GCE archive no larger than pigz's), output sizes,
# peak resident memory and disk use. It reports; it does not fail on a missed target. Installs pigz, GNU time, qemu-utils and e2fsprogs if missing.
# The re-image needs a Docker engine (ci/docker-up.sh starts one) and the PostgreSQL build in
# $BAKER_PG_BUILD (ci/test.sh shares one); without it, it builds one first (several minutes).
# What it creates carries the labels baker.test=1 and baker.test.run=bench-image-<pid> and is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

FULL=0
[ "${1:-}" = --full ] && FULL=1
if [ "$FULL" = 1 ]; then DISK_GIB=10 HALF_MIB=1024 REPS=1; else DISK_GIB=2 HALF_MIB=256 REPS=2; fi

# shellcheck source=ci/lib.sh
. ci/lib.sh
say() { echo "bench: $*" >&2; }

need() { # need COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  say "installing $2"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}
need pigz pigz
[ -x /usr/bin/time ] || need /usr/bin/time time
need qemu-img qemu-utils
need mkfs.ext4 e2fsprogs
need openssl openssl

cargo build --release -q --example image_format
EX=$PWD/target/release/examples/image_format
start_run bench-image
if [ -z "${BAKER:-}" ]; then
  cargo build --release -q
  BAKER=$PWD/target/release/baker
fi
export BAKER
REPO=$PWD
cd "$WORK"

# --- the disk -------------------------------------------------------------------------------------
say "making a ${DISK_GIB} GiB disk with about $((2 * HALF_MIB)) MiB of data"
python3 - tree "$HALF_MIB" <<'PY'
import os, shutil, sys
root, budget = sys.argv[1], int(sys.argv[2]) << 20
# Compressible half: real executables and libraries, in a fixed order.
copied = 0
for top in ("/usr/bin", "/usr/lib", "/usr/libexec", "/usr/share"):
    for dirpath, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            src = os.path.join(dirpath, name)
            if copied >= budget or os.path.islink(src) or not os.path.isfile(src):
                continue
            dst = os.path.join(root, src.lstrip("/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            try:
                shutil.copyfile(src, dst)
            except OSError:
                continue
            copied += os.path.getsize(dst)
# Incompressible half: files of 1-8 MiB of random bytes.
blobs, made, i = os.path.join(root, "var/cache/blobs"), 0, 0
os.makedirs(blobs)
while made < budget:
    size = min((1 + i % 8) << 20, budget - made)
    with open(os.path.join(blobs, f"blob{i:04}.bin"), "wb") as f:
        f.write(os.urandom(size))
    made, i = made + size, i + 1
PY
truncate -s $((DISK_GIB * 1024 - 1))M part.img
mkfs.ext4 -q -F -d tree -E root_owner=0:0 part.img
rm -rf tree
truncate -s ${DISK_GIB}G disk.raw
python3 - disk.raw <<'PY'
import os, struct, sys
# One bootable Linux partition from sector 2048 to the end, as sfdisk would write it.
sectors = os.path.getsize(sys.argv[1]) // 512
entry = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff", 2048, sectors - 2048)
with open(sys.argv[1], "r+b") as f:
    f.seek(446); f.write(entry); f.seek(510); f.write(b"\x55\xaa")
PY
dd if=part.img of=disk.raw bs=1M seek=1 conv=notrunc,sparse status=none
rm part.img
DATA_MIB=$(( $(du -k disk.raw | cut -f1) / 1024 ))
say "disk.raw: ${DISK_GIB} GiB, ${DATA_MIB} MiB allocated"

# --- timing ---------------------------------------------------------------------------------------
# run NAME OUTPUT LABEL COMMAND… : one timed run; $WORK/NAME.{s,cpu,rss} keep the best elapsed
# seconds so far, the CPU seconds (user + system) of that run and the peak RSS (MiB) of all runs.
# Each format's commands run in turn, $REPS rounds of them (single-threaded tar -z once), so that
# the load of a shared machine weighs on baker and on the tools alike; the output of the last run
# stays. Each run starts with nothing left to write back: the tools leave their outputs in the page
# cache, and their writeback would otherwise land on whatever runs next (on baker's fsync, most).
run() {
  local name=$1 out=$2 t u k m
  echo "$3" >"$name.label"
  shift 3
  rm -f "$out" "$out.sha256"
  sync
  /usr/bin/time -f "%e %U %S %M" -o "$name.time" "$@" >/dev/null 2>"$name.err" || {
    cat "$name.err" >&2
    return 1
  }
  read -r t u k m <"$name.time"
  if [ ! -e "$name.s" ] || python3 -c "import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))" "$t" "$(cat "$name.s")"; then
    echo "$t" >"$name.s"
    python3 -c "import sys; print(f'{float(sys.argv[1]) + float(sys.argv[2]):.2f}')" "$u" "$k" >"$name.cpu"
  fi
  if [ ! -e "$name.rss" ] || [ $((m / 1024)) -gt "$(cat "$name.rss")" ]; then echo $((m / 1024)) >"$name.rss"; fi
  echo "$out" >"$name.out"
}
rounds() { # rounds COMMAND… : the command $REPS times
  local i
  for ((i = 0; i < REPS; i++)); do "$@"; done
}

say "vhd"
vhd() {
  run baker-vhd b.vhd 'baker' "$EX" vhd disk.raw b.vhd
  run qemu-vhd q.vhd 'qemu-img convert -O vpc -o subformat=fixed,force_size' qemu-img convert -f raw -O vpc -o subformat=fixed,force_size disk.raw q.vhd
  run qemu-vhd-sha q.vhd.none 'sha256' openssl dgst -sha256 q.vhd
}
rounds vhd
qemu-img compare -f vpc -F raw b.vhd disk.raw >/dev/null

say "gce"
gce() {
  run baker-gce b.tar.gz 'baker' "$EX" gce disk.raw b.tar.gz
  # gzip on one core takes more than twice as long as pigz: its first round says all it can.
  [ -e tar-gce.s ] || run tar-gce t.tar.gz 'tar --format=oldgnu -Sczf' tar --format=oldgnu -Sczf t.tar.gz disk.raw
  run pigz-gce p.tar.gz 'tar --format=oldgnu -S | pigz' sh -c 'tar --format=oldgnu -S -c disk.raw | pigz >p.tar.gz'
  run pigz-gce-sha p.tar.gz.none 'sha256' openssl dgst -sha256 p.tar.gz
}
rounds gce
gzip -t b.tar.gz

say "qcow2"
qcow2() {
  run baker-qcow2 b.qcow2 'baker' "$EX" qcow2 disk.raw b.qcow2
  run qemu-qcow2 q.qcow2 'qemu-img convert -O qcow2' qemu-img convert -f raw -O qcow2 disk.raw q.qcow2
  run qemu-qcow2-sha q.qcow2.none 'sha256' openssl dgst -sha256 q.qcow2
}
rounds qcow2
qemu-img check -q b.qcow2
qemu-img compare -f qcow2 -F raw b.qcow2 disk.raw >/dev/null

say "raw"
raw() {
  run baker-raw b.raw 'baker' "$EX" raw disk.raw b.raw
  run cp-raw c.raw 'cp --sparse=always' cp --sparse=always disk.raw c.raw
  run cp-raw-sha c.raw.none 'sha256' openssl dgst -sha256 c.raw
}
rounds raw
cmp b.raw disk.raw

# raw, ami and vhd in one run, as `baker image --format raw,ami,vhd` writes them: one pass that reads
# and hashes the disk once. The tools' side is their three fastest runs above, each with its sha256.
say "raw,ami,vhd together"
together() {
  run baker-together j.vhd 'baker raw,ami,vhd in one run' "$EX" raw,ami,vhd disk.raw j
}
rounds together
cmp j.raw disk.raw && cmp j.ami.raw disk.raw && cmp j.vhd b.vhd

# All five in one run, as `baker image --format raw,ami,vhd,qcow2,gce` writes them: gce compressed on
# its own threads beside the others.
say "all five formats together"
five() {
  run baker-five f.gce.tar.gz 'baker all five in one run' "$EX" raw,ami,vhd,qcow2,gce disk.raw f
}
rounds five
cmp f.vhd b.vhd && cmp f.qcow2 b.qcow2 && cmp f.gce.tar.gz b.tar.gz
rm -f f.* j.*

mib() { echo $(( $(stat -c %s "$1") / 1048576 )); }
used() { echo $(( $(du -k "$1" | cut -f1) / 1024 )); }

# --- a warm re-image after a one-file change ------------------------------------------------------
# The first image makes the OS layer and the tree volume; the second, of the same build with one
# file of its tarball changed, is the edit loop's re-image: the OS layer and tree reused, the
# tarball laid again, a new disk made and written. In the suite, e2e-image.sh timed this very
# re-image of the same build and left the figure in $BAKER_IMAGE_FIGURE: a first image of its own
# would cost a minute for the same line (--full measures its own).
if [ "$FULL" = 0 ] && [ -s "${BAKER_IMAGE_FIGURE:-}" ]; then
  reimage_line="$(cat "$BAKER_IMAGE_FIGURE"), measured by e2e-image.sh in this run"
else
  say "PostgreSQL image: first image, then a re-image after a one-file change"
  (cd "$REPO" && bash ci/docker-up.sh >&2 && bash ci/base-image.sh "$BASE" >&2)
  PG=$(cd "$REPO" && pg_build "$WORK")
  "$BAKER" image --from "$PG" --format raw --out pg-img-0 --cache-dir pg-cache --quiet
  changed_build "$PG" pg-changed
  run reimage pg-img-1/postgresql-15.18-debian-12.raw 'baker image --format raw after a one-file change' \
    "$BAKER" image --from pg-changed --format raw --out pg-img-1 --cache-dir pg-cache --quiet
  rm -rf pg-img-0
  reimage_line="warm PostgreSQL re-image after a one-file change in the tarball: $(cat reimage.s) s (target < 15 s:"
  reimage_line+=" $(python3 -c "import sys; print('met' if float(sys.argv[1]) < 15 else 'MISSED')" "$(cat reimage.s)")), CPU $(cat reimage.cpu) s,"
  reimage_line+=" peak RSS $(cat reimage.rss) MiB; disk $(mib "$(cat reimage.out)") MiB, $(used "$(cat reimage.out)") MiB allocated,"
  reimage_line+=" the image cache $(( $(du -sk pg-cache | cut -f1) / 1024 )) MiB"
fi

# --- report ---------------------------------------------------------------------------------------
add() { # add NAME NAME [s|cpu]
  python3 -c "import sys; print(f'{float(sys.argv[1]) + float(sys.argv[2]):.2f}')" "$(cat "$1.${3:-s}")" "$(cat "$2.${3:-s}")"
}
div() { python3 -c "import sys; print(f'{float(sys.argv[1]) / float(sys.argv[2]):.${3:-2}f}')" "$1" "$2"; }
row() { # row FORMAT LABEL SECONDS CPU RSS FILE
  printf '%-6s %-50s %8s %8s %8s %9s %9s\n' "$1" "$2" "$3" "$4" "$5" "$(mib "$6")" "$(used "$6")"
}
fastest() { # the fastest of the named runs
  local best=$1 n
  for n in "$@"; do
    python3 -c "import sys; sys.exit(not float(sys.argv[1]) < float(sys.argv[2]))" "$(cat "$n.s")" "$(cat "$best.s")" && best=$n
  done
  echo "$best"
}

echo
echo "disk: ${DISK_GIB} GiB raw, ${DATA_MIB} MiB of data (half binaries, half incompressible);" \
  "best of $REPS rounds; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-50s %8s %8s %8s %9s %9s\n' format tool seconds "CPU s" "RSS MiB" "size MiB" "disk MiB"
# verdict RATIO_WITH_SHA RATIO_ALONE CPU_RATIO_WITH_SHA BAKER_S SHA_S: one line on the target "no
# slower than the tool followed by its sha256". The tool alone hashes nothing: every byte of the
# output has to go through SHA-256 on one core, so baker cannot go far below SHA_S.
verdict() {
  python3 - "$@" <<'PY'
import sys
with_sha, alone, cpu, baker, sha = map(float, sys.argv[1:])
if alone <= 1.0:
    print(f"met: {alone:.2f}x the tool alone, sha256 included")
elif with_sha <= 1.0:
    print(f"met: {with_sha:.2f}x the tool followed by its sha256; baker {baker:.2f} s, "
          f"that sha256 alone {sha:.2f} s")
elif cpu <= 1.0:
    print(f"missed by the clock, {with_sha:.2f}x the tool followed by its sha256, but not by the "
          f"CPU ({cpu:.2f}x): the machine was busy, run it again when it is quiet")
else:
    print(f"MISSED: {with_sha:.2f}x the tool followed by its sha256 (CPU {cpu:.2f}x)")
PY
}
ratios=() verdicts=()
for f in vhd gce qcow2 raw; do
  case $f in
    vhd) out=b.vhd tools="qemu-vhd" sha=qemu-vhd-sha ;;
    gce) out=b.tar.gz tools="tar-gce pigz-gce" sha=pigz-gce-sha ;;
    qcow2) out=b.qcow2 tools="qemu-qcow2" sha=qemu-qcow2-sha ;;
    raw) out=b.raw tools="cp-raw" sha=cp-raw-sha ;;
  esac
  row "$f" "baker (sha256 included)" "$(cat "baker-$f.s")" "$(cat "baker-$f.cpu")" "$(cat "baker-$f.rss")" "$out"
  for t in $tools; do
    row "$f" "$(cat "$t.label")" "$(cat "$t.s")" "$(cat "$t.cpu")" "$(cat "$t.rss")" "$(cat "$t.out")"
  done
  # shellcheck disable=SC2086
  best=$(fastest $tools)
  row "$f" "  the fastest tool, then its sha256 (+$(cat "$sha.s") s)" "$(add "$best" "$sha")" \
    "$(add "$best" "$sha" cpu)" "$(cat "$best.rss")" "$(cat "$best.out")"
  alone=$(div "$(cat "baker-$f.s")" "$(cat "$best.s")")
  with=$(div "$(cat "baker-$f.s")" "$(add "$best" "$sha")")
  cpu=$(div "$(cat "baker-$f.cpu")" "$(add "$best" "$sha" cpu)")
  ratios+=("  $f: $alone against $(cat "$best.label") alone, $with with its sha256; CPU $(div "$(cat "baker-$f.cpu")" "$(cat "$best.cpu")") and $cpu")
  verdicts+=("  $f: $(verdict "$with" "$alone" "$cpu" "$(cat "baker-$f.s")" "$(cat "$sha.s")")")
done
echo
echo "baker time / fastest tool's, alone and followed by its sha256 (CPU seconds say the same without the noise of a shared machine):"
printf '%s\n' "${ratios[@]}"
echo "verdicts (target: no slower than the fastest tool followed by its sha256):"
printf '%s\n' "${verdicts[@]}"
three=$(python3 -c "import sys; print(f'{sum(map(float, sys.argv[1:])):.2f}')" "$(cat cp-raw.s)" "$(cat cp-raw-sha.s)" \
  "$(cat cp-raw.s)" "$(cat cp-raw-sha.s)" "$(cat qemu-vhd.s)" "$(cat qemu-vhd-sha.s)")
echo "raw, ami and vhd of one disk: baker in one run $(cat baker-together.s) s, baker one at a time" \
  "$(python3 -c "import sys; print(f'{2 * float(sys.argv[1]) + float(sys.argv[2]):.2f}')" "$(cat baker-raw.s)" "$(cat baker-vhd.s)") s," \
  "the tools each followed by its sha256 $three s: $(div "$(cat baker-together.s)" "$three")"
five=$(python3 -c "import sys; print(f'{sum(map(float, sys.argv[1:])):.2f}')" "$three" "$(cat qemu-qcow2.s)" \
  "$(cat qemu-qcow2-sha.s)" "$(cat "$(fastest tar-gce pigz-gce).s")" "$(cat pigz-gce-sha.s)")
echo "all five formats of one disk: baker in one run $(cat baker-five.s) s (CPU $(cat baker-five.cpu) s, peak RSS" \
  "$(cat baker-five.rss) MiB), baker one at a time $(python3 -c "import sys; print(f'{sum(map(float, sys.argv[1:])):.2f}')" \
  "$(cat baker-together.s)" "$(cat baker-qcow2.s)" "$(cat baker-gce.s)") s, the tools each followed by its sha256 $five s:" \
  "$(div "$(cat baker-five.s)" "$five")"
echo "$reimage_line"
echo "GCE archive size baker / pigz (target <= 1.0000): $(div "$(stat -c %s b.tar.gz)" "$(stat -c %s p.tar.gz)" 4)" \
  "($(stat -c %s b.tar.gz) / $(stat -c %s p.tar.gz) bytes)"
