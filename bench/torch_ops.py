"""PyTorch side of bench_tensor_ops.c: the same ops, shapes and forward+backward.

usage: /usr/bin/python3 bench/torch_ops.py [--threads N] [--reps R]
Prints "OP name wall_ms cpu_ms" (medians of R; CPU time of the process) per op. Attention is the eager form
(torch 1.13 has no fused scaled_dot_product_attention): softmax(QK^T/sqrt(d) + mask) V.
"""
import argparse
import math
import time

import torch
import torch.nn.functional as F

B, T, NH, HS, V, FF = 8, 256, 4, 64, 4096, 768
C, N = NH * HS, B * T


def attention(q, k, v):
    q, k, v = (x.view(B, T, NH, HS).transpose(1, 2) for x in (q, k, v))
    mask = torch.full((T, T), float("-inf")).triu(1)
    p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HS) + mask, dim=-1)
    return (p @ v).transpose(1, 2).reshape(B, T, C)


def rmsnorm(x, w):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5))


def rope(x):
    inv = 1.0 / (10000.0 ** (torch.arange(0, HS, 2, dtype=torch.int64).float() / HS))
    f = torch.arange(T).float()[:, None] * inv
    emb = torch.cat((f, f), -1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    xh = x.view(B, T, NH, HS)
    rot = torch.cat((-xh[..., HS // 2:], xh[..., :HS // 2]), -1)
    return (xh * cos + rot * sin).reshape(B, T, C)


TG = torch.randint(0, V, (N,))
OPS = [
    ("attention", attention, [(B, T, C)] * 3),
    ("cross_ent", lambda x: F.cross_entropy(x, TG), [(N, V)]),
    ("rmsnorm", rmsnorm, [(N, C), (C,)]),
    ("swiglu", lambda g, u: F.silu(g) * u, [(N, FF), (N, FF)]),
    ("rope", rope, [(B, T, C)]),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for name, fn, shapes in OPS:
        ts, cs = [], []
        for rep in range(a.reps + 1):
            xs = [torch.randn(*s, requires_grad=True) for s in shapes]
            t0, c0 = time.perf_counter(), time.process_time()
            y = fn(*xs)
            (y.sum() if y.numel() > 1 else y).backward()
            if rep > 0:
                ts.append((time.perf_counter() - t0) * 1e3)
                cs.append((time.process_time() - c0) * 1e3)
        ts.sort()
        cs.sort()
        print(f"OP {name} {ts[len(ts) // 2]:.3f} {cs[len(cs) // 2]:.3f}", flush=True)


main()
