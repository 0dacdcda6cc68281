#!/usr/bin/python3
"""PyTorch SASRec (Kang & McAuley, "Self-Attentive Sequential Recommendation",
ICDM 2018) as RecBole implements it, on a split written by `quarry rec split`,
so that quarry's SASRec (when the tensor engine lands) and this reference see
identical data, split and evaluation.

RecBole defaults (recbole/properties/model/SASRec.yaml, overall.yaml):
  n_layers 2, n_heads 2, hidden_size 64, inner_size 256, hidden_dropout_prob 0.5,
  attn_dropout_prob 0.5, hidden_act gelu, layer_norm_eps 1e-12,
  initializer_range 0.02, loss_type CE (softmax over all items),
  MAX_ITEM_LIST_LENGTH 50, Adam lr 1e-3, train_batch_size 2048, epochs 300,
  stopping_step 10, eval_step 1, valid_metric MRR@10.
Model details as RecBole: post-LayerNorm transformer layers, learned positions
from the first item, sequences left-aligned and zero-padded, the output at the
last real position, attention mask -10000 on padding and future positions,
normal(0, 0.02) init for Linear/Embedding, LayerNorm (1, 0), Linear bias 0.
Training examples are RecBole's augmentation: every training item but a user's
first, with up to 50 earlier items as input.

Evaluation: full ranking of every item but the padding, ties broken by the
smaller id (quarry's rule); reported with the history masked (quarry's default)
and not masked (RecBole's behaviour for sequential models).

usage:
  quarry rec split ../shared/data/ml-100k --out /tmp/ml100k-loo
  /usr/bin/python3 bench/torch_sasrec.py /tmp/ml100k-loo --seeds 1 2 3 --threads 2
"""
import argparse
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_split(d):
    users, seqs, tags = [], [], []
    n_items = sum(1 for _ in open(f"{d}/items.tsv")) - 1  # header; ids 0..n-1 with 0 = padding
    with open(f"{d}/sequences.tsv") as f:
        for line in f:
            if line.startswith("#") or line.startswith("user\t"):
                continue
            u, items, t = line.rstrip("\n").split("\t")
            users.append(int(u))
            seqs.append([int(x) for x in items.split()] if items else [])
            tags.append(t)
    return users, seqs, tags, n_items


class SASRec(nn.Module):
    def __init__(self, n_items, max_len=50, hidden=64, n_layers=2, n_heads=2, inner=256, hdrop=0.5, adrop=0.5,
                 eps=1e-12, init_range=0.02):
        super().__init__()
        self.n_heads, self.hidden, self.max_len = n_heads, hidden, max_len
        self.item_emb = nn.Embedding(n_items, hidden, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, hidden)
        self.ln = nn.LayerNorm(hidden, eps=eps)
        self.drop = nn.Dropout(hdrop)
        self.layers = nn.ModuleList()
        for _ in range(n_layers):
            self.layers.append(nn.ModuleDict(dict(
                q=nn.Linear(hidden, hidden), k=nn.Linear(hidden, hidden), v=nn.Linear(hidden, hidden),
                o=nn.Linear(hidden, hidden), attn_drop=nn.Dropout(adrop), out_drop=nn.Dropout(hdrop),
                ln1=nn.LayerNorm(hidden, eps=eps), ff1=nn.Linear(hidden, inner), ff2=nn.Linear(inner, hidden),
                ff_drop=nn.Dropout(hdrop), ln2=nn.LayerNorm(hidden, eps=eps))))
        self.init_range = init_range
        self.apply(self._init)

    def _init(self, m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            m.weight.data.normal_(mean=0.0, std=self.init_range)
        elif isinstance(m, nn.LayerNorm):
            m.bias.data.zero_()
            m.weight.data.fill_(1.0)
        if isinstance(m, nn.Linear) and m.bias is not None:
            m.bias.data.zero_()

    def forward(self, seq, seq_len, trim=False):
        # seq (B, T) left-aligned item ids, 0 = padding; seq_len (B,)
        # trim: the last layer works at each row's last real position only (what
        # quarry does); the same function, since nothing else reaches the output
        B, T = seq.shape
        rows = torch.arange(B, device=seq.device)
        pos = torch.arange(T, device=seq.device).unsqueeze(0).expand(B, T)
        x = self.drop(self.ln(self.item_emb(seq) + self.pos_emb(pos)))
        pad = (seq != 0).unsqueeze(1).unsqueeze(2)  # (B,1,1,T)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=seq.device)).view(1, 1, T, T)
        mask = torch.where(pad & causal, 0.0, -10000.0)
        NH, HS = self.n_heads, self.hidden // self.n_heads
        for i, L in enumerate(self.layers):
            last = trim and i == len(self.layers) - 1
            xq = x[rows, seq_len - 1].unsqueeze(1) if last else x
            m = mask[rows, :, seq_len - 1].unsqueeze(2) if last else mask  # (B,1,1,T) at the last row
            Tq = xq.shape[1]
            q = L["q"](xq).view(B, Tq, NH, HS).transpose(1, 2)
            k = L["k"](x).view(B, T, NH, HS).transpose(1, 2)
            v = L["v"](x).view(B, T, NH, HS).transpose(1, 2)
            att = q @ k.transpose(-1, -2) / math.sqrt(HS) + m
            att = L["attn_drop"](F.softmax(att, dim=-1))
            h = (att @ v).transpose(1, 2).reshape(B, Tq, self.hidden)
            x = L["ln1"](L["out_drop"](L["o"](h)) + xq)
            f = L["ff2"](F.gelu(L["ff1"](x)))  # gelu: erf form, as RecBole's
            x = L["ln2"](L["ff_drop"](f) + x)
        if trim:
            return x[:, -1]
        return x[rows, seq_len - 1]  # (B, C) at the last real position

    def logits(self, h):
        return h @ self.item_emb.weight.t()  # (B, V), V includes the padding


class GRU4Rec(nn.Module):
    """RecBole's GRU4Rec (recbole/model/sequential_recommender/gru4rec.py, its
    defaults): item embedding 64 with dropout 0.3, one GRU layer of 128 without
    biases, a dense layer back to 64 at the last real position, scores against
    the item embedding (cross-entropy). Init: xavier-normal embedding,
    xavier-uniform GRU weights, PyTorch's default for the dense layer."""

    def __init__(self, n_items, hidden=64, inner=128, drop=0.3):
        super().__init__()
        self.item_emb = nn.Embedding(n_items, hidden, padding_idx=0)
        self.drop = nn.Dropout(drop)
        self.gru = nn.GRU(hidden, inner, 1, bias=False, batch_first=True)
        self.dense = nn.Linear(inner, hidden)
        nn.init.xavier_normal_(self.item_emb.weight)
        nn.init.xavier_uniform_(self.gru.weight_ih_l0)
        nn.init.xavier_uniform_(self.gru.weight_hh_l0)

    def forward(self, seq, seq_len, trim=False):
        out, _ = self.gru(self.drop(self.item_emb(seq)))
        return self.dense(out[torch.arange(len(seq_len), device=seq.device), seq_len - 1])

    def logits(self, h):
        return h @ self.item_emb.weight.t()


def pad_left_aligned(seqs, max_len):
    out = np.zeros((len(seqs), max_len), dtype=np.int64)
    lens = np.zeros(len(seqs), dtype=np.int64)
    for i, s in enumerate(seqs):
        s = s[-max_len:]
        out[i, :len(s)] = s
        lens[i] = len(s)
    return torch.from_numpy(out), torch.from_numpy(lens)


def build_examples(seqs, tags, max_len):
    inputs, targets = [], []
    for s, t in zip(seqs, tags):
        train = [x for x, g in zip(s, t) if g == "T"]
        for i in range(1, len(train)):
            inputs.append(train[max(0, i - max_len):i])
            targets.append(train[i])
    X, L = pad_left_aligned(inputs, max_len)
    return X, L, torch.tensor(targets, dtype=torch.int64)


def eval_queries(seqs, tags, phase):
    """(history, target) per user that has an item of the phase (V or X)."""
    q = []
    for s, t in zip(seqs, tags):
        if phase not in t:
            continue
        k = t.index(phase)
        q.append((s[:k], s[k]))
    return q


def target_ranks(s, tgt):
    """1-based rank of tgt[r] in row s[r]: higher scores first, ties by smaller id."""
    st = s[torch.arange(len(tgt)), tgt].unsqueeze(1)
    ids = torch.arange(s.shape[1]).unsqueeze(0)
    return (((s > st) | ((s == st) & (ids < tgt.unsqueeze(1)))).sum(1) + 1).double()


def rank_metrics(r, prefix=""):
    """HR, NDCG, MRR at 5/10/20 from one target rank per user (leave-one-out)."""
    out = {}
    for k in (5, 10, 20):
        hit = (r <= k).double()
        out[f"{prefix}hit@{k}"] = hit.mean().item()
        out[f"{prefix}ndcg@{k}"] = (hit / torch.log2(r + 1)).mean().item()
        out[f"{prefix}mrr@{k}"] = (hit / r).mean().item()
    return out


@torch.no_grad()
def evaluate(model, queries, max_len, n_items, batch=512):
    model.eval()
    dev = next(model.parameters()).device
    res = {True: [], False: []}  # mask_history -> list of ranks
    for b in range(0, len(queries), batch):
        part = queries[b:b + batch]
        X, L = pad_left_aligned([h for h, _ in part], max_len)
        scores = model.logits(model(X.to(dev), L.to(dev))).cpu()
        scores[:, 0] = -float("inf")
        tgt = torch.tensor([t for _, t in part])
        for mask in (True, False):
            s = scores.clone()
            if mask:
                for r, (h, _) in enumerate(part):
                    s[r, h] = -float("inf")
            res[mask].append(target_ranks(s, tgt))
    out = {}
    for mask, parts in res.items():
        out.update(rank_metrics(torch.cat(parts), "masked_" if mask else "unmasked_"))
    return out


def run_seed(seed, data, args):
    users, seqs, tags, n_items = data
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = (SASRec(n_items, max_len=args.max_len) if args.model == "sasrec" else GRU4Rec(n_items)).to(args.device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    X, L, Y = (t.to(args.device) for t in build_examples(seqs, tags, args.max_len))
    valid_q, test_q = eval_queries(seqs, tags, "V"), eval_queries(seqs, tags, "X")
    best, best_state, best_epoch, epoch_times, log = -1.0, None, 0, [], []
    key = f"{'masked' if not args.no_mask_history else 'unmasked'}_mrr@10"
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(len(Y), device=args.device)
        total = 0.0
        for b in range(0, len(Y), args.batch):
            idx = perm[b:b + args.batch]
            loss = F.cross_entropy(model.logits(model(X[idx], L[idx], trim=args.trim)), Y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if args.device != "cpu":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        epoch_times.append(dt)
        v = evaluate(model, valid_q, args.max_len, n_items)
        improved = v[key] > best
        log.append({"epoch": epoch, "loss": total / len(Y), "seconds": dt,
                    **{f"valid_{m}@10": v[f"masked_{m}@10"] for m in ("ndcg", "hit", "mrr")}})
        if improved:
            best, best_epoch = v[key], epoch
            best_state = {name: w.clone() for name, w in model.state_dict().items()}
        print(f"seed {seed} epoch {epoch:3d} loss {total / len(Y):.4f} {dt:.2f} s ({len(Y) / dt:.0f} examples/s) "
              f"valid {key} {v[key]:.4f} hit@10 {v[key.replace('mrr', 'hit')]:.4f}{'  *' if improved else ''}",
              file=sys.stderr, flush=True)
        if epoch - best_epoch >= args.patience:
            break
    model.load_state_dict(best_state)
    t = evaluate(model, test_q, args.max_len, n_items)
    t.update(seed=seed, best_epoch=best_epoch, epochs_run=len(epoch_times),
             epoch_seconds=float(np.mean(epoch_times)), train_examples=len(Y), epochs=log)
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("split", help="folder written by `quarry rec split`")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--model", default="sasrec", choices=["sasrec", "gru4rec"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (a lent GPU makes the 3-seed run take minutes)")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--patience", type=int, default=10, help="RecBole stopping_step")
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--no-mask-history", action="store_true", help="select the best epoch on unmasked valid MRR@10")
    ap.add_argument("--max-users", type=int, default=0,
                    help="smoke test only: keep the first N users (results are not comparable)")
    ap.add_argument("--json-out", help="write all results here")
    ap.add_argument("--trim", action="store_true",
                    help="train with the last layer at the last real position only (the same function, about "
                         "40%% less work; dropout draws differ): for long accuracy runs, not for speed comparisons")
    ap.add_argument("--check-trim", action="store_true", help="check that --trim computes the same outputs, then exit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = read_split(args.split)
    if args.max_users:
        data = tuple(x[:args.max_users] for x in data[:3]) + (data[3],)
    if args.check_trim:
        torch.manual_seed(0)
        model = SASRec(data[3], max_len=args.max_len).eval()
        X, L, _ = build_examples(data[1], data[2], args.max_len)
        with torch.no_grad():
            a, b = model(X[:4096], L[:4096]), model(X[:4096], L[:4096], trim=True)
        d = (a - b).abs().max().item()
        print(f"trim vs full, 4096 examples, dropout off: max |difference| {d:.3g}")
        sys.exit(0 if d < 1e-5 else 1)
    runs = [run_seed(s, data, args) for s in args.seeds]
    summary = {"model": args.model, "torch": torch.__version__, "threads": args.threads, "device": args.device, "seeds": args.seeds, "runs": runs}
    for k in ("masked_hit@10", "masked_ndcg@10", "unmasked_hit@10", "unmasked_ndcg@10", "epoch_seconds"):
        v = np.array([r[k] for r in runs])
        summary[k] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
    for k in ("masked_hit@10", "masked_ndcg@10", "unmasked_hit@10", "unmasked_ndcg@10", "epoch_seconds"):
        print(f"{k:18s} {summary[k]['mean']:.4f} ± {summary[k]['std']:.4f}")
    if args.json_out:
        json.dump(summary, open(args.json_out, "w"), indent=1)


if __name__ == "__main__":
    main()
