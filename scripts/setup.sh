#!/bin/sh
# Installs everything usmp-edge needs, then builds it. Safe to run again: it only does what
# is missing. Called by `npm run demo` and `npm test`, so a fresh clone needs nothing else.
#   sh scripts/setup.sh              what the demo and the appliance need (iperf3, iproute2, nftables, ethtool)
#   sh scripts/setup.sh --for-tests  plus the test lab and reference tools
set -eu
cd "$(dirname "$0")/.."

runtime_packages="iperf3 iproute2 nftables iputils-ping ethtool libpcap-dev g++ make python3"
test_packages="mosquitto irtt tcpdump tshark gcc libc6-dev make g++ python3 openssl chromium mmdebstrap systemd-container openssh-client postgresql prometheus"
packages=$runtime_packages
[ "${1:-}" = "--for-tests" ] && packages="$runtime_packages $test_packages"

say() { printf 'setup: %s\n' "$*" >&2; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none)); on Debian 12: apt-get install nodejs (from NodeSource 20.x)"
  exit 2
fi

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
      apt-get update -qq >/dev/null
      apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
  else
    say "missing Debian packages:$missing"
    say "  install them as root: apt-get install$missing"
    say "  (continuing: what needs them will say so and stop, or skip with this reason)"
  fi
fi

# npm dependencies: install when absent or when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# Build when dist is missing or any source is newer than it.
if [ ! -f dist/cli.js ] || [ -n "$(find src package.json tsconfig.json tsconfig.build.json -newer dist/cli.js -print -quit)" ]; then
  say "building (tsc)"
  rm -rf dist
  npx tsc -p tsconfig.build.json >&2
  chmod +x dist/cli.js
fi
