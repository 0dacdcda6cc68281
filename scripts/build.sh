#!/usr/bin/env bash
# scripts/build.sh [release|asan] — configure and build into build/ or build-asan/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kind="${1:-release}"
jobs="$(nproc 2>/dev/null || echo 2)"
case "$kind" in
    release) dir="$root/build"; flags=(-DCMAKE_BUILD_TYPE=Release) ;;
    asan) dir="$root/build-asan"; flags=(-DQUARRY_SANITIZE=ON) ;;
    *) echo "usage: scripts/build.sh [release|asan]" >&2; exit 2 ;;
esac
cmake -S "$root" -B "$dir" -DQUARRY_WERROR=ON "${flags[@]}" > "$dir.configure.log" 2>&1 || {
    cat "$dir.configure.log"; exit 1; }
grep 'quarry: \[' "$dir.configure.log" | sed 's/^-- //' || true
cmake --build "$dir" -j "$jobs"
