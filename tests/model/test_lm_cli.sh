#!/usr/bin/env bash
# `quarry lm forward` and `quarry lm embed` end to end on the fixture models.
set -u
q="${QUARRY_BIN:?}"
src="${QUARRY_SOURCE_DIR:?}"
M="${QUARRY_SHARED:-../shared}/fixtures/models"
[ -d "$M/llama-tiny" ] || M="$src/tests/data/fixtures/models"
fails=0
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# forward: the loss of the golden row equals transformers' (golden.json "loss" is over
# two rows; seq_logprob's per-token values are for row 0: their mean is our loss)
"$q" lm forward "$M/llama-tiny" --ids 569,802,533,574,110,767,872,386,143,784,529,975,286,986,556,207 --json --quiet \
    > "$tmp/f.json" || fail "forward --json"
python3 - "$tmp/f.json" "$M/llama-tiny/golden.json" <<'PY' || fail "forward loss differs from transformers"
import json, sys
f = json.load(open(sys.argv[1])); g = json.load(open(sys.argv[2]))
want = -sum(g["seq_logprob"]["per_token"]) / len(g["seq_logprob"]["per_token"])
assert abs(f["loss"] - want) < 1e-5, (f["loss"], want)
assert len(f["positions"]) == 1 and len(f["positions"][0]["top"]) == 5
PY
"$q" lm forward "$M/gpt2-tiny" --text "To be, or not" --all > "$tmp/f.txt" || fail "forward --text"
[ "$(grep -c '^position' "$tmp/f.txt")" -ge 3 ] || fail "forward --all prints every position"
"$q" lm forward "$M/gpt2-tiny" > /dev/null 2>&1; [ $? -eq 2 ] || fail "forward without input is a usage error"
"$q" lm forward "$M/gpt2-tiny" --ids 1,x 2> "$tmp/e.txt"; [ $? -eq 1 ] || fail "bad --ids exits 1"
grep -q -- "--ids" "$tmp/e.txt" || fail "bad --ids message names the flag"
"$q" lm forward "$M/gpt2-tiny" --ids 5000 2> "$tmp/e.txt"; [ $? -eq 1 ] || fail "out-of-vocabulary id exits 1"
grep -q "outside the vocabulary" "$tmp/e.txt" || fail "out-of-vocabulary message"
"$q" lm forward /nonexistent --ids 1 2> "$tmp/e.txt"; [ $? -eq 1 ] || fail "missing folder exits 1"

# embed: one line per text, batch-independent, normalised when asked
"$q" lm embed "$M/bert-tiny" "what is bm25" "a much longer text about ranking functions and their parameters" \
    --quiet > "$tmp/e2.txt" || fail "embed"
"$q" lm embed "$M/bert-tiny" "what is bm25" --quiet > "$tmp/e1.txt" || fail "embed one"
python3 - "$tmp/e1.txt" "$tmp/e2.txt" <<'PY' || fail "embedding depends on its batch (padding leaks)"
import json, sys
a = json.loads(open(sys.argv[1]).readline()); b = json.loads(open(sys.argv[2]).readline())
assert len(a) == 64 and max(abs(x - y) for x, y in zip(a, b)) < 1e-5
PY
printf 'first line\nsecond line\n' | "$q" lm embed "$M/bert-tiny" -f - --pooling mean --normalize --quiet > "$tmp/e3.txt" \
    || fail "embed -f -"
python3 - "$tmp/e3.txt" <<'PY' || fail "normalised mean embeddings"
import json, sys, math
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 2 and all(abs(math.sqrt(sum(x * x for x in r)) - 1) < 1e-5 for r in rows)
PY
"$q" lm embed "$M/bert-tiny" --pooling max x > /dev/null 2> "$tmp/e.txt"; [ $? -eq 1 ] || fail "bad pooling exits 1"
echo "lm cli: $fails failures"
[ $fails -eq 0 ]
