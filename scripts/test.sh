#!/usr/bin/env bash
# scripts/test.sh — the README's second command: install what is missing, build the
# optimised and the sanitizer (ASan + UBSan) builds with warnings as errors, and run
# every test in both. Ends with one line "tests: N passed, N failed, N skipped".
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh" || exit 1
jobs="$(nproc 2>/dev/null || echo 2)"
passed=0; failed=0; skipped=0; status=0
for kind in release asan; do
    echo "== build ($kind)"
    if ! "$root/scripts/build.sh" "$kind" > "$root/build-$kind.log" 2>&1; then
        tail -60 "$root/build-$kind.log"
        echo "build ($kind) failed"; status=1; failed=$((failed + 1)); continue
    fi
    grep 'quarry: \[' "$root/build-$kind.log" || true
    dir="$root/build"; [ "$kind" = asan ] && dir="$root/build-asan"
    echo "== tests ($kind)"
    out="$(cd "$dir" && ctest -j "$jobs" --output-on-failure 2>&1)"; rc=$?
    echo "$out"
    [ $rc -ne 0 ] && status=1
    line="$(echo "$out" | grep -E '[0-9]+% tests passed' | tail -1)"
    total="$(echo "$line" | sed -E 's/.*out of ([0-9]+).*/\1/')"
    nf="$(echo "$line" | sed -E 's/.* ([0-9]+) tests failed.*/\1/')"
    ns="$(echo "$out" | grep -cE '\*\*\*Skipped|Not Run' || true)"
    [ -z "$total" ] && total=0; [ -z "$nf" ] && nf=0
    passed=$((passed + total - nf - ns)); failed=$((failed + nf)); skipped=$((skipped + ns))
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
