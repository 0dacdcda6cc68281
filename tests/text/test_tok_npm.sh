#!/bin/bash
# test_tok_npm.sh — ids from quarry equal those of npm peers on all of
# wikitext-2 (valid), Tiny Shakespeare and a generated Unicode stress text:
#   GPT-2: js-tiktoken (gpt2) and gpt-tokenizer (r50k_base);
#   all four fixture tokenizers (GPT-2, Llama-3-style byte-level, SentencePiece-
#   style byte fallback, BERT WordPiece): @huggingface/tokenizers (Tokenizers.js),
#   on wikitext-2 and the stress text (Tiny Shakespeare too with QUARRY_TEST_FULL=1).
# Skips (77) when node, the npm packages (cd bench/node && npm ci) or ../shared
# are missing.
set -u
SRC=${QUARRY_SOURCE_DIR:?}
Q=${QUARRY_BIN:?}
SHARED=${QUARRY_SHARED:-$SRC/../shared}
NODE_DIR=$SRC/bench/node
TOK=$SRC/tests/data/tokenizers/gpt2/tokenizer.json
if ! command -v node >/dev/null; then echo "SKIP: node not installed"; exit 77; fi
if [ ! -d "$NODE_DIR/node_modules/js-tiktoken" ] || [ ! -d "$NODE_DIR/node_modules/gpt-tokenizer" ] ||
   [ ! -d "$NODE_DIR/node_modules/@huggingface/tokenizers" ]; then
  echo "SKIP: npm peers missing; run: (cd bench/node && npm ci)"; exit 77
fi
if [ ! -f "$SHARED/data/wikitext-2/valid.txt" ] || [ ! -f "$SHARED/data/tinyshakespeare/input_train.txt" ]; then
  echo "SKIP: ../shared/data (wikitext-2, tinyshakespeare) not found"; exit 77
fi
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
node "$NODE_DIR/unicode_mix.mjs" 5 40000 > "$T/mix.txt" || exit 1
fail=0
for f in "$SHARED/data/wikitext-2/valid.txt" "$SHARED/data/tinyshakespeare/input_train.txt" "$T/mix.txt"; do
  "$Q" tok encode --no-special -q --file "$f" "$TOK" > "$T/q.txt" || { echo "FAIL: quarry encode $f"; exit 1; }
  for peer in js-tiktoken gpt-tokenizer; do
    node "$NODE_DIR/gpt2_ids.mjs" $peer "$f" > "$T/p.txt" || { echo "FAIL: node $peer"; exit 1; }
    n=$(wc -w < "$T/p.txt")
    if cmp -s "$T/q.txt" "$T/p.txt"; then
      echo "ok: $(basename "$f"): $n ids equal to $peer"
    else
      echo "FAIL: $(basename "$f"): ids differ from $peer ($(wc -w < "$T/q.txt") vs $n)"; fail=1
    fi
  done
  if [ "$f" = "$SHARED/data/tinyshakespeare/input_train.txt" ] && [ "${QUARRY_TEST_FULL:-0}" != 1 ]; then continue; fi
  for name in gpt2 bytelevel-regex sentencepiece-bpe bert-wordpiece; do
    tj=$SRC/tests/data/tokenizers/$name/tokenizer.json
    "$Q" tok encode --no-special -q --file "$f" "$tj" > "$T/q.txt" || { echo "FAIL: quarry encode $f"; exit 1; }
    node "$NODE_DIR/hf_ids.mjs" "$tj" "$f" > "$T/p.txt" || { echo "FAIL: node Tokenizers.js"; exit 1; }
    if cmp -s "$T/q.txt" "$T/p.txt"; then
      echo "ok: $(basename "$f"): $name: $(wc -w < "$T/p.txt") ids equal to @huggingface/tokenizers"
    else
      echo "FAIL: $(basename "$f"): $name: ids differ from @huggingface/tokenizers"; fail=1
    fi
  done
done
# BPE options the fixtures do not use (end_of_word_suffix, fuse_unk, ignore_merges)
for tj in "$SRC"/tests/data/tokenizers/synthetic/bpe_suffix*.json; do
  f=$SRC/tests/data/tokenizers/synthetic/words.txt
  "$Q" tok encode --no-special -q --file "$f" "$tj" > "$T/q.txt" || exit 1
  node "$NODE_DIR/hf_ids.mjs" "$tj" "$f" > "$T/p.txt" || exit 1
  if cmp -s "$T/q.txt" "$T/p.txt"; then
    echo "ok: $(basename "$tj"): ids equal to @huggingface/tokenizers"
  else
    echo "FAIL: $(basename "$tj"): ids differ from @huggingface/tokenizers"; fail=1
  fi
done
# tokenizers trained here load in Tokenizers.js and give the same ids there
"$Q" tok train -q --vocab-size 3000 --out "$T/bpe.json" "$SHARED/data/tinyshakespeare/input_train.txt" || exit 1
"$Q" tok train -q -m wordpiece --vocab-size 3000 --out "$T/wp.json" "$SHARED/data/tinyshakespeare/input_train.txt" || exit 1
for tj in "$T/bpe.json" "$T/wp.json"; do
  f=$SHARED/data/wikitext-2/valid.txt
  "$Q" tok encode --no-special -q --file "$f" "$tj" > "$T/q.txt" || exit 1
  node "$NODE_DIR/hf_ids.mjs" "$tj" "$f" > "$T/p.txt" || { echo "FAIL: Tokenizers.js cannot use $(basename "$tj")"; exit 1; }
  if cmp -s "$T/q.txt" "$T/p.txt"; then
    echo "ok: trained $(basename "$tj"): $(wc -w < "$T/p.txt") ids on wikitext-2 equal to @huggingface/tokenizers"
  else
    echo "FAIL: trained $(basename "$tj"): ids differ from @huggingface/tokenizers"; fail=1
  fi
done
[ $fail = 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $fail
