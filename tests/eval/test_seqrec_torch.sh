#!/usr/bin/env bash
# quarry's SASRec and GRU4Rec against PyTorch with the same weights: train a
# small model, load its checkpoint into bench/torch_sasrec.py's SASRec (RecBole's
# definition: full layers, gather at the last position) or a PyTorch GRU4Rec
# (tests/eval/seqrec_torch_ref.py) and compare every user's top 5 items and
# scores (tolerance 1e-4 relative). Skipped without PyTorch.
set -u
[ "${QUARRY_HAVE_TORCH:-0}" = 1 ] || { echo "skip: PyTorch (python3-torch) not found"; exit 77; }
Q="${QUARRY_BIN:?}"
SRC="${QUARRY_SOURCE_DIR:?}"
T=$(mktemp -d /tmp/quarry-sasrec-torch-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
D="$T/walk"
mkdir -p "$D"
{
  printf 'user_id:token\titem_id:token\ttimestamp:float\n'
  for u in $(seq 0 39); do
    n=$((6 + u % 9))
    for j in $(seq 0 $((n - 1))); do printf 'u%d\ti%d\t%d\n' "$u" $(((u * 5 + j * (1 + u % 3)) % 25)) "$j"; done
  done
} > "$D/walk.inter"
"$Q" rec split "$D" --out "$T/split" --quiet > /dev/null || fail "split"
for M in sasrec gru4rec; do
"$Q" rec train "$D" --model "$M" --epochs 3 --patience 3 --lr 0.01 --out "$T/$M.qyrec" --quiet > /dev/null || fail "train $M"
"$Q" rec recommend "$D" --checkpoint "$T/$M.qyrec" --include-seen -k 5 --json > "$T/$M-q.json" || fail "recommend"
/usr/bin/python3 "$SRC/tests/eval/seqrec_torch_ref.py" "$T/$M.qyrec" "$T/split" 5 "$SRC/bench" > "$T/$M-t.json" || fail "torch reference"
/usr/bin/python3 - "$T/$M-q.json" "$T/$M-t.json" "$M" <<'PY' || fail "$M: quarry and PyTorch differ"
import json, sys
q = json.load(open(sys.argv[1])); t = json.load(open(sys.argv[2]))
assert len(q) == len(t) == 40, (len(q), len(t))
worst = 0.0
for a, b in zip(q, t):
    ia = [x["item"] for x in a["items"]]; ib = [x["item"] for x in b["items"]]
    sa = [x["score"] for x in a["items"]]; sb = [x["score"] for x in b["items"]]
    for x, y in zip(sa, sb):
        worst = max(worst, abs(x - y) / max(1.0, abs(y)))
    # the same items in the same order (near-ties could swap: allowed only when
    # the scores at every rank still agree within the tolerance)
    if ia != ib:
        assert all(abs(x - y) <= 1e-4 * max(1.0, abs(y)) for x, y in zip(sa, sb)), (a, b)
assert worst <= 1e-4, worst
print(f"ok: {sys.argv[3]}: 40 users, top-5 scores agree within {worst:.2e} (relative)")
PY
done
