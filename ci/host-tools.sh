#!/usr/bin/env bash
# host-tools.sh — installs, from the distro's packages, the host-side tools the test suite needs
# when they are missing: qemu-img (the unit tests of the disk formats read baker's qcow2 and VHD
# with it, and so does ci/e2e-image.sh), sfdisk and debugfs (e2e-image reads the partition table and
# the root file system with them), GNU time (peak memory in the benchmarks), the OpenSSH client
# (the qemu and ssh launch providers), Python 3 (the scripts' JSON checks). Does nothing when all are
# there. Needs root (or sudo) only when it installs. Safe to run again.
set -euo pipefail

say() { echo "host-tools: $*" >&2; }

SUDO=()
[ "$(id -u)" = 0 ] || ! command -v sudo >/dev/null 2>&1 || SUDO=(sudo)

missing=()
want() { # want COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ] || missing+=("$2")
}
want qemu-img qemu-utils
want sfdisk fdisk
want debugfs e2fsprogs
want /usr/bin/time time
want ssh openssh-client
want ssh-keygen openssh-client
want python3 python3
[ ${#missing[@]} = 0 ] && exit 0

command -v apt-get >/dev/null 2>&1 || {
  say "ERROR: no apt-get here: install ${missing[*]} with this system's package manager"
  exit 1
}
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
say "installing ${packages[*]}"
"${SUDO[@]}" apt-get update -q >/dev/null
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >/dev/null
