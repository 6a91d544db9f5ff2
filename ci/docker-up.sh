#!/usr/bin/env bash
# docker-up.sh — make sure a Docker engine answers `docker info`, and that debootstrap (which
# `baker base bootstrap` needs for local base images) is installed. Does nothing when both hold.
# Otherwise installs Debian's `docker.io` / `debootstrap` packages, and starts `dockerd` — through
# systemd where systemd is PID 1, else in the background with its log in
# ${TMPDIR:-/tmp}/baker-dockerd.log — then waits up to 60 s for it, printing the log's tail on failure.
# Needs root for installing and starting. Safe to run again.
#
# DOCKER_HOST (unix://…) makes the started dockerd listen there; DOCKERD_FLAGS adds flags to it
# (e.g. `--data-root DIR --exec-root DIR --pidfile FILE` for a second engine beside the system one).
set -euo pipefail

say() { echo "docker-up: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=(sudo); fi
fi
as_root() {
  if [ "$(id -u)" != 0 ] && [ ${#SUDO[@]} = 0 ]; then die "need root to run: $*"; fi
  "${SUDO[@]}" "$@"
}

updated=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "no apt-get here: install $* with this system's package manager"
  if [ "$updated" = 0 ]; then
    say "apt-get update"
    as_root apt-get update -q >/dev/null
    updated=1
  fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || apt_install debootstrap

if docker info >/dev/null 2>&1; then
  say "engine already running ($(docker info --format '{{.ServerVersion}}' 2>/dev/null || echo '?'))"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 && [ ! -x /usr/sbin/dockerd ]; then
  apt_install docker.io
elif ! command -v docker >/dev/null 2>&1; then
  apt_install docker.io
fi

LOG="${TMPDIR:-/tmp}/baker-dockerd.log"
if [ "$(cat /proc/1/comm 2>/dev/null || true)" = systemd ] && [ -z "${DOCKER_HOST:-}${DOCKERD_FLAGS:-}" ]; then
  say "starting docker through systemd"
  as_root systemctl start docker
elif [ -z "${DOCKER_HOST:-}${DOCKERD_FLAGS:-}" ] && pgrep -x dockerd >/dev/null 2>&1; then
  say "dockerd is running but not answering yet; waiting for it"
else
  args=()
  case "${DOCKER_HOST:-}" in
    "") ;;
    unix://*) args+=(-H "$DOCKER_HOST") ;;
    *) die "DOCKER_HOST=$DOCKER_HOST is not a local unix socket; start that engine where it runs" ;;
  esac
  # A pid file left by a dockerd that died keeps the next one from starting.
  if [ -z "${DOCKERD_FLAGS:-}" ] && [ -f /var/run/docker.pid ] && ! kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    say "removing the stale /var/run/docker.pid"
    as_root rm -f /var/run/docker.pid
  fi
  dockerd=$(command -v dockerd || echo /usr/sbin/dockerd)
  say "starting $dockerd ${args[*]} ${DOCKERD_FLAGS:-} in the background; log: $LOG"
  if [ "$(id -u)" != 0 ] && [ ${#SUDO[@]} = 0 ]; then die "need root to start dockerd"; fi
  # Its own session, so that it outlives this script and the terminal's Ctrl-C.
  # shellcheck disable=SC2086 # DOCKERD_FLAGS is a list of flags
  "${SUDO[@]}" setsid nohup "$dockerd" "${args[@]}" ${DOCKERD_FLAGS:-} >"$LOG" 2>&1 </dev/null &
  started=$!
fi

why="no answer from the engine after 60 s"
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    say "engine up ($(docker info --format '{{.ServerVersion}}, {{.Driver}}, cgroup v{{.CgroupVersion}}' 2>/dev/null || echo '?'))"
    exit 0
  fi
  if [ -n "${started:-}" ] && [ ! -d "/proc/$started" ]; then
    why="dockerd exited"
    break
  fi
  sleep 1
done
say "ERROR: $why"
docker info 2>&1 | tail -n 5 >&2 || true
if [ -f "$LOG" ]; then
  say "last lines of $LOG:"
  tail -n 40 "$LOG" >&2
fi
exit 1
