#!/bin/bash
# test_lm_info.sh — `quarry lm info` on the fixture folders and on bad folders.
# Peer: the parameter count is summed by python3 straight from each file's
# safetensors header (independent of quarry's reader and spec).
set -u
Q="$QUARRY_BIN"
FIX="${QUARRY_SHARED:-}/fixtures/models"
# fall back to the fixture models vendored for fresh clones
[ -d "$FIX" ] || FIX="${QUARRY_SOURCE_DIR:-.}/tests/data/fixtures/models"
fail() { echo "FAIL: $*"; exit 1; }

# usage and help work without fixtures
"$Q" lm --help >/dev/null || fail "lm --help"
"$Q" lm info --help | grep -q "quarry lm info" || fail "lm info --help"
"$Q" lm info >/dev/null 2>&1; [ $? -eq 2 ] || fail "lm info without DIR must be a usage error (2)"
"$Q" lm bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown verb must be a usage error"
out=$("$Q" lm info /nonexistent-model 2>&1); [ $? -eq 1 ] || fail "missing folder must exit 1"
echo "$out" | grep -q "/nonexistent-model/config.json" || fail "missing folder message: $out"

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# a config with an unknown model_type
mkdir -p "$TMP/bad"
echo '{"model_type": "mamba"}' > "$TMP/bad/config.json"
out=$("$Q" lm info "$TMP/bad" 2>&1); [ $? -eq 1 ] || fail "unknown model_type must exit 1"
echo "$out" | grep -q "'mamba' is not a family quarry knows (known: gpt2, llama, qwen2, qwen3, bert)" || fail "$out"

if [ ! -d "$FIX" ]; then
    echo "skipped fixture checks: $FIX not found (../shared is absent)"
    exit 77
fi
for m in bert-tiny gpt2-tiny llama-tiny qwen2-tiny qwen3-tiny; do
    want=$(python3 - "$FIX/$m/model.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
total = 0
for k, v in h.items():
    if k == '__metadata__':
        continue
    p = 1
    for d in v['shape']:
        p *= d
    total += p
print(total)
PY
)
    got=$("$Q" lm info --json "$FIX/$m" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["parameters"], d["memory_f32"]["total"], d["unused_tensors"])')
    [ "$got" = "$want $((want * 16)) 0" ] || fail "$m: parameters/memory/unused '$got', want '$want $((want * 16)) 0'"
    "$Q" lm info "$FIX/$m" | grep -q "^parameters" || fail "$m: text output"
    n=$("$Q" lm info --verbose "$FIX/$m" | grep -c " F32 ")
    t=$(python3 -c "import json,struct,sys; b=open('$FIX/$m/model.safetensors','rb').read(); n=struct.unpack('<Q',b[:8])[0]; print(len(json.loads(b[8:8+n]))-1)")
    [ "$n" = "$t" ] || fail "$m: --verbose lists $n tensors, the file has $t"
done

# a lone .safetensors file: validated and listed
out=$("$Q" lm info --json "$FIX/llama-tiny/model.safetensors" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["tensors"], d["bytes"], d["metadata"]["format"])')
[ "$out" = "21 894208 pt" ] || fail "file info: $out"

# a truncated copy of a fixture: the error names the file and the tensor
mkdir -p "$TMP/trunc"
cp "$FIX/llama-tiny/config.json" "$TMP/trunc/"
head -c 500000 "$FIX/llama-tiny/model.safetensors" > "$TMP/trunc/model.safetensors"
out=$("$Q" lm info "$TMP/trunc" 2>&1); [ $? -eq 1 ] || fail "truncated file must exit 1"
echo "$out" | grep -q "trunc/model.safetensors: tensor '.*': data_offsets .* reach past the data region" || fail "$out"
# a config that disagrees with the weights: both shapes named
mkdir -p "$TMP/shape"
sed 's/"intermediate_size": 176/"intermediate_size": 180/' "$FIX/llama-tiny/config.json" > "$TMP/shape/config.json"
cp "$FIX/llama-tiny/model.safetensors" "$TMP/shape/"
out=$("$Q" lm info "$TMP/shape" 2>&1); [ $? -eq 1 ] || fail "shape mismatch must exit 1"
echo "$out" | grep -q "gate_proj.weight. has shape \[176, 64\], the config implies \[180, 64\]" || fail "$out"

# convert: bf16 halves the weights; sharded and back to one f32 file gives
# save_pretrained's file again, byte for byte
"$Q" lm convert --quiet --dtype bf16 "$FIX/qwen2-tiny" "$TMP/bf16" || fail "convert bf16"
a=$(stat -c %s "$FIX/qwen2-tiny/model.safetensors"); b=$(stat -c %s "$TMP/bf16/model.safetensors")
[ $((a - b)) -gt $((a / 2 - 4096)) ] || fail "bf16 file is $b bytes, the f32 one $a"
"$Q" lm info "$TMP/bf16" | grep -q "26 tensors, BF16" || fail "bf16 info"
"$Q" lm convert --quiet --max-shard-size 200KB "$FIX/llama-tiny" "$TMP/sharded" || fail "convert sharded"
[ -f "$TMP/sharded/model-00004-of-00004.safetensors" ] && [ -f "$TMP/sharded/model.safetensors.index.json" ] || fail "shards"
[ -f "$TMP/sharded/tokenizer.json" ] && [ -f "$TMP/sharded/generation_config.json" ] || fail "copied files"
"$Q" lm convert --quiet "$TMP/sharded" "$TMP/single" || fail "convert back"
cmp -s "$TMP/single/model.safetensors" "$FIX/llama-tiny/model.safetensors" || fail "round trip is not byte-identical"
"$Q" lm convert --dtype f8 "$FIX/llama-tiny" "$TMP/x" >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --dtype must be a usage error"
"$Q" lm convert --max-shard-size lots "$FIX/llama-tiny" "$TMP/x" >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad size"
echo "lm info, lm convert: all checks passed"
