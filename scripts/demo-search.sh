#!/bin/bash
# demo-search.sh — the lexical search job in one command: build a BM25 index
# over a BEIR-layout collection, search all its queries on every thread, and
# print the ranking quality (nDCG@10, MAP, R@100) with `quarry eval`.
#
#   scripts/demo-search.sh                         # data/hotpotqa-mini, shipped with quarry
#   scripts/demo-search.sh ../shared/data/cranfield
#   QUARRY_BIN=build/quarry scripts/demo-search.sh DIR [WORKDIR]
#
# DIR holds corpus.jsonl, queries.jsonl and qrels/test.tsv (or qrels.tsv).
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
DATA=${1:-$HERE/data/hotpotqa-mini}
WORK=${2:-$(mktemp -d /tmp/quarry-demo-XXXXXX)}
Q=${QUARRY_BIN:-}
if [ -z "$Q" ]; then
    if [ -x "$HERE/build/quarry" ]; then Q=$HERE/build/quarry; else Q=quarry; fi
fi
QRELS=$DATA/qrels/test.tsv
[ -f "$QRELS" ] || QRELS=$DATA/qrels.tsv
for f in "$DATA/corpus.jsonl" "$DATA/queries.jsonl" "$QRELS"; do
    [ -f "$f" ] || { echo "demo-search: $f not found (expected a BEIR-layout directory)" >&2; exit 2; }
done
mkdir -p "$WORK"
echo "== index $DATA/corpus.jsonl -> $WORK/index"
"$Q" index build -i "$WORK/index" --overwrite "$DATA/corpus.jsonl"
echo "== search $DATA/queries.jsonl (BM25 k1=0.9 b=0.4, top 1000) -> $WORK/run.txt"
"$Q" search -i "$WORK/index" -Q "$DATA/queries.jsonl" -k 1000 -o "$WORK/run.txt"
# BEIR qrels (query-id corpus-id score, with a header) -> TREC qrels (qid 0 docid rel)
awk -F'\t' 'NR > 1 && NF >= 3 { print $1, 0, $2, $3 }' "$QRELS" > "$WORK/qrels.txt"
echo "== ranking quality"
if "$Q" eval --help > /dev/null 2>&1; then
    "$Q" eval -m ndcg_cut.10 -m map -m recall.100 "$WORK/qrels.txt" "$WORK/run.txt"
elif command -v trec_eval > /dev/null; then
    trec_eval -m ndcg_cut.10 -m map -m recall.100 "$WORK/qrels.txt" "$WORK/run.txt"
else
    echo "this build has no 'quarry eval' (and no trec_eval on PATH): run and qrels are in $WORK" >&2
    exit 1
fi
