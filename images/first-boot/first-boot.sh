#!/bin/sh
# baker first boot: what must differ between nodes made from one image is created here, on the node,
# never baked into the image: the machine id, and SSH host keys when sshd is installed. Then the
# fixed ready line goes to the console, where `baker image boot` and a cloud's serial log see it.
# Runs at every boot (from a systemd unit or an upstart job); the work is only done once.
# Until the role agent arrives (launch issue), this is the whole first-boot contract.
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
    fi
    mkdir -p /var/lib/baker
    : >"$done_file"
fi
echo "baker-ready: first boot finished" >/dev/console
