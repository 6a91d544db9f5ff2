#!/bin/sh
# baker first boot: what must differ between nodes made from one image is created here, on the node,
# never baked into the image: the machine id, and SSH host keys when sshd is installed. Then the
# fixed ready line goes to the console, where `baker image boot` and a cloud's serial log see it,
# once the role agent is known to run here.
# Runs at every boot (from a systemd unit or an upstart job); the work is only done once.
# The role agent starts after this job (its own unit or job) and runs the node's role, if it has one.
set -u

done_file=/var/lib/baker/first-boot-done
if [ ! -e "$done_file" ]; then
    if [ ! -s /etc/machine-id ] || [ "$(cat /etc/machine-id)" = uninitialized ]; then
        # systemd has already made a transient id at boot; commit it. Elsewhere, make one.
        if command -v systemd-machine-id-setup >/dev/null 2>&1; then
            systemd-machine-id-setup --commit >/dev/null 2>&1 || systemd-machine-id-setup >/dev/null 2>&1
        fi
        if [ ! -s /etc/machine-id ]; then
            tr -d '-' </proc/sys/kernel/random/uuid >/etc/machine-id
        fi
    fi
    if [ -d /var/lib/dbus ] && [ ! -e /var/lib/dbus/machine-id ]; then
        ln -s /etc/machine-id /var/lib/dbus/machine-id
    fi
    if [ -x /usr/sbin/sshd ] && command -v ssh-keygen >/dev/null 2>&1; then
        # OpenSSH before 6.0 (CentOS 6 has 5.3) has no -A: make its two host keys one by one.
        if ! ssh-keygen -A >/dev/null 2>&1; then
            for type in rsa dsa; do
                key=/etc/ssh/ssh_host_${type}_key
                [ -e "$key" ] || ssh-keygen -q -t "$type" -N '' -f "$key"
            done
        fi
        # Upstart (Ubuntu 14.04) starts ssh with runlevel 2, before this job: without host keys
        # sshd exited and upstart stopped respawning it. It has keys now.
        if [ -f /etc/init/ssh.conf ] && command -v initctl >/dev/null 2>&1; then
            initctl start ssh >/dev/null 2>&1 || true
        fi
    fi
    mkdir -p /var/lib/baker
    : >"$done_file"
fi
# The ready line also says that the role agent can run here: it is in place, and this image's own
# bash parses it (bash 4.1 on CentOS 6). Otherwise the console says why and there is no ready line.
agent=/usr/lib/baker/baker-agent
if [ ! -x "$agent" ]; then
    echo "baker-first-boot: the role agent cannot run: $agent is missing" >/dev/console
    exit 1
fi
if ! bash -n "$agent" 2>/dev/console; then
    echo "baker-first-boot: the role agent cannot run: this image's bash does not parse $agent" >/dev/console
    exit 1
fi
echo "baker-ready: first boot finished" >/dev/console
