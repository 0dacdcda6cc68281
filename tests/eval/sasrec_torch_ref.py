#!/usr/bin/python3
"""Scores of a quarry SASRec checkpoint recomputed by bench/torch_sasrec.py's
PyTorch SASRec (RecBole's definition) with the same weights; prints the top-k
of every user as JSON, to compare with `quarry rec recommend --json`.
usage: sasrec_torch_ref.py CHECKPOINT SPLIT_DIR K"""
import json
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, sys.argv[4] if len(sys.argv) > 4 else "bench")
from torch_sasrec import SASRec, read_split  # noqa: E402

ckpt, split, K = sys.argv[1], sys.argv[2], int(sys.argv[3])
raw = open(ckpt, "rb").read()
assert raw[:8] == b"QYRECM01", "not a quarry checkpoint"
payload = struct.unpack_from("<Q", raw, 88)[0]
blob = raw[96:96 + payload]
kind, n_items, hidden, n_layers, n_heads, inner, max_len = struct.unpack_from("<7i", blob, 0)
hdrop, adrop, eps, init_range = struct.unpack_from("<4f", blob, 28)
assert kind == 0, "not a sasrec checkpoint"
w = np.frombuffer(blob, dtype="<f4", offset=44)
model = SASRec(n_items, max_len=max_len, hidden=hidden, n_layers=n_layers, n_heads=n_heads, inner=inner,
               hdrop=hdrop, adrop=adrop, eps=eps)
at = 0


def take(t):
    global at
    n = t.numel()
    t.data.copy_(torch.from_numpy(w[at:at + n].copy()).view_as(t))
    at += n


take(model.item_emb.weight)
take(model.pos_emb.weight)
take(model.ln.weight)
take(model.ln.bias)
for L in model.layers:
    for name in ("q", "k", "v", "o"):
        take(L[name].weight)
        take(L[name].bias)
    for name in ("ln1", "ff1", "ff2", "ln2"):
        take(L[name].weight)
        take(L[name].bias)
assert at == len(w), f"{len(w) - at} values left over"
model.eval()
users, seqs, tags, _ = read_split(split)
tokens = {}
for line in open(f"{split}/items.tsv"):
    i, t = line.rstrip("\n").split("\t")
    if i != "id":
        tokens[int(i)] = t
out = []
with torch.no_grad():
    for u, s in zip(users, seqs):
        h = s[-max_len:]
        x = torch.tensor([h + [0] * (max_len - len(h))])
        sc = model.logits(model(x, torch.tensor([len(h)])))[0].double().numpy()
        sc[0] = -np.inf
        order = sorted(range(1, n_items), key=lambda i: (-sc[i], i))[:K]
        out.append({"user": u, "items": [{"item": tokens[i], "score": float(sc[i])} for i in order]})
print(json.dumps(out))
