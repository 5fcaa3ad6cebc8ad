#!/usr/bin/env bash
# CI's deploy checks, lean (the full ones are `npm run test:deploy`): ansible-lint's production profile on
# ansible/, and `podman build` of the Dockerfile, unchanged, on the local base image (test/deploy/base-image.sh;
# cached after the first run: its debootstrap takes minutes), whose root must load its native addons (batched UDP,
# native identity hash, native AES-GMAC-SIV: what the build stage compiled) and carry no compiler. Each step prints how long it took.
#
#   bash test/deploy/ci.sh prepare   npm's pretest starts this in the background: the missing tools and the base
#                                    image (network-bound minutes) are made while the tests run, not after them
#   bash test/deploy/ci.sh           npm's posttest: waits for a prepare still running (a lock), then the checks
set -euo pipefail
cd "$(dirname "$0")/../.."
LOCK=${ZTROOT_BASE_LOCK:-/var/tmp/ztroot-base.lock}
PREP_LOG=${ZTROOT_BASE_LOG:-/var/tmp/ztroot-base-prepare.log}
if [[ $(id -u) != 0 ]]; then
  echo "deploy checks: skipped (podman build and the base image need root)"
  exit 0
fi

prepare() {
  local missing=()
  for pair in ansible-lint:ansible-lint ansible-playbook:ansible podman:podman runc:runc debootstrap:debootstrap; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair##*:}")
  done
  if ((${#missing[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
  fi
  bash test/deploy/base-image.sh
}

if [[ ${1:-} == prepare ]]; then
  exec 9>"$LOCK"
  flock 9
  prepare
  exit 0
fi

t0=$SECONDS
exec 9>"$LOCK"
if ! flock -n 9; then
  echo "deploy: waiting for the base image being prepared in the background (log: $PREP_LOG)"
  flock 9
fi
if ! prepare; then
  echo "deploy: preparing the tools or the base image failed; the background attempt's log ($PREP_LOG):" >&2
  tail -20 "$PREP_LOG" >&2 || true
  exit 1
fi
echo "deploy: tools and base image ready in $((SECONDS - t0)) s (after the tests)"
t0=$SECONDS
(cd ansible && ansible-lint -p --nocolor)
echo "deploy: ansible-lint (production profile) passed in $((SECONDS - t0)) s"
runtime=()
# crun refuses cgroup v1/v2 hybrid hosts; runc does not.
if [[ -d /sys/fs/cgroup/unified && -d /sys/fs/cgroup/memory ]]; then runtime=(--runtime runc); fi
t0=$SECONDS
podman "${runtime[@]}" build --quiet --format docker --build-arg NODE_IMAGE="${ZTROOT_BASE_IMAGE:-localhost/ztroot-node-base:20-bookworm-slim}" -t localhost/ztroot:ci .
echo "deploy: podman build passed in $((SECONDS - t0)) s ($(podman image inspect --format '{{.Size}}' localhost/ztroot:ci | awk '{printf "%d MB", $1/1e6}'))"
t0=$SECONDS
# The image's own loaders decide, as the root does at start-up: any fallback is a failure, with its reason.
podman "${runtime[@]}" run --rm --network none --no-healthcheck --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --entrypoint sh localhost/ztroot:ci -c '
  tools=$(for t in cc gcc g++ c++ make; do command -v "$t"; done)
  [ -z "$tools" ] || { echo "the runtime image carries build tools: $tools" >&2; exit 1; }
  exec node --input-type=module -e "
    const { resolveUdpPath } = await import(\"/app/dist/relay/udp-socket.js\");
    const { nativeHashUnavailableReason } = await import(\"/app/dist/root/identity-validator-hash.js\");
    const { nativeAesUnavailableReason } = await import(\"/app/dist/tools/aes-engine.js\");
    const udp = resolveUdpPath(\"auto\"), hash = nativeHashUnavailableReason(), aes = nativeAesUnavailableReason();
    if (udp.path !== \"batched\" || hash !== null || aes !== null) { console.error(\"the image root falls back:\", udp.why ?? \"\", hash ?? \"\", aes ?? \"\"); process.exit(1); }"'
echo "deploy: the image loads its native addons (batched UDP, native hash, native AES) and has no compiler: $((SECONDS - t0)) s"
