#!/bin/bash
# test_beam_stop_torch.sh — `quarry lm generate --num-beams N --stop STR` against an
# independent reference (beam_stop_ref.py: a PyTorch Llama from the fixture's
# safetensors and transformers' sequential beam-search rules, stop strings finishing
# a hypothesis as an EOS does). Tokens exact, scores to 1e-4, texts cut before the
# stop string. The reference first reproduces the fixture's transformers beam output
# without stop strings. One case checks that stopping inside the search picks a
# different winner than searching first and cutting afterwards.
set -u
Q="$QUARRY_BIN"
FIX="${QUARRY_SHARED:-}/fixtures/models"
[ -d "$FIX" ] || FIX="${QUARRY_SOURCE_DIR:-.}/tests/data/fixtures/models"
REF="${QUARRY_SOURCE_DIR:-.}/tests/gen/beam_stop_ref.py"
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -f "$FIX/llama-tiny/model.safetensors" ]; then
    echo "skipped: $FIX/llama-tiny not found"
    exit 77
fi
if ! /usr/bin/python3 -c "import torch, numpy" 2>/dev/null; then
    echo "skipped: /usr/bin/python3 has no torch/numpy (Debian: python3-torch)"
    exit 77
fi
M="$FIX/llama-tiny"
P=569,802,533,574,110,767 # the fixture's beam prompt
compare() { # NUM_BEAMS MAX_NEW STOP...
    local nb=$1 n=$2
    shift 2
    local flags=()
    for s in "$@"; do flags+=(--stop "$s"); done
    /usr/bin/python3 "$REF" "$M" "$P" "$nb" "$n" "$@" > ref.json || fail "reference ($*)"
    "$Q" lm generate "$M" --ids "$P" -n "$n" --no-eos --num-beams "$nb" --num-return-sequences "$nb" \
        --json --quiet "${flags[@]}" > got.json || fail "quarry lm generate ($*)"
    python3 - "$*" <<'PY' || fail "beam search with stop strings ($*) differs from the reference"
import json, sys
ref = json.load(open("ref.json"))["sequences"]
got = json.load(open("got.json"))["sequences"]
assert len(got) == len(ref), (len(got), len(ref))
for g, r in zip(got, ref):
    assert g["tokens"] == r["tokens"], (g["tokens"], r["tokens"])
    assert abs(g["score"] - r["score"]) < 1e-4, (g["score"], r["score"])
    assert g["text"] == r["text"], (g["text"], r["text"])
print("ok:", sys.argv[1], [g["text"] for g in got])
PY
}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
compare 4 12 e
# searching first and cutting at "e" afterwards picks another winner
"$Q" lm generate "$M" --ids "$P" -n 12 --no-eos --num-beams 4 --json --quiet > plain.json || fail "plain beam"
python3 - <<'PY' || fail "the stop string should change the winner"
import json
plain = json.load(open("plain.json"))["sequences"][0]["text"].split("e")[0]
inside = json.load(open("got.json"))["sequences"][0]["text"]
assert plain != inside, (plain, inside)
print("winner: cut afterwards %r, stopped inside the search %r" % (plain, inside))
PY
compare 3 10 UM
compare 5 8 a o
exit 0
