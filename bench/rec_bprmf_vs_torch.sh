#!/usr/bin/env bash
# BPR-MF on ml-100k, quarry vs PyTorch, side by side: same split (written by
# quarry), same recipe (bench/torch_bprmf.py's docstring), 3 seeds each, same
# thread count. Prints test HR@10/NDCG@10 mean ± std and the mean epoch time.
#   bench/rec_bprmf_vs_torch.sh [DATA] [THREADS] [EPOCHS] [PATIENCE]
# (defaults 2 threads, 300 epochs, patience 10: RecBole's; EPOCHS = PATIENCE = 40
# takes the best validation epoch of a fixed 40, which removes most of the
# early-stopping noise from the comparison)
set -eu
Q="${QUARRY_BIN:-$(dirname "$0")/../build/quarry}"
DATA="${1:-$(dirname "$0")/../../shared/data/ml-100k}"
T="${2:-2}"
E="${3:-300}"
P="${4:-10}"
OUT=$(mktemp -d /tmp/quarry-bprmf-XXXXXX)
"$Q" rec split "$DATA" --out "$OUT/split" --quiet > /dev/null
for s in 1 2 3; do
  "$Q" rec train "$DATA" --model bprmf --seed "$s" --threads "$T" --epochs "$E" --patience "$P" --json --quiet > "$OUT/quarry_$s.json"
done
OPENBLAS_NUM_THREADS="$T" OMP_NUM_THREADS="$T" /usr/bin/python3 "$(dirname "$0")/torch_bprmf.py" "$OUT/split" --seeds 1 2 3 --threads "$T" --epochs "$E" --patience "$P" --json-out "$OUT/torch.json" 2> "$OUT/torch.log" > /dev/null
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys, statistics as st
d = sys.argv[1]
q = [json.load(open(f"{d}/quarry_{s}.json")) for s in (1, 2, 3)]
t = json.load(open(f"{d}/torch.json"))
def ms(v): return f"{st.mean(v):.4f} ± {st.stdev(v):.4f}"
qe = [sum(e["seconds"] for e in r["epochs"]) / len(r["epochs"]) for r in q]
te = [r["epoch_seconds"] for r in t["runs"]]
print(f"{'':8s} {'HR@10':>16s} {'NDCG@10':>16s} {'epoch s':>16s} {'best epochs':>12s}")
print(f"{'quarry':8s} {ms([r['test']['hit@10'] for r in q]):>16s} {ms([r['test']['ndcg@10'] for r in q]):>16s} {ms(qe):>16s} {str([r['best_epoch'] for r in q]):>12s}")
print(f"{'pytorch':8s} {ms([r['hit@10'] for r in t['runs']]):>16s} {ms([r['ndcg@10'] for r in t['runs']]):>16s} {ms(te):>16s} {str([r['best_epoch'] for r in t['runs']]):>12s}")
print(f"epoch time ratio (pytorch / quarry): {st.mean(te) / st.mean(qe):.1f}x; torch {t['torch']}, {t['threads']} threads; files in {d}")
PY
