#!/usr/bin/env bash
# The template of the deploy test's target machines (systemd-nspawn -b): a Debian bookworm with systemd, sshd,
# python3 (Ansible), nftables and redis-server preinstalled (the machines reach no mirror), and this machine's
# Node laid out as the official tarball installs it under /usr/local (bin/node, lib/node_modules/npm with its
# node-gyp, include/node: the headers node-gyp builds against), as an operator who sets
# ztroot_nodejs_install: none has it (Debian's nodejs is 18).
#
# The compiler the root role installs to build the native addons (PACKAGES: its ztroot_native_build_packages) is
# not installed, but its .debs wait in apt's cache, fetched with the lists they match: the role's apt task then
# installs them as from a mirror (apt takes a package already in its cache), and its purge really removes them.
#
# Usage: machine-image.sh AUTHORIZED_KEY_FILE [PACKAGE...]  → prints the template's path.
# Cached in $ZTROOT_MACHINE_CACHE: rootfs/ (debootstrapped once; left as it is) and its copy template/ (this
# script's additions, with apt's lists updated once; delete template.ready to remake it).
set -euo pipefail
KEY=${1:?usage: machine-image.sh AUTHORIZED_KEY_FILE [PACKAGE...]}
shift
PACKAGES=("$@")
CACHE=${ZTROOT_MACHINE_CACHE:-/var/tmp/ztroot-machine}
MIRROR=${ZTROOT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOTFS=$CACHE/rootfs
TEMPLATE=$CACHE/template
if [[ ! -x $ROOTFS/usr/sbin/sshd ]]; then
  rm -rf "$ROOTFS"
  mkdir -p "$CACHE"
  debootstrap --variant=minbase \
    --include=systemd,systemd-sysv,dbus,python3,python3-apt,openssh-server,nftables,redis-server,iproute2,libstdc++6,ca-certificates,sudo,procps \
    bookworm "$ROOTFS" "$MIRROR" >&2
fi
if [[ ! -f $CACHE/template.ready ]]; then
  rm -rf "$TEMPLATE" "$TEMPLATE.tmp"
  cp -a --reflink=auto "$ROOTFS" "$TEMPLATE.tmp"
  cp /etc/resolv.conf "$TEMPLATE.tmp/etc/resolv.conf"
  chroot "$TEMPLATE.tmp" apt-get -q update >&2
  mv "$TEMPLATE.tmp" "$TEMPLATE"
  touch "$CACHE/template.ready"
fi
if ((${#PACKAGES[@]})); then
  # A no-op once the .debs are there.
  cp /etc/resolv.conf "$TEMPLATE/etc/resolv.conf"
  chroot "$TEMPLATE" env DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends --download-only install "${PACKAGES[@]}" >&2
fi

NODE=$(readlink -f "$(command -v node)")
NODE_PREFIX=$(dirname "$(dirname "$NODE")")
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
install -m 0755 "$NODE" "$TEMPLATE/usr/local/bin/node"
mkdir -p "$TEMPLATE/usr/local/lib/node_modules" "$TEMPLATE/usr/local/include"
rm -rf "$TEMPLATE/usr/local/lib/node_modules/npm" "$TEMPLATE/usr/local/include/node"
cp -a "$NPM_DIR" "$TEMPLATE/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$TEMPLATE/usr/local/bin/npm"
cp -a "$NODE_PREFIX/include/node" "$TEMPLATE/usr/local/include/node"
install -d -m 0700 "$TEMPLATE/root/.ssh"
install -m 0600 "$KEY" "$TEMPLATE/root/.ssh/authorized_keys"
# Quiet, quick boots: nothing that waits for a network the namespace already has, no getty on a console.
for unit in systemd-networkd-wait-online.service console-getty.service getty@tty1.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service; do
  ln -sf /dev/null "$TEMPLATE/etc/systemd/system/$unit"
done
echo "PermitRootLogin prohibit-password" > "$TEMPLATE/etc/ssh/sshd_config.d/ztroot-test.conf"
echo "UseDNS no" >> "$TEMPLATE/etc/ssh/sshd_config.d/ztroot-test.conf"
echo "$TEMPLATE"
