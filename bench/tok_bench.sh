#!/bin/bash
# tok_bench.sh — GPT-2 encode throughput of quarry and the npm peers on the same
# text and machine, one after the other (docs/BENCHMARKS.md, "Tokenizers").
#   bash bench/tok_bench.sh [BUILD_DIR] [FILE] [REPEAT]
# Needs a Release build (cmake -S . -B build && cmake --build build) and the npm
# peers (cd bench/node && npm ci).
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
FILE=${2:-../shared/data/wikitext-2/valid.txt}
REPEAT=${3:-10}
TOK=tests/data/tokenizers/gpt2/tokenizer.json
echo "# $(date -u +%F) $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD/bench_tok" --tokenizer "$TOK" --file "$FILE" --repeat "$REPEAT" --threads 2
if command -v node > /dev/null && [ -d bench/node/node_modules/js-tiktoken ]; then
  node bench/node/bench_tok.mjs "$TOK" "$FILE" "$REPEAT"
else
  echo "npm peers missing: (cd bench/node && npm ci)"
fi
