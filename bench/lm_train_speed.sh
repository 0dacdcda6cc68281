#!/bin/sh
# Training speed of `quarry lm train` against PyTorch 1.13 (bench/torch_lm_train.py)
# on the demo model (docs/training.md), at 1 and 2 threads: same model, same init,
# same samples, same step (forward, backward, clip, AdamW). Reports the median
# step's tokens/s and tokens per CPU-second (process CPU time, all threads), which
# a shared machine's scheduling distorts less than wall time.
# PyTorch's OpenBLAS is pinned to the same thread count (torch.set_num_threads alone
# leaves it on every core).
#
# usage: bench/lm_train_speed.sh QUARRY_BIN OUT_DIR [STEPS]   (OUT_DIR/config.json from lm_train_demo.sh)
set -eu
Q=${1:?quarry binary}; OUT=${2:?output folder}; STEPS=${3:-40}
SRC=${QUARRY_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
DATA=${QUARRY_SHARED:-$SRC/../shared}/data/tinyshakespeare/input_train.txt
FLAGS="--steps $STEPS --batch 16 --seq-len 128 --lr 1.5e-3 --warmup 40 --eval-batches 1"
for th in 1 2; do
    rm -rf "$OUT/speed_q$th"
    "$Q" lm train --config "$OUT/config.json" --out "$OUT/speed_q$th" $FLAGS --log-samples --threads $th --seed 1 \
        --no-plot --quiet "$DATA"
    OPENBLAS_NUM_THREADS=$th OMP_NUM_THREADS=$th /usr/bin/python3 "$SRC/bench/torch_lm_train.py" "$OUT/speed_q$th" $FLAGS --threads $th \
        --out "$OUT/speed_t$th.jsonl" > "$OUT/speed_t$th.log" 2>&1
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, statistics, sys
out = sys.argv[1]
def stats(path):
    r = [json.loads(l) for l in open(path) if '"loss"' in l]
    steady = r[5:] if len(r) > 10 else r
    tps = statistics.median(x["tokens_per_s"] for x in steady)
    tokens = sum(x["tokens_per_s"] * x["step_s"] for x in r)
    return tps, tokens / r[-1]["cpu_s"]
print("| threads | engine | tokens/s (median step) | tokens per CPU-second |")
print("|---|---|---:|---:|")
for th in (1, 2):
    q = stats(f"{out}/speed_q{th}/metrics.jsonl")
    t = stats(f"{out}/speed_t{th}.jsonl")
    print(f"| {th} | quarry | {q[0]:.0f} | {q[1]:.0f} |")
    print(f"| {th} | PyTorch 1.13 | {t[0]:.0f} | {t[1]:.0f} |")
    print(f"| {th} | **ratio** | **{q[0] / t[0]:.2f}x** | **{q[1] / t[1]:.2f}x** |")
PY
