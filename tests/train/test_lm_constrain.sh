#!/bin/bash
# test_lm_constrain.sh — `quarry lm generate --constrain FILE`: prefix-trie
# constrained beam search. With more beams than allowed outputs every output comes
# back, each one of FILE's lines followed by EOS, ranked by HF's beam score, and
# each score equals the mean log-probability that `quarry lm score` (a full,
# uncached forward pass) gives the same tokens, to 1e-4. Bad files: exit 1, named.
set -u
Q="$QUARRY_BIN"
M="${QUARRY_SOURCE_DIR:-.}/tests/data/fixtures/models/llama-tiny"
fail() { echo "FAIL: $*"; exit 1; }
[ -d "$M" ] || { echo "skipped: $M not found"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
printf 'Paris\nParis Hilton\r\n\nLondon\nthe Moon\n' > "$T/allowed.txt"
"$Q" lm generate "$M" "The capital" --constrain "$T/allowed.txt" --num-beams 6 --num-return-sequences 4 \
    --json --quiet > "$T/out.json" || fail "generate --constrain"
PROMPT=$("$Q" tok encode "$M" "The capital" | tr ' ' ',')
python3 - "$Q" "$M" "$T/out.json" "$PROMPT" <<'PY' || fail "constrained outputs"
import json, subprocess, sys
q, m, out, prompt = sys.argv[1:5]
seqs = json.load(open(out))["sequences"]
texts = sorted(s["text"] for s in seqs)
assert texts == sorted(["Paris", "Paris Hilton", "London", "the Moon"]), texts
eos = json.load(open(m + "/config.json"))["eos_token_id"]
scores = [s["score"] for s in seqs]
assert scores == sorted(scores, reverse=True), scores
for s in seqs:
    assert s["tokens"][-1] == eos, s
    r = json.loads(subprocess.check_output([q, "lm", "score", m, "--ids", prompt, ",".join(map(str, s["tokens"])),
                                            "--quiet"]))["results"][0]
    assert abs(r["mean_logprob"] - s["score"]) < 1e-4, (s, r["mean_logprob"])
print("ok:", [(s["text"], round(s["score"], 4)) for s in seqs])
PY
# token-id entries with --ids, and a single beam
printf '46,516,278\n' > "$T/ids.txt"
"$Q" lm generate "$M" --ids "$PROMPT" --constrain "$T/ids.txt" --json --quiet > "$T/ids.json" \
    || fail "--ids --constrain"
grep -q '"tokens":	\[46, 516, 278, 2\]' "$T/ids.json" || fail "--ids entry: $(cat "$T/ids.json")"
# errors
"$Q" lm generate "$M" "x" --constrain "$T/none.txt" > /dev/null 2> "$T/err"; [ $? -eq 1 ] || fail "missing file: exit 1"
grep -q -- "--constrain: .*none.txt" "$T/err" || fail "missing file not named: $(cat "$T/err")"
printf '\n\n' > "$T/empty.txt"
"$Q" lm generate "$M" "x" --constrain "$T/empty.txt" > /dev/null 2> "$T/err"; [ $? -eq 1 ] || fail "empty file: exit 1"
grep -q "no allowed output" "$T/err" || fail "empty file message: $(cat "$T/err")"
printf '1,2\n3,x\n' > "$T/bad.txt"
"$Q" lm generate "$M" --ids 5 --constrain "$T/bad.txt" > /dev/null 2> "$T/err"; [ $? -eq 1 ] || fail "bad ids: exit 1"
grep -q "bad.txt: line 2" "$T/err" || fail "bad ids line not named: $(cat "$T/err")"
"$Q" lm generate "$M" "x" --no-eos --constrain "$T/allowed.txt" > /dev/null 2> "$T/err"; [ $? -eq 1 ] || fail "--no-eos: exit 1"
grep -q "end-of-sequence" "$T/err" || fail "--no-eos message: $(cat "$T/err")"
echo "ok: lm generate --constrain"
