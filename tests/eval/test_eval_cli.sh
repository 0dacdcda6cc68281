#!/usr/bin/env bash
# `quarry eval` as a command: trec_eval-style options (-m repeated and attached,
# -l2, -M10), --json, usage errors (exit 2) and input errors (exit 1, file:line).
set -u
: "${QUARRY_BIN:?}"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
printf '1 0 a 2\n1 0 b 0\n1 0 c 1\n2 0 x 1\n' >"$t/q"
printf '1 Q0 a 1 2.0 t\n1 Q0 b 2 1.5 t\n1 Q0 c 3 1.0 t\n2 Q0 y 1 1 t\n' >"$t/r"

out=$("$QUARRY_BIN" eval -mmap -m P.1,2 -l2 -M10 "$t/q" "$t/r") || fail "eval exit $?"
want=$(printf 'map                   \tall\t0.5000\nP_1                   \tall\t0.5000\nP_2                   \tall\t0.2500\n')
[ "$out" = "$want" ] || fail "unexpected output: $out"

"$QUARRY_BIN" eval --json -q -m ndcg "$t/q" "$t/r" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["runid"] == "t" and d["num_q"] == 2, d
assert set(d["queries"]) == {"1", "2"}, d
assert abs(d["queries"]["1"]["ndcg"] - (2 + 1 / 2) / (2 + 1 / 1.5849625007211562)) < 1e-12, d
assert d["queries"]["2"]["ndcg"] == 0, d
' || fail "json output"

"$QUARRY_BIN" eval --help | grep -q "ndcg_cut" || fail "--help does not list the measures"
"$QUARRY_BIN" eval "$t/q" >/dev/null 2>&1; [ $? = 2 ] || fail "missing RUN must be a usage error (2)"
"$QUARRY_BIN" eval -m nosuch "$t/q" "$t/r" >/dev/null 2>"$t/err"; [ $? = 2 ] || fail "unknown measure must exit 2"
grep -q "unknown measure 'nosuch'" "$t/err" || fail "message for an unknown measure"
"$QUARRY_BIN" eval -M 0 "$t/q" "$t/r" >/dev/null 2>&1; [ $? = 2 ] || fail "-M 0 must be a usage error"
"$QUARRY_BIN" eval -l -1 "$t/q" "$t/r" >/dev/null 2>&1; [ $? = 2 ] || fail "-l -1 must be a usage error"
printf '1 Q0 a 1 2.0\n' >"$t/bad"
"$QUARRY_BIN" eval "$t/q" "$t/bad" >/dev/null 2>"$t/err"; [ $? = 1 ] || fail "malformed run must exit 1"
grep -q "bad: line 1: expected 6 columns (qid iter docno rank score tag), got 5" "$t/err" || fail "run error: $(cat "$t/err")"
"$QUARRY_BIN" eval "$t/q" "$t/nonexistent" >/dev/null 2>"$t/err"; [ $? = 1 ] || fail "missing file must exit 1"
echo "quarry eval CLI: ok"
