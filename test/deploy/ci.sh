#!/usr/bin/env bash
# CI's deploy checks, lean (the full ones are `npm run test:deploy`): ansible-lint's production profile on
# ansible/, and `podman build` of the Dockerfile, unchanged, on the local base image (test/deploy/base-image.sh;
# cached after the first run: its debootstrap takes minutes). Each step prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $(id -u) != 0 ]]; then
  echo "deploy checks: skipped (podman build and the base image need root)"
  exit 0
fi
missing=()
for pair in ansible-lint:ansible-lint ansible-playbook:ansible podman:podman runc:runc debootstrap:debootstrap; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair##*:}")
done
if ((${#missing[@]})); then
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
fi
t0=$SECONDS
(cd ansible && ansible-lint -p --nocolor)
echo "deploy: ansible-lint (production profile) passed in $((SECONDS - t0)) s"
t0=$SECONDS
bash test/deploy/base-image.sh
echo "deploy: base image ready in $((SECONDS - t0)) s"
runtime=()
# crun refuses cgroup v1/v2 hybrid hosts; runc does not.
if [[ -d /sys/fs/cgroup/unified && -d /sys/fs/cgroup/memory ]]; then runtime=(--runtime runc); fi
t0=$SECONDS
podman "${runtime[@]}" build --quiet --format docker --build-arg NODE_IMAGE="${ZTROOT_BASE_IMAGE:-localhost/ztroot-node-base:20}" -t localhost/ztroot:ci .
echo "deploy: podman build passed in $((SECONDS - t0)) s ($(podman image inspect --format '{{.Size}}' localhost/ztroot:ci | awk '{printf "%d MB", $1/1e6}'))"
