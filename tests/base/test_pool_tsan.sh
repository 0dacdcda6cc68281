#!/bin/bash
# test_pool_tsan.sh — the thread pool's lock-free hand-off (src/base/pool.c) under
# ThreadSanitizer: tests/base/test_pool_rng.c compiled with -fsanitize=thread
# (20,000 small jobs with workers spinning, sleeping and waking, nested jobs) must
# pass with no report. Skipped where the compiler has no TSan runtime.
set -u
SRC="${QUARRY_SOURCE_DIR:?}"
BUILD="${QUARRY_BUILD_DIR:?}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
CC="${CC:-cc}"
if ! echo 'int main(void){return 0;}' | "$CC" -x c -fsanitize=thread - -o "$T/probe" 2> /dev/null; then
    echo "skipped: $CC cannot build with -fsanitize=thread"
    exit 77
fi
"$CC" -std=c11 -D_GNU_SOURCE -fsanitize=thread -g -O1 -I"$SRC/include" -I"$SRC/src" -I"$SRC/tests" \
    -I"$BUILD/gen" "$SRC/tests/base/test_pool_rng.c" "$SRC"/src/base/*.c -o "$T/pool_tsan" \
    -lcmocka -lcjson -lpthread -lm || { echo "FAIL: cannot compile the TSan pool test"; exit 1; }
TSAN_OPTIONS="halt_on_error=1 exitcode=66" "$T/pool_tsan" > "$T/out" 2>&1
rc=$?
if [ $rc -ne 0 ] || grep -q "ThreadSanitizer" "$T/out"; then
    cat "$T/out"
    echo "FAIL: pool test under TSan (exit $rc)"
    exit 1
fi
echo "ok: pool test clean under ThreadSanitizer"
