#!/usr/bin/env bash
# `cmake --install` puts the library, headers, binary and quarry.pc under a prefix,
# and a program built with `pkg-config --cflags --libs quarry` links and runs.
set -eu
build="${QUARRY_BUILD_DIR:?}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
pc="$(dirname "$(find "$tmp/prefix" -name quarry.pc | head -1)")"
[ -n "$pc" ] || { echo "FAIL: quarry.pc not installed"; exit 1; }
test -x "$tmp/prefix/bin/quarry"
test -f "$tmp/prefix/include/quarry/base.h"
cat > "$tmp/use.c" <<'C'
#include <quarry/base.h>
#include <stdio.h>
int main(void) {
    qy_rng r;
    qy_rng_seed(&r, 42);
    if (qy_rng_u64(&r) != 0x15780b2e0c2ec716ull) return 1;
    if (qy_error(QY_ERR_ARG, "x") != QY_ERR_ARG) return 1;
    printf("linked quarry %s\n", QY_VERSION_STRING);
    return 0;
}
C
export PKG_CONFIG_PATH="$pc"
# a sanitizer build's library needs the sanitizer runtimes in the program too
san=""
grep -q '^QUARRY_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" && san="-fsanitize=address,undefined"
# static link (the shared library needs no flags beyond --libs)
# (static archive + the private dependencies listed in quarry.pc, linked dynamically)
privs="$(pkg-config --print-requires-private quarry | awk '{print $1}' | tr '\n' ' ')"
cc $san -std=c11 "$tmp/use.c" -o "$tmp/use_static" $(pkg-config --cflags quarry) "$pc/../libquarry.a" \
    $(pkg-config --libs $privs) $(pkg-config --variable=Libs.private quarry 2>/dev/null) -lstemmer -lpthread -lm
"$tmp/use_static"
cc $san -std=c11 "$tmp/use.c" -o "$tmp/use_shared" $(pkg-config --cflags --libs quarry) -Wl,-rpath,"$pc/.."
"$tmp/use_shared"
echo "install: ok"
