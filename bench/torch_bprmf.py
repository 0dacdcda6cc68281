#!/usr/bin/python3
"""PyTorch BPR-MF (Rendle et al., UAI 2009) with RecBole's BPR recipe, on a split
written by `quarry rec split`: the peer of `quarry rec train --model bprmf`.

Recipe (both sides): user and item embeddings of size 64 (id 0 = padding),
xavier-normal init, score = dot product, loss -log(1e-10 + sigmoid(pos - neg))
averaged over a batch of 2048 training positives, one negative per positive
drawn uniformly among the items the user has no training interaction with,
Adam lr 1e-3 (no weight decay), shuffled every epoch. After every epoch: full
ranking of the validation item (history masked, ties by smaller id); the best
epoch by NDCG@10 is kept, training stops after 10 epochs without improvement;
the best epoch is then tested the same way.

usage:
  quarry rec split ../shared/data/ml-100k --out /tmp/ml100k-loo
  /usr/bin/python3 bench/torch_bprmf.py /tmp/ml100k-loo --seeds 1 2 3 --threads 2
"""
import argparse
import json
import sys
import time

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from torch_sasrec import rank_metrics, read_split, target_ranks  # noqa: E402  (shared with SASRec)


def queries(seqs, tags, phase):
    q = []
    for u, (s, t) in enumerate(zip(seqs, tags)):
        if phase in t:
            k = t.index(phase)
            q.append((u, s[:k], s[k]))
    return q


@torch.no_grad()
def evaluate(U, I, users, q, n_items):
    uid = torch.tensor([users[u] for u, _, _ in q])
    s = (U[uid] @ I.t()).double()
    s[:, 0] = -float("inf")
    for r, (_, h, _) in enumerate(q):
        s[r, h] = -float("inf")
    return rank_metrics(target_ranks(s, torch.tensor([t for _, _, t in q])))


def run_seed(seed, data, args):
    users, seqs, tags, n_items = data
    torch.manual_seed(seed)
    n_users = max(users) + 1
    U = torch.empty(n_users, args.dim)
    I = torch.empty(n_items, args.dim)
    torch.nn.init.xavier_normal_(U)
    torch.nn.init.xavier_normal_(I)
    U.requires_grad_(True)
    I.requires_grad_(True)
    opt = torch.optim.Adam([U, I], lr=args.lr)
    pu, pi = [], []
    seen = torch.zeros(n_users, n_items, dtype=torch.bool)
    for u, s, t in zip(users, seqs, tags):
        for x, g in zip(s, t):
            if g == "T":
                pu.append(u)
                pi.append(x)
                seen[u, x] = True
    pu, pi = torch.tensor(pu), torch.tensor(pi)
    vq, tq = queries(seqs, tags, "V"), queries(seqs, tags, "X")
    best, best_epoch, best_state, times = -1.0, 0, None, []
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        perm = torch.randperm(len(pu))
        total = 0.0
        for b in range(0, len(pu), args.batch):
            idx = perm[b:b + args.batch]
            u, p = pu[idx], pi[idx]
            n = torch.randint(1, n_items, (len(idx),))
            bad = seen[u, n]
            while bad.any():  # resample negatives the user has seen
                n[bad] = torch.randint(1, n_items, (int(bad.sum()),))
                bad = seen[u, n]
            eu = U[u]
            diff = (eu * I[p]).sum(1) - (eu * I[n]).sum(1)
            loss = -torch.log(1e-10 + torch.sigmoid(diff)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        dt = time.perf_counter() - t0
        times.append(dt)
        v = evaluate(U.detach(), I.detach(), users, vq, n_items)
        improved = v["ndcg@10"] > best
        if improved:
            best, best_epoch = v["ndcg@10"], epoch
            best_state = (U.detach().clone(), I.detach().clone())
        print(f"seed {seed} epoch {epoch:3d} loss {total / len(pu):.5f} {dt:.3f} s valid ndcg@10 {v['ndcg@10']:.4f}"
              f"{'  *' if improved else ''}", file=sys.stderr, flush=True)
        if epoch - best_epoch >= args.patience:
            break
    t = evaluate(best_state[0], best_state[1], users, tq, n_items)
    t.update(seed=seed, best_epoch=best_epoch, epochs_run=len(times), epoch_seconds=float(np.mean(times)))
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("split")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--batch", type=int, default=2048)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--json-out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = read_split(args.split)
    runs = [run_seed(s, data, args) for s in args.seeds]
    summary = {"torch": torch.__version__, "threads": args.threads, "runs": runs}
    for k in ("hit@10", "ndcg@10", "epoch_seconds", "best_epoch"):
        v = np.array([r[k] for r in runs], dtype=float)
        summary[k] = {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}
        print(f"{k:14s} {v.mean():.4f} ± {summary[k]['std']:.4f}")
    if args.json_out:
        json.dump(summary, open(args.json_out, "w"), indent=1)


if __name__ == "__main__":
    main()
