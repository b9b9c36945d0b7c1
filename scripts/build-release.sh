#!/bin/sh
# Builds a self-contained release tree of the project: build/release/usmp-edge-VERSION/ with the
# compiled code, its production dependencies (native addons compiled for this Node ABI), the
# units, the installer and the docs. scripts/install.sh and images/build-image.sh use it.
#   sh scripts/build-release.sh [OUT_DIR]     prints the release directory on stdout
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh >&2
version=$(node -p 'require("./package.json").version')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo nogit)
out=${1:-build/release/usmp-edge-$version}
rm -rf "$out"
mkdir -p "$out/scripts" "$out/docs" "$out/config"
cp -R dist schemas systemd package.json package-lock.json README.md "$out/"
cp -R config/profiles config/default.json config/qos-policy.example.json "$out/config/"
cp docs/*.md "$out/docs/"
cp scripts/install.sh scripts/usmp-edge-wrapper.sh "$out/scripts/"
# Production dependencies only: a copy of the built node_modules, pruned (no second compile).
cp -R node_modules "$out/"
(cd "$out" && npm prune --omit=dev --no-audit --no-fund --loglevel=error >&2)
echo "$version+$commit.$(date -u +%Y%m%d%H%M%S)" > "$out/RELEASE"
echo "$out"
