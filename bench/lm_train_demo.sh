#!/bin/sh
# The training demonstration of docs/training.md: a small Llama-style byte-level
# model on Tiny Shakespeare with `quarry lm train`, then the same run in PyTorch
# (same init, same samples, same optimizer) with bench/torch_lm_train.py, then the
# two loss curves in one gnuplot figure (docs/training_loss.png).
#
# usage: bench/lm_train_demo.sh QUARRY_BIN OUT_DIR [STEPS] [THREADS] [TORCH_THREADS]
# (PyTorch 1.13's OpenMP workers spin when the 2 cores are shared, so the loss-curve
# run of PyTorch uses TORCH_THREADS=1 by default; speed at equal threads is measured
# separately by bench/lm_train_speed.sh.)
set -eu
Q=${1:?quarry binary}; OUT=${2:?output folder}; STEPS=${3:-900}; THREADS=${4:-2}; TORCH_THREADS=${5:-1}
STAGE=${STAGE:-all}   # all | torch (reuse the quarry run) | plot (reuse both runs)
SRC=${QUARRY_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
DATA=${QUARRY_SHARED:-$SRC/../shared}/data/tinyshakespeare/input_train.txt
mkdir -p "$OUT"
cat > "$OUT/config.json" <<'JSON'
{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 257, "hidden_size": 128,
 "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 352,
 "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
 "tie_word_embeddings": false, "bos_token_id": 256, "eos_token_id": 256}
JSON
FLAGS="--steps $STEPS --batch 16 --seq-len 128 --lr 1.5e-3 --warmup 40 --eval-every 50 --eval-batches 8"
if [ "$STAGE" = all ]; then
rm -rf "$OUT/quarry"
/usr/bin/time -v "$Q" lm train --config "$OUT/config.json" --out "$OUT/quarry" $FLAGS --checkpoint-every 300 \
    --log-samples --threads "$THREADS" --seed 1 --log-every 50 "$DATA" 2> "$OUT/quarry.log"
tail -5 "$OUT/quarry.log"
fi
if [ "$STAGE" != plot ]; then
/usr/bin/time -v /usr/bin/python3 "$SRC/bench/torch_lm_train.py" "$OUT/quarry" $FLAGS --threads "$TORCH_THREADS" \
    --out "$OUT/torch_metrics.jsonl" > "$OUT/torch.log" 2>&1
fi
grep RESULT "$OUT/torch.log"
/usr/bin/python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
def load(p):
    return [json.loads(l) for l in open(p)]
q, t = load(out + "/quarry/metrics.jsonl"), load(out + "/torch_metrics.jsonl")
for name, recs in (("quarry", q), ("torch", t)):
    with open(f"{out}/{name}_train.dat", "w") as f:
        for r in recs:
            if "loss" in r: f.write(f"{r['step']} {r['loss']}\n")
    with open(f"{out}/{name}_eval.dat", "w") as f:
        for r in recs:
            if "eval_loss" in r: f.write(f"{r['step']} {r['eval_loss']}\n")
qs = [r for r in q if "loss" in r]; ts = [r for r in t if "loss" in r]
qe = [r for r in q if "eval_loss" in r]; te = [r for r in t if "eval_loss" in r]
tok = lambda rs: sum(r["tokens_per_s"] * r["step_s"] for r in rs) / sum(r["step_s"] for r in rs)
print(f"quarry: {tok(qs):.0f} tokens/s over {sum(r['step_s'] for r in qs):.1f} s of steps, cpu {qs[-1]['cpu_s']:.1f} s")
print(f"torch : {tok(ts):.0f} tokens/s over {sum(r['step_s'] for r in ts):.1f} s of steps, cpu {ts[-1]['cpu_s']:.1f} s")
print("(different thread counts here; bench/lm_train_speed.sh compares equal thread counts)")
print(f"final train loss quarry {qs[-1]['loss']:.4f} torch {ts[-1]['loss']:.4f}")
print(f"held-out loss quarry {qe[-1]['eval_loss']:.4f} torch {te[-1]['eval_loss']:.4f}")
for k in (1, 10, 100, 300, 600, len(qs)):
    if k <= len(qs):
        print(f"step {k}: train loss quarry {qs[k-1]['loss']:.6f} torch {ts[k-1]['loss']:.6f}")
d = max(abs(a["loss"] - b["loss"]) for a, b in zip(qs, ts))
de = max(abs(a["eval_loss"] - b["eval_loss"]) for a, b in zip(qe, te))
print(f"max |train loss difference| {d:.2e}, max |held-out loss difference| {de:.2e}")
PY
# the figure: data and script in docs/ so it can be redrawn (cd docs && gnuplot training_loss.gp)
mkdir -p "$SRC/docs/training_loss"
for f in quarry_train quarry_eval torch_train torch_eval; do cp "$OUT/$f.dat" "$SRC/docs/training_loss/$f.dat"; done
NP=$(grep -o '[0-9]* parameters' "$OUT/quarry.log" | head -1)
cat > "$SRC/docs/training_loss.gp" <<GP
# Loss curves of docs/training.md (bench/lm_train_demo.sh writes the data); run from docs/.
set terminal pngcairo size 960,600 noenhanced
set output 'training_loss.png'
set title 'Tiny Shakespeare, byte-level Llama ($NP): quarry vs PyTorch, same init and samples'
set xlabel 'optimizer step'; set ylabel 'cross-entropy (nats/byte)'; set grid; set key top right
set yrange [1.2:5.7]
plot 'training_loss/quarry_train.dat' w l lw 1 lc rgb '#88aadd' t 'quarry train', \
     'training_loss/torch_train.dat' w l lw 1 dt 2 lc rgb '#dd9955' t 'PyTorch train', \
     'training_loss/quarry_eval.dat' w lp lw 2 pt 7 lc rgb '#1144aa' t 'quarry held-out', \
     'training_loss/torch_eval.dat' w lp lw 2 pt 6 ps 1.6 lc rgb '#cc5500' t 'PyTorch held-out'
GP
(cd "$SRC/docs" && gnuplot training_loss.gp)
echo "figure: $SRC/docs/training_loss.png"
