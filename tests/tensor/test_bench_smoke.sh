#!/usr/bin/env bash
# The tensor benchmarks still build and run: one tiny training step of the Llama
# benchmark (no PyTorch) and its option checking. Timing is not tested here.
set -u
b="${QUARRY_BUILD_DIR:?}/bench_tensor_llama"
[ -x "$b" ] || { echo "skip: $b not built"; exit 77; }
out=$("$b" --threads 2 --steps 1 --warmup 0 --batch 1 --seq 16 --no-torch 2>&1) || { echo "$out"; exit 1; }
echo "$out" | grep -q "tokens per CPU-second" || { echo "no throughput line in: $out"; exit 1; }
echo "$out" | grep -q "allocator peak" || { echo "no memory line in: $out"; exit 1; }
"$b" --steps 0 >/dev/null 2>&1 && { echo "--steps 0 was accepted"; exit 1; }
"$b" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || { echo "unknown option should exit 2"; exit 1; }
echo "ok"
