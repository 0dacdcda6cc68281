#!/usr/bin/env bash
# scripts/setup.sh — install the Debian 12 packages quarry needs (scripts/packages.txt).
# Idempotent: installs only what is missing; runs as root without prompts (or via sudo).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
missing=()
while read -r line; do
    pkg="${line%%#*}"; pkg="${pkg//[[:space:]]/}"
    [ -z "$pkg" ] && continue
    # Node.js from another source (e.g. NodeSource) already brings npm: do not fight it.
    if [ "$pkg" = nodejs ] && command -v node >/dev/null; then continue; fi
    if [ "$pkg" = npm ] && command -v npm >/dev/null; then continue; fi
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done < "$here/packages.txt"
if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: all ${here#$PWD/}/packages.txt packages are installed"
else
    echo "setup: installing ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    echo "setup: done"
fi
# npm peers for the tokenizer tests and benchmarks (test oracles only: a failure
# here only makes those tests skip)
node_dir="$here/../bench/node"
if command -v npm >/dev/null && [ -f "$node_dir/package-lock.json" ] && [ ! -d "$node_dir/node_modules" ]; then
    echo "setup: installing the npm tokenizer peers in bench/node"
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1) \
        || echo "setup: npm ci failed; the npm peer tests will be skipped"
fi
