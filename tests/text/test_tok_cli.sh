#!/bin/bash
# test_tok_cli.sh — `quarry tok`: encode/decode round trips, info, pairs and
# JSON output, training (byte-level BPE and WordPiece: train, load, encode,
# decode), and the exit codes and messages of bad input.
set -u
SRC=${QUARRY_SOURCE_DIR:?}
Q=${QUARRY_BIN:?}
D=$SRC/tests/data/tokenizers
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
pass=0; fail=0
check() { # name, condition
  if eval "$2"; then pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi
}

G=$D/gpt2/tokenizer.json
check "encode ids" '[ "$("$Q" tok encode "$G" "Hello world")" = "15496 995" ]'
check "encode tokens+offsets" '[ "$("$Q" tok encode -t -o "$G" "Hello world")" = "Hello@0-5 Ġworld@5-11" ]'
check "decode" '[ "$("$Q" tok decode "$G" 15496 995)" = "Hello world" ]'
TEXT=$'Unicode: café — “quotes” 🙂\n\ttabs  and   runs '
printf '%s' "$TEXT" > "$T/in.txt"
"$Q" tok encode --no-special -f "$T/in.txt" "$G" > "$T/ids.txt"
printf '%s\n' "$TEXT" > "$T/want.txt"
"$Q" tok decode -f "$T/ids.txt" "$G" > "$T/got.txt"
check "round trip through files" 'cmp -s "$T/got.txt" "$T/want.txt"'
check "model folder path" '[ "$("$Q" tok encode "$D/gpt2" "Hello")" = "15496" ]'
check "info" '"$Q" tok info "$G" | grep -q "pre_tokenizer: ByteLevel"'
check "info json" '"$Q" tok info --json "$D/bert-wordpiece/tokenizer.json" | grep -q "\"vocab_size\":	1024"'
check "bert pair json" '"$Q" tok encode --json --pair "the man" "$D/bert-wordpiece/tokenizer.json" "who" | grep -q "\"type_ids\":\[0,0,0,1,1,1\]"'
check "max length + pad" '[ "$("$Q" tok encode --max-length 4 --pad-to 6 "$D/bert-wordpiece/tokenizer.json" "the man who came" | wc -w)" = 6 ]'
printf 'a b\nc d e\n\nf\n' > "$T/lines.txt"
check "lines batch" '[ "$("$Q" tok encode --lines --threads 2 -f "$T/lines.txt" "$G" | wc -l)" = 4 ]'

# errors: exit 1 with a message naming the problem; usage errors exit 2
printf 'ok \xff bad' > "$T/bad.txt"
"$Q" tok encode -f "$T/bad.txt" "$G" > /dev/null 2> "$T/err.txt"; rc=$?
check "invalid utf-8 rejected" '[ $rc = 1 ] && grep -q "not valid UTF-8 at byte 3" "$T/err.txt"'
printf '{"model": {"type": "Unigram", "vocab": []}}' > "$T/uni.json"
"$Q" tok info "$T/uni.json" 2> "$T/err.txt"; rc=$?
check "unsupported named" '[ $rc = 1 ] && grep -q "Unigram" "$T/err.txt"'
"$Q" tok decode "$G" 99999 2> "$T/err.txt"; rc=$?
check "bad id" '[ $rc = 1 ] && grep -q "99999" "$T/err.txt"'
"$Q" tok encode > /dev/null 2>&1; rc=$?
check "usage error" '[ $rc = 2 ]'
"$Q" tok frobnicate > /dev/null 2>&1; rc=$?
check "unknown verb" '[ $rc = 2 ]'
check "help" '"$Q" tok encode --help | grep -q "usage: quarry tok encode"'
"$Q" tok train --out "$T/x.json" 2> /dev/null; rc=$?
check "train needs files" '[ $rc = 2 ]'

# training: corpus = this repository's own C sources (always present)
cat "$SRC"/src/text/*.c "$SRC"/src/base/*.c > "$T/corpus.txt"
"$Q" tok train -q --vocab-size 600 --out "$T/bpe.json" "$T/corpus.txt"
check "train bpe" '[ -s "$T/bpe.json" ] && "$Q" tok info "$T/bpe.json" | grep -q "vocab size: 600"'
S=$'static int tok_merges_put(tok_merges *m) { return 0; } // naïve — ok 🙂'
check "bpe round trip" '[ "$("$Q" tok encode --no-special "$T/bpe.json" "$S" | "$Q" tok decode "$T/bpe.json")" = "$S" ]'
n_bpe=$("$Q" tok encode --no-special "$T/bpe.json" "static int return" | wc -w)
check "bpe merges used" '[ "$n_bpe" -le 5 ]'
"$Q" tok train -m wordpiece --vocab-size 500 --max-words 200 --out "$T/wp.json" "$T/corpus.txt" 2> "$T/wperr.txt"
check "train wordpiece (pruning)" '[ -s "$T/wp.json" ] && grep -q "rare words were dropped" "$T/wperr.txt"'
check "wordpiece round trip" '[ "$("$Q" tok encode --no-special "$T/wp.json" "Static int RETURN" | "$Q" tok decode "$T/wp.json")" = "static int return" ]'
check "wordpiece template" '[ "$("$Q" tok encode -t "$T/wp.json" "int" | cut -d" " -f1)" = "[CLS]" ]'

echo "$pass passed, $fail failed"
[ $fail = 0 ]
