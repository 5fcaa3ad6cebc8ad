#!/usr/bin/env bash
# The template of the deploy test's target machines (systemd-nspawn -b): a Debian bookworm with systemd, sshd,
# python3 (Ansible), nftables and redis-server preinstalled (the machines reach no mirror), and this machine's
# Node at /usr/local/bin/node (Debian's nodejs is 18; the inventory says ztroot_nodejs_install: none).
# Usage: machine-image.sh AUTHORIZED_KEY_FILE  → prints the template's path. Cached in $ZTROOT_MACHINE_CACHE.
set -euo pipefail
KEY=${1:?usage: machine-image.sh AUTHORIZED_KEY_FILE}
CACHE=${ZTROOT_MACHINE_CACHE:-/var/tmp/ztroot-machine}
MIRROR=${ZTROOT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOTFS=$CACHE/rootfs
if [[ ! -x $ROOTFS/usr/sbin/sshd ]]; then
  rm -rf "$ROOTFS"
  mkdir -p "$CACHE"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,python3,python3-apt,openssh-server,nftables,redis-server,iproute2,libstdc++6,ca-certificates,sudo,procps \
    bookworm "$ROOTFS" "$MIRROR" >&2
fi
install -m 0755 "$(readlink -f "$(command -v node)")" "$ROOTFS/usr/local/bin/node"
install -d -m 0700 "$ROOTFS/root/.ssh"
install -m 0600 "$KEY" "$ROOTFS/root/.ssh/authorized_keys"
# Quiet, quick boots: nothing that waits for a network the namespace already has, no getty on a console.
for unit in systemd-networkd-wait-online.service console-getty.service getty@tty1.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service; do
  ln -sf /dev/null "$ROOTFS/etc/systemd/system/$unit"
done
echo "PermitRootLogin prohibit-password" > "$ROOTFS/etc/ssh/sshd_config.d/ztroot-test.conf"
echo "UseDNS no" >> "$ROOTFS/etc/ssh/sshd_config.d/ztroot-test.conf"
echo "$ROOTFS"
