#!/usr/bin/env python3
"""Seed corpora for fuzz_safetensors and fuzz_config from the fixture models.

Usage: python3 tests/fuzz/make_model_corpus.py ../shared/fixtures/models tests/fuzz/corpus
Safetensors seeds keep every tensor name and dtype of a fixture but cut each
dimension to at most 3 (so files stay a few KB), plus dtype variants and
hand-broken headers; config seeds are the fixture configs and variants.
"""
import json
import os
import struct
import sys

src, out = sys.argv[1], sys.argv[2]
st_dir = os.path.join(out, "safetensors")
cfg_dir = os.path.join(out, "config")
os.makedirs(st_dir, exist_ok=True)
os.makedirs(cfg_dir, exist_ok=True)
SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "U8": 1, "BOOL": 1}


def write_st(path, tensors, meta=None, raw_header=None):
    """tensors: list of (name, dtype, shape, bytes); header padded like safetensors"""
    header, off, blob = {}, 0, b""
    if meta is not None:
        header["__metadata__"] = meta
    for name, dt, shape, data in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
        blob += data
    h = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + blob)


for model in sorted(os.listdir(src)):
    d = os.path.join(src, model)
    b = open(os.path.join(d, "model.safetensors"), "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8 : 8 + n])
    small = []
    for name, info in h.items():
        if name == "__metadata__":
            continue
        shape = [min(x, 3) for x in info["shape"]]
        count = 1
        for x in shape:
            count *= x
        start = 8 + n + info["data_offsets"][0]
        small.append((name, info["dtype"], shape, b[start : start + count * SIZE[info["dtype"]]]))
    tag = model.replace("-tiny", "")
    write_st(os.path.join(st_dir, tag + ".safetensors"), small, {"format": "pt"})
    if tag == "llama":
        half = [(nm, "F16", s, data[: len(data) // 2]) for nm, _, s, data in small[:6]]
        write_st(os.path.join(st_dir, "llama-f16.safetensors"), half)
        bf = [(nm, "BF16", s, data[: len(data) // 2]) for nm, _, s, data in small[:6]]
        write_st(os.path.join(st_dir, "llama-bf16.safetensors"), bf, {"format": "pt", "note": "a\"b"})
    for f in ("config.json", "generation_config.json"):
        p = os.path.join(d, f)
        if os.path.exists(p):
            with open(p, "rb") as fi, open(os.path.join(cfg_dir, tag + "-" + f), "wb") as fo:
                fo.write(fi.read())

one = [("t", "F32", [2], b"\0" * 8)]
bad = {
    "overlap": b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
    "gap": b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
    "past-end": b'{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}',
    "dtype": b'{"t":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,8]}}',
    "huge-shape": b'{"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}',
    "mixed": b'{"__metadata__":{"k":"v"},"i":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"s":{"dtype":"F32","shape":[],"data_offsets":[8,8]}}',
}
for name, hdr in bad.items():
    write_st(os.path.join(st_dir, "bad-" + name + ".safetensors"), one, raw_header=hdr)
with open(os.path.join(st_dir, "bad-length.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", 1 << 40) + b"{}      ")

llama = json.load(open(os.path.join(src, "llama-tiny", "config.json")))
variants = {
    "llama3-old-style": dict(llama, rope_theta=500000.0, rope_scaling={"rope_type": "llama3", "factor": 8.0,
                             "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                             eos_token_id=[1, 2, 3]),
    "linear-new-style": dict(llama, rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 1e4}),
    "yarn": dict(llama, rope_parameters={"rope_type": "yarn", "factor": 4.0}),
    "gpt2-generic-names": {"model_type": "gpt2", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                           "activation_function": "relu", "n_inner": 50},
}
for name, cfg in variants.items():
    with open(os.path.join(cfg_dir, name + ".json"), "w") as f:
        json.dump(cfg, f)
with open(os.path.join(cfg_dir, "nan.json"), "w") as f:
    f.write('{"model_type": "llama", "rms_norm_eps": NaN}')
