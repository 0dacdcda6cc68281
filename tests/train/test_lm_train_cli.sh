#!/bin/bash
# test_lm_train_cli.sh — `quarry lm train | generate | score | chat` end to end on a
# tiny byte-level Llama (seconds), and their errors on bad input.
# Checks: the loss goes down; N straight steps equal N/2 + --resume + N/2 byte for
# byte; generate's greedy output equals score's argmax continuation (two code
# paths: KV-cached decoding vs one batched forward); score's log-probs agree across
# batch sizes; stop strings cut the output; chat answers each line and /quit ends.
set -u
Q="$QUARRY_BIN"
fail() { echo "FAIL: $*"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"

cat > tiny.json <<'EOF'
{"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 257, "hidden_size": 32,
 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 64,
 "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
 "tie_word_embeddings": false, "bos_token_id": 256, "eos_token_id": 256}
EOF
for i in $(seq 1 60); do
    echo "the cat sat on the mat. the dog sat on the log. line $i of a small and repetitive text."
done > text.txt

# --- usage errors (exit 2) and --help
"$Q" lm train --help | grep -q -- "--resume" || fail "train --help"
"$Q" lm generate --help | grep -q -- "--num-beams" || fail "generate --help"
"$Q" lm score --help | grep -q -- "--batch" || fail "score --help"
"$Q" lm chat --help | grep -q -- "/quit" || fail "chat --help"
"$Q" lm train --out r text.txt >/dev/null 2>&1; [ $? -eq 2 ] || fail "train without --config/--init must exit 2"
"$Q" lm train --config tiny.json text.txt >/dev/null 2>&1; [ $? -eq 2 ] || fail "train without --out must exit 2"
"$Q" lm train --config tiny.json --out r --schedule wavy text.txt >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --schedule"
"$Q" lm train --config tiny.json --out r --max-memory lots text.txt >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --max-memory"

# --- train, 24 steps straight
ARGS="--config tiny.json --steps 24 --batch 4 --seq-len 32 --lr 3e-3 --warmup 2 --eval-every 12 --eval-batches 2 --threads 2 --quiet"
"$Q" lm train $ARGS --out full --checkpoint-every 12 --json text.txt > full.json || fail "train"
grep -q '"eval_loss"' full.json || fail "train --json has no eval_loss: $(cat full.json)"
[ -f full/model/model.safetensors ] && [ -f full/model/config.json ] && [ -f full/model/quarry_tokenizer.json ] \
    || fail "final model folder incomplete"
[ -f full/checkpoints/step-0000012/trainer_state.qyc ] || fail "checkpoint at step 12 missing"
[ "$(cat full/checkpoints/latest)" = "step-0000024" ] || fail "latest is $(cat full/checkpoints/latest)"
[ "$(grep -c '"loss"' full/metrics.jsonl)" -eq 24 ] || fail "metrics.jsonl should have 24 step records"
python3 - full/metrics.jsonl <<'EOF' || fail "loss did not go down"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
s = [x["loss"] for x in r if "loss" in x]
e = [x["eval_loss"] for x in r if "eval_loss" in x]
assert sum(s[-4:]) / 4 < sum(s[:4]) / 4 - 0.3, (s[:4], s[-4:])
assert len(e) == 2 and e[1] < e[0], e
assert all(x["tokens_per_s"] > 0 and x["flops_per_s"] > 0 for x in r if "loss" in x)
EOF
if command -v gnuplot >/dev/null; then
    [ -s full/loss.png ] || [ -s full/loss.svg ] || fail "no loss plot although gnuplot is installed"
fi

# --- the same run in two halves: --stop-after 12, then --resume
"$Q" lm train $ARGS --out half --stop-after 12 text.txt >/dev/null || fail "first half"
[ ! -d half/model ] || [ -f half/model/model.safetensors ] || fail "half"
"$Q" lm train $ARGS --out half --resume text.txt >/dev/null || fail "resume"
cmp full/model/model.safetensors half/model/model.safetensors || fail "resume is not bit-exact"
cmp full/checkpoints/step-0000024/trainer_state.qyc half/checkpoints/step-0000024/trainer_state.qyc \
    || fail "resumed optimizer state differs"
[ "$(grep -c '"loss"' half/metrics.jsonl)" -eq 24 ] || fail "resumed metrics.jsonl should have 24 step records"

# --- memory budget: refused before training, with the numbers
out=$("$Q" lm train $ARGS --out mem --max-memory 100K text.txt 2>&1); [ $? -eq 1 ] || fail "--max-memory 100K must fail"
echo "$out" | grep -q "max-memory" || fail "memory message: $out"
[ ! -d mem/checkpoints ] || fail "a refused run must not train"

# --- bad inputs
out=$("$Q" lm train $ARGS --out x missing.txt 2>&1); [ $? -eq 1 ] || fail "missing data"
echo "$out" | grep -q "missing.txt" || fail "missing data message: $out"
printf 'QYTOKENSgarbage' > bad.qyt
out=$("$Q" lm train $ARGS --out x bad.qyt 2>&1); [ $? -eq 1 ] || fail "corrupt shard"
echo "$out" | grep -q "bad.qyt" || fail "corrupt shard message: $out"
head -c 300 full/data/train.qyt > trunc.qyt
out=$("$Q" lm train $ARGS --out x trunc.qyt 2>&1); [ $? -eq 1 ] || fail "truncated shard"
echo "$out" | grep -q "truncated" || fail "truncated shard message: $out"
sed 's/"hidden_size": 32/"hidden_size": "big"/' tiny.json > badcfg.json
out=$("$Q" lm train --config badcfg.json --out x text.txt 2>&1); [ $? -eq 1 ] || fail "bad config"
echo "$out" | grep -q "hidden_size" || fail "bad config message: $out"
cp -r full/checkpoints/step-0000012 trunc_ckpt
mkdir -p trunc/checkpoints && cp -r full/checkpoints/step-0000012 trunc/checkpoints/ && echo step-0000012 > trunc/checkpoints/latest
head -c 1000 full/checkpoints/step-0000012/trainer_state.qyc > trunc/checkpoints/step-0000012/trainer_state.qyc
cp -r full/data trunc/
out=$("$Q" lm train $ARGS --out trunc --resume text.txt 2>&1); [ $? -eq 1 ] || fail "truncated checkpoint"
echo "$out" | grep -q "trainer_state.qyc" || fail "truncated checkpoint message: $out"
out=$("$Q" lm train $ARGS --out nothing --resume text.txt 2>&1); [ $? -eq 1 ] || fail "resume without checkpoint"
echo "$out" | grep -q "no checkpoint" || fail "resume message: $out"

# --- SFT on prompt/response pairs (chat-formatted), fine-tuning the trained model
for i in $(seq 1 20); do echo "{\"prompt\": \"say cat $i\", \"response\": \"cat\"}"; done > pairs.jsonl
out=$("$Q" lm train --init full/model --out sft0 --chat chatml --steps 6 --batch 4 --seq-len 32 pairs.jsonl 2>&1)
[ $? -eq 1 ] || fail "SFT with responses beyond --seq-len must be refused"
echo "$out" | grep -q "raise the sequence length" || fail "SFT truncation message: $out"
"$Q" lm train --init full/model --out sft --chat chatml --steps 6 --batch 4 --seq-len 64 --json pairs.jsonl > sft.json \
    || fail "sft"
[ -f sft/model/model.safetensors ] || fail "sft model"
python3 -c 'import json,sys,math; d=json.load(open("sft.json")); assert math.isfinite(d["eval_loss"]), d' \
    || fail "SFT held-out loss is not finite: $(cat sft.json)"

# --- SFT on multi-turn conversations ({"messages": [...]}, loss on the assistant turns)
for i in $(seq 1 20); do
    echo "{\"messages\": [{\"role\": \"user\", \"content\": \"say cat $i\"}, {\"role\": \"assistant\", \"content\": \"cat\"}, {\"role\": \"user\", \"content\": \"again\"}, {\"role\": \"assistant\", \"content\": \"cat cat\"}]}"
done > convo.jsonl
sed 's/"max_position_embeddings": 128/"max_position_embeddings": 512/' tiny.json > tiny512.json
out=$("$Q" lm train --config tiny512.json --out sftm --chat llama3 --steps 2 --batch 4 --seq-len 256 convo.jsonl 2>&1) \
    || fail "SFT on conversations: $out"
echo "$out" | grep -q "assistant turns only" || fail "conversation data should be masked: $out"
echo '{"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "x"}]}' >> convo.jsonl
out=$("$Q" lm train --config tiny512.json --out sftm2 --chat llama3 --steps 2 --batch 4 --seq-len 256 convo.jsonl 2>&1)
[ $? -eq 1 ] || fail "an unknown role must be refused"
echo "$out" | grep -q 'convo.jsonl: line 21: .messages\[1\].role: unknown role "bot"' || fail "unknown role message: $out"
[ ! -e sftm2/data/train.qyt ] || fail "a failed preparation must leave no shard"

# --- a BPE tokenizer learnt on the data (--tokenizer-vocab), shipped with the model
sed 's/"vocab_size": 257/"vocab_size": 320/' tiny.json > tiny320.json
"$Q" lm train --config tiny320.json --tokenizer-vocab 300 --out bpe --steps 4 --batch 2 --seq-len 16 --quiet text.txt \
    || fail "train with --tokenizer-vocab"
[ -f bpe/model/tokenizer.json ] || fail "the trained tokenizer is not in the model folder"
bt=$("$Q" lm score bpe/model "the cat" " sat on" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["results"][0]["tokens"]))')
[ "$bt" -lt 7 ] || fail "BPE should need fewer tokens than bytes for ' sat on' (got $bt)"
# no tokenizer given and vocab_size 320: a BPE of 320 ids is learnt on the data
"$Q" lm train --config tiny320.json --out bpe3 --steps 2 --batch 2 --seq-len 16 --quiet text.txt || fail "default BPE"
[ -f bpe3/model/tokenizer.json ] || fail "no tokenizer learnt for a vocab_size-320 config"
out=$("$Q" lm train --config tiny.json --tokenizer-vocab 300 --out bpe2 --steps 1 text.txt 2>&1); [ $? -eq 1 ] \
    || fail "a tokenizer larger than vocab_size must be refused"
echo "$out" | grep -q "vocab_size" || fail "$out"

# --- generate
g1=$("$Q" lm generate full/model "the cat" -n 20 --json) || fail "generate"
echo "$g1" | grep -q '"tokens_per_s"' || fail "generate --json: $g1"
text=$(echo "$g1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sequences"][0]["text"], end="")')
[ ${#text} -gt 0 ] || fail "greedy produced nothing"
# greedy = argmax at every position: score's log-prob of the greedy text must be the best among variants
python3 - "$Q" "$text" <<'EOF' || fail "greedy output is not the argmax continuation"
import json, subprocess, sys
q, text = sys.argv[1], sys.argv[2]
# flip the first character of the continuation: a worse (or equal) first token
alts = [text] + [c + text[1:] for c in "xq#" if c != text[0]]
out = json.loads(subprocess.check_output([q, "lm", "score", "full/model", "the cat"] + alts + ["--batch", "2"]))
r = out["results"]
assert all(r[0]["logprobs"][0] >= x["logprobs"][0] for x in r[1:]), [x["logprobs"][0] for x in r]
EOF
# sampling: seeded, reproducible, several sequences
s1=$("$Q" lm generate full/model "the" -n 15 --sample --temperature 0.9 --top-k 20 --seed 3 --num-return-sequences 3 --json)
s2=$("$Q" lm generate full/model "the" -n 15 --sample --temperature 0.9 --top-k 20 --seed 3 --num-return-sequences 3 --json)
[ "$(echo "$s1" | grep -v seconds | grep -v tokens_per_s)" = "$(echo "$s2" | grep -v seconds | grep -v tokens_per_s)" ] \
    || fail "seeded sampling is not reproducible"
[ "$(echo "$s1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sequences"]))')" = 3 ] || fail "3 sequences"
# beam search
"$Q" lm generate full/model "the" -n 8 --num-beams 3 --num-return-sequences 2 --json | python3 -c '
import json,sys; d=json.load(sys.stdin); s=d["sequences"]; assert len(s)==2 and s[0]["score"]>=s[1]["score"], s' \
    || fail "beam search"
# stop strings: the output is cut before the first occurrence and decoding ends early
full=$("$Q" lm generate full/model "the cat" -n 60 --no-eos --json)
ftext=$(echo "$full" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sequences"][0]["text"], end="")')
stop=$(python3 -c 'import sys; t=sys.argv[1]; print(t[3:5] if len(t) >= 6 else "", end="")' "$ftext")
if [ -n "$stop" ]; then
    cut=$("$Q" lm generate full/model "the cat" -n 60 --no-eos --stop "$stop" --json)
    python3 - "$ftext" "$stop" <<EOF || fail "stop string: $cut"
import json, sys
full, stop = sys.argv[1], sys.argv[2]
d = json.loads('''$cut''')
s = d["sequences"][0]
assert s["text"] == full[:full.index(stop)], (s["text"], full, stop)
assert len(s["tokens"]) < 60
EOF
fi
"$Q" lm generate full/model >/dev/null 2>&1; [ $? -eq 2 ] || fail "generate without prompt must exit 2"
out=$("$Q" lm generate /nonexistent "x" 2>&1); [ $? -eq 1 ] || fail "generate on a missing model"
echo "$out" | grep -q "/nonexistent" || fail "$out"

# --- score: batch sizes agree; JSONL input
a=$("$Q" lm score full/model "the cat" " sat" " on the mat" " zzz" --batch 1)
b=$("$Q" lm score full/model "the cat" " sat" " on the mat" " zzz" --batch 3)
python3 - "$a" "$b" <<'EOF' || fail "score batch 1 vs 3"
import json, sys
a, b = json.loads(sys.argv[1])["results"], json.loads(sys.argv[2])["results"]
assert len(a) == 3
for x, y in zip(a, b):
    assert x["tokens"] == y["tokens"]
    assert all(abs(p - q) < 1e-4 for p, q in zip(x["logprobs"], y["logprobs"])), (x, y)
assert a[0]["mean_logprob"] > a[2]["mean_logprob"]  # " sat" beats " zzz" after training
EOF
printf '{"prompt": "the cat", "continuations": [" sat", " zzz"]}\n{"prompt": "the", "continuation": " dog"}\n' > sc.jsonl
[ "$("$Q" lm score full/model --input sc.jsonl | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["results"]))')" = 3 ] \
    || fail "score --input"
printf '{"prompt": "the cat"}\n' > bad_sc.jsonl
out=$("$Q" lm score full/model --input bad_sc.jsonl 2>&1); [ $? -eq 1 ] || fail "score bad input"
echo "$out" | grep -q "line 1" || fail "score bad input message: $out"

# --- chat: one reply per line, /reset, /quit (stdin is not a terminal: no prompt marker)
out=$(printf 'say cat 3\n/reset\nsay cat 4\n/quit\nnot read\n' | "$Q" lm chat sft/model -n 12) || fail "chat"
[ "$(echo "$out" | grep -c 'conversation reset')" -eq 1 ] || fail "chat /reset: $out"
[ "$(echo "$out" | wc -l)" -ge 3 ] || fail "chat replies: $out"
echo "$out" | grep -q "im_end" && fail "chat reply contains the end-of-turn marker: $out"
# --- chat on a terminal (tmux): the "> " prompt, a reply, the next prompt
if command -v tmux >/dev/null; then
    sess="qy-chat-$$"
    tmux new-session -d -s "$sess" -x 100 -y 20 "$Q lm chat sft/model -n 8 --threads 1; sleep 5"
    for _ in $(seq 1 100); do
        tmux capture-pane -p -t "$sess" | grep -q '^>' && break
        sleep 0.1
    done
    tmux send-keys -t "$sess" "say cat 5" Enter
    ok=0
    for _ in $(seq 1 100); do
        pane=$(tmux capture-pane -p -t "$sess")
        if [ "$(echo "$pane" | grep -c '^>')" -ge 2 ]; then ok=1; break; fi
        sleep 0.1
    done
    tmux send-keys -t "$sess" "/quit" Enter
    sleep 0.3
    tmux kill-session -t "$sess" 2>/dev/null
    [ $ok -eq 1 ] || fail "chat on a terminal: expected a reply and a second '> ' prompt, got: $pane"
    echo "$pane" | grep -q 'say cat 5' || fail "chat on a terminal: the typed line is missing: $pane"
fi
exit 0
