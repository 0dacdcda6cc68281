#!/usr/bin/env bash
# End-to-end `quarry rec train|eval|recommend` with the neural models on a
# synthetic RecBole folder written here: 80 users walking through 30 items in
# order (item i is followed by item i+1), so the next item is predictable and
# a sequential model must beat popularity by far.
set -u
Q="${QUARRY_BIN:?}"
T=$(mktemp -d /tmp/quarry-rec-neural-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

D="$T/walk"
mkdir -p "$D"
{
  printf 'user_id:token\titem_id:token\ttimestamp:float\n'
  for u in $(seq 0 79); do
    n=$((8 + u % 7))
    for j in $(seq 0 $((n - 1))); do printf 'u%d\ti%d\t%d\n' "$u" $(((u * 7 + j) % 30)) "$j"; done
  done
} > "$D/walk.inter"

"$Q" rec train --help | grep -q "sasrec" || fail "rec train --help does not list sasrec"

"$Q" rec train "$D" --model sasrec --epochs 15 --patience 15 --lr 0.02 --dim 32 --out "$T/sas.qyrec" --json \
  > "$T/sas.json" 2> "$T/sas.err" || fail "train sasrec: $(cat "$T/sas.err")"
"$Q" rec eval "$D" --model pop --json > "$T/pop.json" || fail "eval pop"
ndcg() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d.get('test', d)['ndcg@10'])" "$1"; }
S=$(ndcg "$T/sas.json")
P=$(ndcg "$T/pop.json")
/usr/bin/python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0.8 and float(sys.argv[1]) > 2 * float(sys.argv[2]) else 1)" "$S" "$P" \
  || fail "sasrec test ndcg@10 $S should exceed 0.8 and twice pop's $P"
grep -q "\"epoch\":	15" "$T/sas.json" || fail "15 epochs expected in the log"

# the checkpoint evaluates to the same numbers and recommends
"$Q" rec eval "$D" --checkpoint "$T/sas.qyrec" --json > "$T/sas_eval.json" || fail "eval checkpoint"
[ "$(ndcg "$T/sas_eval.json")" = "$S" ] || fail "checkpoint eval $(ndcg "$T/sas_eval.json") != train's $S"
"$Q" rec recommend "$D" --checkpoint "$T/sas.qyrec" --users u1,u2,u3 -k 3 > "$T/rec.txt" || fail "recommend"
[ "$(wc -l < "$T/rec.txt")" -eq 3 ] || fail "recommend: 3 lines expected: $(cat "$T/rec.txt")"

# the other two train and report
for m in gru4rec lightgcn; do
  "$Q" rec train "$D" --model "$m" --epochs 3 --lr 0.01 --json > "$T/$m.json" 2> "$T/$m.err" || fail "train $m: $(cat "$T/$m.err")"
  grep -q '"best_epoch"' "$T/$m.json" || fail "$m: no best_epoch"
done
# LightGCN's item embeddings for other methods: 30 items, 64 values each
"$Q" rec train "$D" --model lightgcn --epochs 2 --export-items "$T/items.tsv" --quiet > /dev/null || fail "export-items"
[ "$(wc -l < "$T/items.tsv")" -eq 30 ] || fail "export-items: 30 lines expected"
[ "$(head -1 "$T/items.tsv" | cut -f2 | wc -w)" -eq 64 ] || fail "export-items: 64 values per line expected"
"$Q" rec train "$D" --model pop --export-items "$T/pop.tsv" > /dev/null 2>&1; [ $? -eq 1 ] || fail "pop has no embeddings: exit 1"
"$Q" rec train "$D" --model transformer > /dev/null 2> "$T/bad.err"; [ $? -eq 1 ] || fail "unknown model must exit 1"
grep -q "sasrec" "$T/bad.err" || fail "unknown model message should list the models"
echo "ok: sasrec test ndcg@10 $S (pop $P)"
