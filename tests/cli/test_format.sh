#!/usr/bin/env bash
# The C sources follow .clang-format (clang-format 14, as Debian 12 ships it).
set -u
command -v clang-format >/dev/null || { echo "skip: clang-format not installed"; exit 77; }
cd "${QUARRY_SOURCE_DIR:?}"
files=$(git ls-files 'src/*.c' 'src/*.h' 'include/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c' 2>/dev/null)
[ -n "$files" ] || files=$(find src include tests bench -name '*.[ch]' 2>/dev/null)
bad=0
for f in $files; do
    if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "not formatted: $f (run: clang-format -i $f)"; bad=$((bad + 1))
    fi
done
echo "format: $bad files differ from .clang-format"
[ $bad -eq 0 ]
