#!/bin/bash
# test_lm_generate_golden.sh — `quarry lm generate --ids` and `quarry lm score --ids`
# against transformers' outputs stored in the fixtures (golden.json / decode.json of
# gpt2/llama/qwen2/qwen3-tiny): greedy and repetition-penalty sequences exactly, beam
# sequences exactly and sequences_scores to 1e-4, per-token log-probs to 1e-4.
set -u
Q="$QUARRY_BIN"
FIX="${QUARRY_SHARED:-}/fixtures/models"
# fall back to the fixture models vendored for fresh clones
[ -d "$FIX" ] || FIX="${QUARRY_SOURCE_DIR:-.}/tests/data/fixtures/models"
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -d "$FIX" ]; then
    echo "skipped: $FIX not found (../shared is absent)"
    exit 77
fi
for m in gpt2-tiny llama-tiny qwen2-tiny qwen3-tiny; do
    D="$FIX/$m"
    python3 - "$Q" "$D" <<'PY' || fail "$m"
import json, subprocess, sys
q, d = sys.argv[1], sys.argv[2]
g = json.load(open(d + "/golden.json"))
dec = json.load(open(d + "/decode.json"))
ids = lambda xs: ",".join(map(str, xs))
def gen(prompt, *flags):
    out = subprocess.check_output([q, "lm", "generate", d, "--ids", ids(prompt), "--json", "--quiet", *flags])
    return json.loads(out)["sequences"]
# greedy, 20 new tokens, no EOS
p = g["greedy"]["prompt"][0]
want = g["greedy"]["output"][0][len(p):]
got = gen(p, "-n", str(len(want)), "--no-eos")[0]["tokens"]
assert got == want, ("greedy", got, want)
# repetition penalty 1.3, 24 new tokens
p = dec["prompt"][0]
want = dec["greedy_repetition_penalty_1.3"]
got = gen(p, "-n", str(len(want)), "--no-eos", "--repetition-penalty", "1.3")[0]["tokens"]
assert got == want, ("repetition penalty", got, want)
# beam search: 4 beams, 4 returned, 12 new tokens
b = g["beam"]
p = b["prompt"][0]
n = len(b["sequences"][0]) - len(p)
seqs = gen(p, "-n", str(n), "--no-eos", "--num-beams", "4", "--num-return-sequences", "4", "--length-penalty", "1.0")
for s, w, sc in zip(seqs, b["sequences"], b["sequences_scores"]):
    assert s["tokens"] == w[len(p):], ("beam", s["tokens"], w[len(p):])
    assert abs(s["score"] - sc) < 1e-4, ("beam score", s["score"], sc)
assert len(seqs) == 4
# per-token log-probs of ids[1:] given the prefix
s = g["seq_logprob"]
x = s["ids"][0]
out = json.loads(subprocess.check_output([q, "lm", "score", d, "--ids", ids(x[:1]), ids(x[1:]), "--quiet"]))
lp = out["results"][0]["logprobs"]
assert len(lp) == len(s["per_token"])
assert max(abs(a - b) for a, b in zip(lp, s["per_token"])) < 1e-4, (lp, s["per_token"])
print("ok", d)
PY
done
exit 0
