#!/usr/bin/env bash
# SASRec on ml-100k, quarry vs PyTorch (bench/torch_sasrec.py), side by side:
# the split written by `quarry rec split`, RecBole's recipe and defaults, seeds
# 1 2 3 each, the same thread count, both running at the same time so that a
# loaded machine slows both alike. Prints test HR@10/NDCG@10 (history masked)
# mean ± std over the seeds, the per-epoch loss and validation curves of both, and CPU
# seconds per epoch (bench/rec_sasrec_summary.py).
#   bench/rec_sasrec_vs_torch.sh [DATA] [THREADS] [EPOCHS] [PATIENCE] [MODEL]
# Defaults: 1 thread, 300 epochs, patience 10 (RecBole's), model sasrec (or gru4rec).
# TORCH_ARGS adds options to bench/torch_sasrec.py (e.g. --trim for long accuracy
# runs; its epoch times are then not RecBole's and the speed ratio is not reported).
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
Q="${QUARRY_BIN:-$HERE/../build/quarry}"
DATA="${1:-$HERE/../../shared/data/ml-100k}"
T="${2:-1}"
E="${3:-300}"
P="${4:-10}"
M="${5:-sasrec}"
OUT=$(mktemp -d /tmp/quarry-sasrec-XXXXXX)
"$Q" rec split "$DATA" --out "$OUT/split" --quiet > /dev/null
(
  for s in 1 2 3; do
    /usr/bin/time -f "%U %S" -o "$OUT/quarry_$s.cpu" \
      "$Q" rec train "$DATA" --model "$M" --seed "$s" --threads "$T" --epochs "$E" --patience "$P" --json --quiet > "$OUT/quarry_$s.json"
  done
) &
QPID=$!
for s in 1 2 3; do
  OPENBLAS_NUM_THREADS="$T" OMP_NUM_THREADS="$T" /usr/bin/time -f "%U %S" -o "$OUT/torch_$s.cpu" /usr/bin/python3 "$HERE/torch_sasrec.py" "$OUT/split" --seeds "$s" --model "$M" \
    --threads "$T" --epochs "$E" --patience "$P" ${TORCH_ARGS:-} --json-out "$OUT/torch_$s.json" 2>> "$OUT/torch.log" > /dev/null
done
wait "$QPID"
/usr/bin/python3 "$HERE/rec_sasrec_summary.py" "$OUT"
echo "files in $OUT"
