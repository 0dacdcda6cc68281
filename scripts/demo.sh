#!/usr/bin/env bash
# scripts/demo.sh — the README's first command: install what is missing, build,
# and run quarry's main job on the default that ships with the repo.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" release > "$root/build.log" 2>&1 || { tail -50 "$root/build.log"; exit 1; }
q="$root/build/quarry"
if [ -x "$root/scripts/demo-search.sh" ] && "$q" --help | grep -q '^  search'; then
    exec "$root/scripts/demo-search.sh"
fi
exec "$q" selfcheck
