#!/bin/bash
# baker disk script: runs in the tools container, as root inside it and nothing on the host.
#   /cache    the tree volume of this OS layer and epoch: base/ is the OS layer's file system with its
#             times clamped to $EPOCH, unpacked from stdin (a tar stream) when FEED=1, kept for the
#             next disk; each run works in its own hard-linked copy of it
#   /in/artifact.tar.gz   the build's tarball (read-only)
#   /work     the only host directory (bind-mounted): holds overlay.tar, receives disk.raw
#
# It finishes the tree (tarball at /, libraries registered, baker's first-boot files, nothing
# node-specific or secret), clamps every time to $EPOCH, then makes the disk without loop devices or
# mount: a partition table written by sfdisk on a plain file (an MBR, or a GPT when the image boots
# under UEFI too; baker computes the layout, src/image/layout.rs), ext4 made from the tree by
# mkfs.ext4 -d at the root partition's offset (fixed UUID, hash seed and time), inode change and
# access times fixed with debugfs (mkfs copies them from the tree, where the kernel sets them), and
# GRUB 2 for BIOS embedded with no device: boot.img's first 440 bytes in the MBR, core.img at
# CORE_SECTOR (sector 1 on an MBR disk, the BIOS boot partition on a GPT disk) with the two sector
# numbers grub-install would write patched in. With UEFI, an EFI System Partition made as a FAT image
# (mkfs.vfat --invariant, mtools with SOURCE_DATE_EPOCH) holding GRUB's x86_64-efi image as
# \EFI\BOOT\BOOTX64.EFI, copied in at ESP_OFFSET.
#
# The work tree shares its files with base/: every change here replaces a file (tar, which unlinks
# an existing file before extracting one, rm then create, cp --remove-destination, ldconfig's
# rename), never writes into one.
#
# Environment: FEED (1: stdin is the OS tree), EPOCH, FS_UUID, HASH_SEED, SIZE (bytes), OWNER
# (uid:gid), MKFS_OPTIONS (extra mkfs.ext4 arguments, may be empty), and the layout: PARTITIONS (the
# sfdisk script), ROOT_OFFSET and ROOT_SIZE (bytes), CORE_SECTOR and CORE_ROOM (sectors), GRUB_ROOT
# (e.g. (hd0,gpt3)), GRUB_PART (part_msdos or part_gpt), ESP_OFFSET (0: none), ESP_SIZE, ESP_ID (hex),
# FIRMWARE (bios, or bios uefi).
set -euo pipefail
phase() { echo "baker-phase: $*"; }
base=/cache/base
tree=/cache/work-$HOSTNAME
disk=/work/disk.raw
offset=$ROOT_OFFSET
uefi=0
case " $FIRMWARE " in *" uefi "*) uefi=1 ;; esac

phase unpack
# Runs sharing this volume hold a shared lock; one that finds itself alone removes what an
# interrupted run left behind.
exec 9>/cache/lock
if flock -xn 9; then
    rm -rf /cache/work-* /cache/partial-*
fi
flock -s 9
# The run that feeds the tree holds /cache/feed while it unpacks; a run that finds no tree yet waits
# for that lock, so that runs started together on a new volume all use the one tree being fed.
if [ "${FEED:-0}" = 1 ]; then
    exec 8>/cache/feed
    flock -x 8
    if [ -d "$base" ]; then
        # Another run fed the same tree while this one waited for the lock.
        cat >/dev/null
    else
        partial=/cache/partial-$HOSTNAME
        rm -rf "$partial"
        mkdir -p "$partial"
        tar -xf - -C "$partial" --numeric-owner
        cat >/dev/null
        rm -f "$partial/.dockerenv"
        find "$partial" -newermt "@$EPOCH" -print0 | xargs -0r touch -h -d "@$EPOCH"
        mv -T "$partial" "$base" 2>/dev/null || rm -rf "$partial"
    fi
    exec 8>&-
elif [ ! -d "$base" ]; then
    echo "waiting for another run to finish unpacking the tree"
    exec 8>/cache/feed
    flock -s 8
    exec 8>&-
fi
[ -d "$base" ] || { echo "the tree volume has no finished tree" >&2; exit 75; }
trap 'rm -rf "$tree"' EXIT
rm -rf "$tree"
cp -al "$base" "$tree"

phase tree
tar -xzf /in/artifact.tar.gz -C "$tree" --keep-directory-symlink --numeric-owner
tar -xf /work/overlay.tar -C "$tree" --keep-directory-symlink --numeric-owner
if [ -x "$tree/sbin/ldconfig" ] || [ -x "$tree/usr/sbin/ldconfig" ]; then
    chroot "$tree" ldconfig
fi
mkdir -p "$tree/boot/grub/i386-pc"
cp --remove-destination /usr/lib/grub/i386-pc/*.mod /usr/lib/grub/i386-pc/*.lst "$tree/boot/grub/i386-pc/"
if [ "$uefi" = 1 ]; then
    mkdir -p "$tree/boot/grub/x86_64-efi"
    cp --remove-destination /usr/lib/grub/x86_64-efi/*.mod /usr/lib/grub/x86_64-efi/*.lst "$tree/boot/grub/x86_64-efi/"
fi

# Nothing node-specific or secret: first boot makes these.
rm -f "$tree/etc/machine-id" "$tree/etc/resolv.conf"
: >"$tree/etc/machine-id"
: >"$tree/etc/resolv.conf"
rm -f "$tree/var/lib/dbus/machine-id" "$tree"/etc/ssh/ssh_host_*
rm -f "$tree/var/lib/systemd/random-seed" "$tree/var/lib/random-seed" "$tree/var/lib/urandom/random-seed"
rm -rf "$tree"/var/lib/apt/lists/* "$tree"/var/cache/apt/*.bin "$tree"/var/cache/yum/*
rm -f "$tree/var/cache/ldconfig/aux-cache" "$tree/root/.bash_history"
# NIC names pinned to MACs (udev's persistent-net rules on Ubuntu 14.04 and CentOS 6), and DHCP leases.
rm -f "$tree/etc/udev/rules.d/70-persistent-net.rules"
rm -rf "$tree"/var/lib/dhcp/* "$tree"/var/lib/dhclient/*
find "$tree/var/log" -type f -delete 2>/dev/null || true
rm -rf "${tree:?}"/tmp/* "$tree"/var/tmp/*

phase clamp
# Dates inside files too: the last password change in /etc/shadow and in the backup useradd keeps
# beside it (field 3, in days) is the day a user was made, by debootstrap or a package's postinst.
# Clamped to the plan's epoch, into a new file (the tree's files are hard links into the cached tree).
for f in "$tree/etc/shadow" "$tree/etc/shadow-"; do
    [ -f "$f" ] || continue
    awk -F: -v OFS=: -v day=$((EPOCH / 86400)) '$3 != "" && $3 + 0 > day { $3 = day } 1' "$f" >"$f.baker"
    chmod --reference="$f" "$f.baker"
    chown --reference="$f" "$f.baker"
    mv -f "$f.baker" "$f"
done
find "$tree" -newermt "@$EPOCH" -print0 | xargs -0r touch -h -d "@$EPOCH"
tree_bytes=$(du -sx --block-size=1 "$tree" | cut -f1)
echo "tree: $tree_bytes bytes"
# A --size whose root partition cannot hold the tree: refused now, or when mkfs runs out of blocks
# or inodes (ext4's own tables and journal take some of the partition too).
too_small() { echo "baker-too-small: $tree_bytes $ROOT_SIZE"; exit 77; }
[ "$tree_bytes" -lt "$ROOT_SIZE" ] || too_small
# Room for the disk, before mkfs fills it: the output directory must hold the tree's blocks once for
# the disk and once more for each copy of its data the formats make: COPIES always (qcow2), and
# SHAREABLE_COPIES (vhd, ami beside raw) where the file system cannot share blocks between files.
# A file system that compresses (btrfs, ZFS) may hold more than it says is free: there mkfs and the
# format writers find out.
shares=0
# (A full --out fails the probe's write: then it shares nothing, and the check below says so.)
{ echo x >/work/.share-probe; } 2>/dev/null &&
    cp --reflink=always /work/.share-probe /work/.share-probe.copy 2>/dev/null && shares=1
rm -f /work/.share-probe /work/.share-probe.copy
need=$((tree_bytes * (1 + ${COPIES:-0} + (1 - shares) * ${SHAREABLE_COPIES:-0})))
free=$(df --output=avail -B1 /work | tail -n 1 | tr -d ' ')
case "$(stat -f -c %T /work)" in
btrfs | zfs) ;;
*) if [ "$need" -gt "$free" ]; then echo "baker-no-room: $tree_bytes $free $shares"; exit 76; fi ;;
esac

phase mkfs
rm -f "$disk"
truncate -s "$SIZE" "$disk"
printf '%s' "$PARTITIONS" | sfdisk -q "$disk"
blocks_k=$(( ROOT_SIZE / 1024 ))
# shellcheck disable=SC2086 # MKFS_OPTIONS is a list of arguments
if ! E2FSPROGS_FAKE_TIME=$EPOCH mkfs.ext4 -q -F -L root -U "$FS_UUID" \
    -E "hash_seed=$HASH_SEED,offset=$offset,nodiscard" ${MKFS_OPTIONS:-} -d "$tree" "$disk" "${blocks_k}k" \
    2>/tmp/mkfs.err; then
    cat /tmp/mkfs.err >&2
    # The partition full, not the output directory (whose "No space left on device" is not this).
    grep -Eq 'Could not allocate (block|inode)' /tmp/mkfs.err && too_small
    exit 1
fi
cat /tmp/mkfs.err >&2

# mkfs copies ctime and atime from the tree, where the kernel set them at unpacking: fix both on
# every inode in use (the complement of each group's free list).
part="$disk?offset=$offset"
dumpe2fs "$part" 2>/dev/null | awk '
  /^Inodes per group:/ { ipg = $4 }
  /^Group [0-9]+:/ { g = $2 + 0 }
  /^  Free inodes: / {
    s = $0; sub(/^  Free inodes: */, "", s)
    cur = g * ipg + 1; last = (g + 1) * ipg
    n = split(s, ranges, ", ")
    for (i = 1; i <= n; i++) {
      split(ranges[i], ab, "-"); a = ab[1] + 0; b = (ab[2] == "") ? a : ab[2] + 0
      for (x = cur; x < a; x++) print x
      cur = b + 1
    }
    for (x = cur; x <= last; x++) print x
  }' | sed "s/.*/sif <&> ctime @$EPOCH\nsif <&> atime @$EPOCH/" |
    E2FSPROGS_FAKE_TIME=$EPOCH debugfs -w -f - "$part" >/dev/null 2>/tmp/debugfs.log ||
    { cat /tmp/debugfs.log; exit 1; }
e2fsck -fn "$part" >/tmp/e2fsck.log 2>&1 || { cat /tmp/e2fsck.log; exit 1; }

phase bootloader
# le64 N: N as 8 little-endian bytes, for the sector numbers grub-install would patch in.
le64() { local i; for i in 0 1 2 3 4 5 6 7; do printf "\\$(printf %03o $(( ($1 >> (8 * i)) & 255 )))"; done; }
modules="$GRUB_PART ext2 normal linux configfile search search_fs_uuid echo test serial terminal"
# shellcheck disable=SC2086 # modules is a list of arguments
grub-mkimage -O i386-pc -o /tmp/core.img -p "$GRUB_ROOT/boot/grub" biosdisk $modules
core_sectors=$(( ($(stat -c %s /tmp/core.img) + 511) / 512 ))
if [ "$core_sectors" -gt "$CORE_ROOM" ]; then
    echo "GRUB's core.img ($core_sectors sectors) does not fit in the $CORE_ROOM sectors from sector $CORE_SECTOR" >&2
    exit 1
fi
# boot.img loads core.img's first sector from the LBA at byte 0x5c; that sector (diskboot.img)
# loads the rest from the LBA in its block list at byte 500. Their defaults are 1 and 2 (the MBR
# layout); on a GPT disk both point into the BIOS boot partition.
cp /usr/lib/grub/i386-pc/boot.img /tmp/boot.img
le64 "$CORE_SECTOR" | dd of=/tmp/boot.img bs=1 seek=$((0x5c)) conv=notrunc status=none
le64 $((CORE_SECTOR + 1)) | dd of=/tmp/core.img bs=1 seek=500 conv=notrunc status=none
dd if=/tmp/boot.img of="$disk" bs=440 count=1 conv=notrunc status=none
dd if=/tmp/core.img of="$disk" bs=512 seek="$CORE_SECTOR" conv=notrunc status=none

if [ "$uefi" = 1 ]; then
    # Under BIOS the disk booted is hd0; under UEFI GRUB numbers disks in the firmware's order, so
    # a VM whose other disk (Azure's resource disk) comes first would look for /boot/grub on it.
    # The EFI image finds its root by the file system's UUID first; the prefix is the fallback.
    printf 'search --no-floppy --fs-uuid --set=root %s\nset prefix=($root)/boot/grub\n' "$FS_UUID" >/tmp/early.cfg
    # shellcheck disable=SC2086 # modules is a list of arguments
    grub-mkimage -O x86_64-efi -c /tmp/early.cfg -o /tmp/BOOTX64.EFI -p "$GRUB_ROOT/boot/grub" fat efi_gop $modules
    touch -d "@$EPOCH" /tmp/BOOTX64.EFI
    rm -f /tmp/esp.img
    mkfs.vfat --invariant -i "$ESP_ID" -n ESP -C /tmp/esp.img $((ESP_SIZE / 1024)) >/dev/null
    export SOURCE_DATE_EPOCH=$EPOCH
    mmd -i /tmp/esp.img ::/EFI ::/EFI/BOOT
    mcopy -m -i /tmp/esp.img /tmp/BOOTX64.EFI ::/EFI/BOOT/BOOTX64.EFI
    dd if=/tmp/esp.img of="$disk" bs=1M seek=$((ESP_OFFSET / 1048576)) conv=notrunc,sparse status=none
fi
chown "$OWNER" "$disk"
phase done
