#!/usr/bin/env bash
# Makes sure the system packages the tests use are present. As root it installs missing ones with
# apt-get; otherwise it names exactly what is missing and how to install it (the tests that need them
# need root too, and skip saying why).
# Each line: <command the tests run> <Debian package that provides it>.
set -euo pipefail
REQUIRED=(
  # network-namespace NAT harness (test/netns.ts): ip netns / veth / bridge, and MASQUERADE
  # (Debian 12's iptables is the nft backend, iptables-nft; it handles MASQUERADE --random-fully).
  "ip iproute2"
  "iptables iptables"
  "sysctl procps"
  # the interop test (ZT_ONE_BIN) pings across a real ZeroTier network
  "ping iputils-ping"
  # the fleet store tests (test/redis.ts) start their own redis-server processes, standalone and a 3-master
  # Cluster (redis-cli --cluster create); Debian's redis-server package depends on redis-tools (redis-cli)
  "redis-server redis-server"
  "redis-cli redis-tools"
  # dashboards/prometheus/rules.yml is checked with promtool
  "promtool prometheus"
  # the live dashboard is tested in a real headless Chromium (playwright-core drives it)
  "chromium chromium"
  # the port-mapping tests run a real NAT-PMP / UPnP IGD gateway in a NAT router namespace (test/miniupnpd.ts):
  # the iptables build of the daemon (with its /etc/miniupnpd/iptables_init.sh), and the 'miniupnpd' package
  # for the miniupnpd_functions.sh that script sources. Installed in one apt-get call, the 'miniupnpd' package's
  # "nftables | iptables" dependency is met by the iptables build; it enables and starts nothing
  # (update-rc.d defaults-disabled): the tests start the daemon themselves, inside a namespace.
  "miniupnpd miniupnpd-iptables"
  "miniupnpd miniupnpd"
  # `ztroot bench leaf` measures TCP between two leaves' TAP devices with iperf3 (the same tool as for the real
  # zerotier-one beside them); Debian's package installs a systemd unit that stays disabled
  "iperf3 iperf3"
)
missing_pkgs=()
for entry in "${REQUIRED[@]}"; do
  cmd=${entry%% *}; pkg=${entry##* }
  command -v "$cmd" >/dev/null 2>&1 || missing_pkgs+=("$pkg")
done
[ ${#missing_pkgs[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages the tests need: ${missing_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_pkgs[@]}"
else
  # The tests that need these packages skip without them, saying so (the namespace ones need root
  # anyway); the rest of the suite runs.
  echo "missing system packages for the network-namespace tests: ${missing_pkgs[*]}" >&2
  echo "  install them with: sudo apt-get install ${missing_pkgs[*]} (and run the tests as root to include those tests)" >&2
fi
