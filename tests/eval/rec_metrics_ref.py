#!/usr/bin/python3
"""Reference for quarry's recommendation metrics: RecBole's top-k formulas
(recbole/evaluator/metrics.py: Hit, Recall, NDCG, MRR, Precision, ItemCoverage),
written again in numpy over a full score matrix, and torch.topk for the ranking.

usage: rec_metrics_ref.py DIR
  DIR/scores.f32   float32 [n_users, n_items] row-major (row 0 and column 0: padding)
  DIR/queries.txt  one line per evaluated user: user<TAB>history ids<TAB>target ids
  DIR/meta.txt     n_users n_items k1 k2 ... mask(0/1)
Prints JSON {"hit@5": ..., ..., "itemcoverage@5": ...}.

Ties: quarry ranks equal scores by the smaller item id. torch.topk on CPU does
not promise an order for ties, so this reference sorts with numpy's stable
lexsort (id ascending within equal scores) and checks torch.topk agrees on the
scores it returns."""
import json
import sys

try:
    import numpy as np
    import torch
except ImportError as e:  # the C test skips on this
    print("SKIP", e)
    sys.exit(0)

d = sys.argv[1]
meta = open(f"{d}/meta.txt").read().split()
n_users, n_items = int(meta[0]), int(meta[1])
ks = [int(x) for x in meta[2:-1]]
mask_history = meta[-1] == "1"
scores = np.fromfile(f"{d}/scores.f32", dtype=np.float32).reshape(n_users, n_items)

users, hists, targets = [], [], []
for line in open(f"{d}/queries.txt"):
    u, h, t = line.rstrip("\n").split("\t")
    users.append(int(u))
    hists.append([int(x) for x in h.split()] if h else [])
    targets.append([int(x) for x in t.split()])

maxk = max(ks)
S = np.array([scores[u].astype(np.float64) for u in users])
S[:, 0] = -np.inf  # padding never ranked
if mask_history:
    for r, h in enumerate(hists):
        S[r, h] = -np.inf
ids = np.arange(n_items)
top = np.empty((len(users), maxk), dtype=np.int64)
for r in range(len(users)):
    order = np.lexsort((ids, -S[r]))  # score descending, id ascending
    top[r] = order[:maxk]
# torch.topk must pick the same scores (ties may be ordered differently)
tv, _ = torch.topk(torch.from_numpy(S), maxk, dim=1)
assert np.array_equal(tv.numpy(), np.take_along_axis(S, top, axis=1)), "torch.topk disagrees"

pos_index = np.array([[t in set(tg) and S[r, t] > -np.inf for t in top[r]] for r, tg in enumerate(targets)], dtype=np.int64)
pos_len = np.array([len(t) for t in targets], dtype=np.int64)

# RecBole's formulas, one column per rank 1..maxk
hit = (np.cumsum(pos_index, axis=1) > 0).astype(float)
recall = np.cumsum(pos_index, axis=1) / pos_len.reshape(-1, 1)
idxs = pos_index.argmax(axis=1)
mrr = np.zeros_like(pos_index, dtype=float)
for row, idx in enumerate(idxs):
    if pos_index[row, idx] > 0:
        mrr[row, idx:] = 1 / (idx + 1)
len_rank = np.full_like(pos_len, pos_index.shape[1])
idcg_len = np.where(pos_len > len_rank, len_rank, pos_len)
iranks = np.zeros_like(pos_index, dtype=float)
iranks[:, :] = np.arange(1, pos_index.shape[1] + 1)
idcg = np.cumsum(1.0 / np.log2(iranks + 1), axis=1)
for row, idx in enumerate(idcg_len):
    idcg[row, idx:] = idcg[row, idx - 1]
ranks = np.zeros_like(pos_index, dtype=float)
ranks[:, :] = np.arange(1, pos_index.shape[1] + 1)
dcg = np.cumsum(np.where(pos_index, 1.0 / np.log2(ranks + 1), 0), axis=1)
ndcg = dcg / idcg
precision = np.cumsum(pos_index, axis=1) / np.arange(1, maxk + 1)

out = {}
for k in ks:
    for name, m in (("hit", hit), ("recall", recall), ("ndcg", ndcg), ("mrr", mrr), ("precision", precision)):
        out[f"{name}@{k}"] = float(m[:, k - 1].mean())
    out[f"itemcoverage@{k}"] = len(np.unique(top[:, :k])) / n_items
print(json.dumps(out))
