#!/usr/bin/env bash
# SASRec on ml-100k, quarry vs PyTorch (bench/torch_sasrec.py), side by side:
# the split written by `quarry rec split`, RecBole's recipe and defaults, seeds
# 1 2 3 each, the same thread count, both running at the same time so that a
# loaded machine slows both alike. Prints test HR@10/NDCG@10 (history masked)
# mean ± std, mean epoch wall time, and each run's process CPU seconds.
#   bench/rec_sasrec_vs_torch.sh [DATA] [THREADS] [EPOCHS] [PATIENCE] [MODEL]
# Defaults: 1 thread, 300 epochs, patience 10 (RecBole's), model sasrec.
# TORCH_ARGS adds options to bench/torch_sasrec.py (e.g. --trim for long accuracy
# runs; its epoch times are then not RecBole's and the speed ratio is not reported).
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
Q="${QUARRY_BIN:-$HERE/../build/quarry}"
DATA="${1:-$HERE/../../shared/data/ml-100k}"
T="${2:-1}"
E="${3:-300}"
P="${4:-10}"
OUT=$(mktemp -d /tmp/quarry-sasrec-XXXXXX)
"$Q" rec split "$DATA" --out "$OUT/split" --quiet > /dev/null
(
  for s in 1 2 3; do
    /usr/bin/time -f "%U %S" -o "$OUT/quarry_$s.cpu" \
      "$Q" rec train "$DATA" --model sasrec --seed "$s" --threads "$T" --epochs "$E" --patience "$P" --json --quiet > "$OUT/quarry_$s.json"
  done
) &
QPID=$!
for s in 1 2 3; do
  OPENBLAS_NUM_THREADS="$T" OMP_NUM_THREADS="$T" /usr/bin/time -f "%U %S" -o "$OUT/torch_$s.cpu" /usr/bin/python3 "$HERE/torch_sasrec.py" "$OUT/split" --seeds "$s" \
    --threads "$T" --epochs "$E" --patience "$P" ${TORCH_ARGS:-} --json-out "$OUT/torch_$s.json" 2>> "$OUT/torch.log" > /dev/null
done
wait "$QPID"
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys, statistics as st
d = sys.argv[1]
def cpu(f): return sum(float(x) for x in open(f).read().split()[-2:])
def ms(v): return f"{st.mean(v):.4f} ± {st.stdev(v):.4f}"
q = [json.load(open(f"{d}/quarry_{s}.json")) for s in (1, 2, 3)]
t = [json.load(open(f"{d}/torch_{s}.json"))["runs"][0] for s in (1, 2, 3)]
qe = [st.mean(e["seconds"] for e in r["epochs"]) for r in q]
te = [r["epoch_seconds"] for r in t]
qc = [cpu(f"{d}/quarry_{s}.cpu") / len(r["epochs"]) for s, r in zip((1, 2, 3), q)]
tc = [cpu(f"{d}/torch_{s}.cpu") / r["epochs_run"] for s, r in zip((1, 2, 3), t)]
print(f"{'':8s} {'HR@10':>16s} {'NDCG@10':>16s} {'epoch wall s':>18s} {'CPU s/epoch*':>14s} best epochs")
print(f"{'quarry':8s} {ms([r['test']['hit@10'] for r in q]):>16s} {ms([r['test']['ndcg@10'] for r in q]):>16s} {ms(qe):>18s} {st.mean(qc):14.1f} {[r['best_epoch'] for r in q]}")
print(f"{'pytorch':8s} {ms([r['masked_hit@10'] for r in t]):>16s} {ms([r['masked_ndcg@10'] for r in t]):>16s} {ms(te):>18s} {st.mean(tc):14.1f} {[r['best_epoch'] for r in t]}")
print(f"epoch wall ratio (pytorch / quarry) {st.mean(te) / st.mean(qe):.2f}x, CPU ratio {st.mean(tc) / st.mean(qc):.2f}x")
print(f"* process CPU (user + sys, evaluation and loading included) / epochs run; files in {d}")
PY
