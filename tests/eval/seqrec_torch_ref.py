#!/usr/bin/python3
"""Scores of a quarry SASRec (or GRU4Rec) checkpoint recomputed in PyTorch with
the same weights: bench/torch_sasrec.py's SASRec (RecBole's definition), or
RecBole's GRU4Rec written here (embedding -> nn.GRU without biases -> dense at
the last position); prints the top-k of every user as JSON, to compare with
`quarry rec recommend --json`.
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
w = np.frombuffer(blob, dtype="<f4", offset=44)
at = 0


def take(t):
    global at
    n = t.numel()
    t.data.copy_(torch.from_numpy(w[at:at + n].copy()).view_as(t))
    at += n


class GRU4Rec(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.item_emb = torch.nn.Embedding(n_items, hidden)
        self.gru = torch.nn.GRU(hidden, inner, 1, bias=False, batch_first=True)
        self.dense = torch.nn.Linear(inner, hidden)

    def forward(self, seq, seq_len):
        out, _ = self.gru(self.item_emb(seq))
        return self.dense(out)[torch.arange(len(seq_len)), seq_len - 1]

    def logits(self, h):
        return h @ self.item_emb.weight.t()


if kind == 0:
    model = SASRec(n_items, max_len=max_len, hidden=hidden, n_layers=n_layers, n_heads=n_heads, inner=inner,
                   hdrop=hdrop, adrop=adrop, eps=eps)
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
else:
    model = GRU4Rec()
    for t in (model.item_emb.weight, model.gru.weight_ih_l0, model.gru.weight_hh_l0, model.dense.weight,
              model.dense.bias):
        take(t)
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
