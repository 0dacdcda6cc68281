#!/usr/bin/env bash
# End-to-end test of `quarry rec split|train|eval|recommend` on the vendored
# synthetic sample (tests/data/rec_tiny), and on ml-100k when ../shared has it.
set -u
Q="${QUARRY_BIN:?}"
SRC="${QUARRY_SOURCE_DIR:?}"
TINY="$SRC/tests/data/rec_tiny"
T=$(mktemp -d /tmp/quarry-rec-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# usage and help
"$Q" rec --help | grep -q "recommend" || fail "rec --help lists no verbs"
"$Q" rec train --help | grep -q -- "--protocol" || fail "rec train --help lacks --protocol"
"$Q" rec frobnicate >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown verb must exit 2"

# split writes the files, counts match the hand-made sample (4 test users)
"$Q" rec split "$TINY" --out "$T/split" --json > "$T/split.json" || fail "split failed"
grep -q '"test":	4' "$T/split.json" || fail "split: expected 4 test rows: $(cat "$T/split.json")"
grep -q $'^1\t1 2 3 4\tTTVX$' "$T/split/sequences.tsv" || fail "sequences.tsv content"
[ -s "$T/split/rec_tiny.train.inter" ] || fail "no RecBole benchmark file"

# pop: hand-checked values (tests/eval/test_rec_metrics.c): test hit@5 = 1, ndcg@5 = 0.7326...
"$Q" rec eval "$TINY" --model pop --json > "$T/pop.json" || fail "eval pop failed"
grep -q '"hit@5":	1' "$T/pop.json" || fail "pop hit@5: $(cat "$T/pop.json")"
grep -q '"ndcg@5":	0.73266' "$T/pop.json" || fail "pop ndcg@5: $(cat "$T/pop.json")"

# custom cut-offs: pop puts u2's and u4's targets first (hit@1 = 2/4)
"$Q" rec eval "$TINY" --model pop --ks 1,3 --json | grep -q '"hit@1":	0.5' || fail "--ks 1,3: hit@1"
"$Q" rec eval "$TINY" --model pop --ks 0 > /dev/null 2>&1; [ $? -eq 1 ] || fail "--ks 0 must fail"

# train an iterative model, keep its checkpoint, evaluate and recommend from it
"$Q" rec train "$TINY" --model bprmf --epochs 3 --patience 2 --out "$T/bpr.qyrec" --json > "$T/train.json" 2> "$T/train.err" \
  || fail "train bprmf: $(cat "$T/train.err")"
grep -q '"best_epoch"' "$T/train.json" || fail "train json lacks best_epoch"
grep -q '"valid_metric":	"mrr@10"' "$T/train.json" || fail "default early-stopping metric is RecBole's mrr@10"
grep -q '"valid_mrr@10"' "$T/train.json" || fail "epoch log lacks valid_mrr@10"
"$Q" rec train "$TINY" --model bprmf --epochs 2 --valid-metric ndcg@20 --json 2> /dev/null | grep -q '"valid_metric":	"ndcg@20"' \
  || fail "--valid-metric ndcg@20"
"$Q" rec train "$TINY" --model bprmf --valid-metric auc@10 > /dev/null 2> "$T/err.txt"; [ $? -eq 2 ] || fail "bad --valid-metric must exit 2"
grep -q "valid-metric 'auc@10': expected" "$T/err.txt" || fail "bad --valid-metric message: $(cat "$T/err.txt")"
[ -s "$T/bpr.qyrec" ] || fail "no checkpoint written"
"$Q" rec eval "$TINY" --checkpoint "$T/bpr.qyrec" --protocol sampled:3 --per-user "$T/users.tsv" > /dev/null || fail "eval checkpoint"
[ "$(wc -l < "$T/users.tsv")" -eq 5 ] || fail "per-user file: header + 4 users expected"
"$Q" rec recommend "$TINY" --checkpoint "$T/bpr.qyrec" --users u1,u5 -k 2 > "$T/rec.txt" || fail "recommend"
[ "$(wc -l < "$T/rec.txt")" -eq 2 ] || fail "recommend: 2 lines expected"
grep -q '^u1	' "$T/rec.txt" || fail "recommend: u1 line"
# u1 saw a b c d: none of them may come back
grep '^u1' "$T/rec.txt" | grep -qE '(^|[ \t])[abcd]:' && fail "recommend returned a seen item"

# errors: exit 1 with the library's message
mkdir -p "$T/bad"
printf 'user_id:token\titem_id:token\nu1\n' > "$T/bad/bad.inter"
"$Q" rec eval "$T/bad" --model pop > /dev/null 2> "$T/err.txt"; rc=$?
[ $rc -eq 1 ] || fail "malformed file must exit 1 (got $rc)"
grep -q "bad.inter: line 2: expected 2 tab-separated fields" "$T/err.txt" || fail "message: $(cat "$T/err.txt")"
"$Q" rec eval "$TINY" --model transformer > /dev/null 2> "$T/err.txt"; [ $? -eq 1 ] || fail "unknown model must exit 1"
grep -q "unknown model 'transformer'" "$T/err.txt" || fail "unknown model message"
"$Q" rec eval "$TINY" --model bprmf > /dev/null 2> "$T/err.txt"; [ $? -eq 1 ] || fail "untrained bprmf must fail"
"$Q" rec eval "$TINY" --model pop --protocol fancy > /dev/null 2>&1; [ $? -eq 1 ] || fail "bad protocol must fail"
head -c 100 "$T/bpr.qyrec" > "$T/cut.qyrec"
"$Q" rec eval "$TINY" --checkpoint "$T/cut.qyrec" > /dev/null 2> "$T/err.txt"; [ $? -eq 1 ] || fail "truncated checkpoint must fail"

# ml-100k (not vendored: ../shared only)
ML="${QUARRY_SHARED:-}/data/ml-100k"
if [ -f "$ML/ml-100k.inter" ]; then
  "$Q" rec eval "$ML" --model pop --json > "$T/ml.json" || fail "ml-100k pop"
  # Pop is deterministic: test HR@10 = 71/943, from this split (SOURCE.md: last rating held out upstream)
  grep -q '"users":	943' "$T/ml.json" || fail "ml-100k: 943 users expected"
  grep -q '"hit@10":	0.0752916' "$T/ml.json" || fail "ml-100k pop hit@10: $(grep hit@10 "$T/ml.json")"
else
  echo "ml-100k not found under QUARRY_SHARED: skipping that part"
fi
echo "ok"
