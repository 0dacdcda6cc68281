#!/usr/bin/env bash
# Runs every command of the trec_eval fixture set (commands.tsv) through
# `quarry eval` and compares stdout byte for byte with the real trec_eval's
# output, and the exit status (zero or not). v10.0 rows run with
# --trec-eval-version 10, v9.0.8 rows with the default (9).
# Uses ../shared/fixtures/trec_eval when present (all 184 outputs, including
# the Cranfield runs), else the vendored subset in tests/data/trec_eval.
set -u
: "${QUARRY_BIN:?QUARRY_BIN must point to the quarry binary}"
src="${QUARRY_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
fix=""
if [ -n "${QUARRY_SHARED:-}" ] && [ -f "$QUARRY_SHARED/fixtures/trec_eval/commands.tsv" ]; then
  fix="$QUARRY_SHARED/fixtures/trec_eval"
elif [ -f "$src/tests/data/trec_eval/commands.tsv" ]; then
  fix="$src/tests/data/trec_eval"
else
  echo "skip: no trec_eval fixtures (neither \$QUARRY_SHARED/fixtures/trec_eval nor tests/data/trec_eval)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# a working copy of the fixture folder with the compressed runs expanded
ln -s "$fix/qrels" "$work/qrels"
mkdir "$work/runs"
for f in "$fix"/runs/*; do
  case "$f" in
    *.zst) if command -v zstd >/dev/null; then zstd -q -d "$f" -o "$work/runs/$(basename "${f%.zst}")"; fi ;;
    *) ln -s "$f" "$work/runs/$(basename "$f")" ;;
  esac
done
cd "$work" || exit 1
pass=0 fail=0 skipped=0
# (tabs become \x1f so that the empty stderr_file field is not collapsed)
while IFS=$'\x1f' read -r outfile version status stderrfile cmd; do
  [ "$outfile" = "output_file" ] && continue
  args=${cmd#trec_eval }
  run=${args##* }
  if [ ! -f "$run" ]; then skipped=$((skipped + 1)); [ -n "${VERBOSE_SKIP:-}" ] && echo "skip $run"; continue; fi
  vflag=""
  [ "$version" = "v10.0" ] && vflag="--trec-eval-version 10"
  # shellcheck disable=SC2086
  "$QUARRY_BIN" eval $vflag $args >"$work/got.txt" 2>"$work/err.txt"
  rc=$?
  ok=1
  if ! cmp -s "$work/got.txt" "$fix/$outfile"; then ok=0; fi
  if [ "$status" = "0" ] && [ "$rc" != "0" ]; then ok=0; fi
  if [ "$status" != "0" ] && [ "$rc" = "0" ]; then ok=0; fi
  if [ $ok = 1 ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    echo "FAIL: $outfile ($version, trec_eval exit $status, quarry exit $rc): quarry eval $vflag $args"
    head -c 600 "$work/err.txt"
    diff "$fix/$outfile" "$work/got.txt" | head -10
  fi
done < <(tr '\t' '\037' <"$fix/commands.tsv")
echo "trec_eval fixtures ($fix): $pass identical, $fail different, $skipped skipped (run file absent)"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
