#!/usr/bin/env bash
# Makes a local stand-in for the official Node image (node:20-bookworm-slim) where no container registry is
# reachable: debootstrap a minimal Debian bookworm, add this machine's own Node (Debian's nodejs is 18, older
# than package.json's engines), npm and Node's headers at the official image's paths (/usr/local/bin/node,
# /usr/local/lib/node_modules/npm, /usr/local/include/node: what node-gyp builds the native addons against), and
# import it into podman as $ZTROOT_BASE_IMAGE (default localhost/ztroot-node-base:20-bookworm-slim; the earlier
# localhost/ztroot-node-base:20 had no headers). Then:
#   podman build --build-arg NODE_IMAGE=localhost/ztroot-node-base:20-bookworm-slim .
#
# The rootfs is cached in $ZTROOT_BASE_CACHE (default /var/tmp/ztroot-base); an existing image is kept unless
# --force. Needs root, debootstrap, podman and Debian's apt mirror.
set -euo pipefail
IMAGE=${ZTROOT_BASE_IMAGE:-localhost/ztroot-node-base:20-bookworm-slim}
CACHE=${ZTROOT_BASE_CACHE:-/var/tmp/ztroot-base}
MIRROR=${ZTROOT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
FORCE=0
[[ ${1:-} == --force ]] && FORCE=1

if [[ $FORCE == 0 ]] && podman image exists "$IMAGE"; then
  echo "base image $IMAGE exists (--force to rebuild)"
  exit 0
fi
for tool in debootstrap podman node npm; do
  command -v "$tool" >/dev/null || { echo "base-image.sh: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
NODE=$(readlink -f "$(command -v node)")
NPM_DIR=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
HEADERS=$(dirname "$(dirname "$NODE")")/include/node
[[ -f $HEADERS/node_api.h && -f $HEADERS/common.gypi ]] || { echo "base-image.sh: this machine's Node has no headers in $HEADERS (node-gyp needs them)" >&2; exit 1; }
major=$("$NODE" -p 'process.versions.node.split(".")[0]')
[[ $major -ge 20 ]] || { echo "base-image.sh: this machine's node is $("$NODE" --version); package.json needs >= 20.19" >&2; exit 1; }

ROOTFS=$CACHE/rootfs
if [[ ! -x $ROOTFS/usr/bin/dpkg ]]; then  # delete $CACHE for a fresh debootstrap
  rm -rf "$ROOTFS"
  mkdir -p "$CACHE"
  # libstdc++6 and libgcc-s1: what this node binary links (ldd) besides libc; ca-certificates for npm over https.
  debootstrap --variant=minbase --include=libstdc++6,ca-certificates bookworm "$ROOTFS" "$MIRROR"
fi
install -m 0755 "$NODE" "$ROOTFS/usr/local/bin/node"
rm -rf "$ROOTFS/usr/local/lib/node_modules/npm"
mkdir -p "$ROOTFS/usr/local/lib/node_modules"
cp -a "$NPM_DIR" "$ROOTFS/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
rm -rf "$ROOTFS/usr/local/include/node"
mkdir -p "$ROOTFS/usr/local/include"
cp -a "$HEADERS" "$ROOTFS/usr/local/include/node"
# This machine's own CAs (an egress proxy's, say), so npm and apt inside builds trust what the host trusts. An
# official image pulled from a registry has no such thing: it is only for machines like this one.
extra_env=()
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
  chroot "$ROOTFS" update-ca-certificates >/dev/null
  extra_env=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt')
fi
# As in the official image: a `node` user (uid 1000), and no apt caches.
chroot "$ROOTFS" sh -c 'id node >/dev/null 2>&1 || { groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node; }'
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
chroot "$ROOTFS" /usr/local/bin/node --version
tar --numeric-owner --xattrs -C "$ROOTFS" -c . | podman import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' "${extra_env[@]}" - "$IMAGE"
podman image ls "$IMAGE"
