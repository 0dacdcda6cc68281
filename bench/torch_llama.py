"""PyTorch peer of bench_tensor_llama.c: the same Llama-style model and step
(forward, backward, clip_grad_norm_(1.0), AdamW), the same sizes and thread count.

usage: /usr/bin/python3 bench/torch_llama.py [--threads N] [--steps S] [--warmup W] [--batch B] [--seq T]
Prints one line per step and "RESULT tokens_per_s=X best_tokens_per_s=Y tokens_per_cpu_s=Z
peak_rss_mb=W" (tokens/s of the median step and of the best step, tokens per CPU-second of
the process, all threads together).
Attention is written as transformers' eager LlamaAttention does (torch 1.13 has no
scaled_dot_product_attention): softmax over a causal-masked score matrix.
"""
import argparse
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, C, L, NH, FF, EPS, THETA = 4096, 256, 4, 4, 768, 1e-5, 10000.0


class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = RMSNorm(C), RMSNorm(C)
        self.q, self.k, self.v, self.o = (nn.Linear(C, C, bias=False) for _ in range(4))
        self.gate, self.up = nn.Linear(C, FF, bias=False), nn.Linear(C, FF, bias=False)
        self.down = nn.Linear(FF, C, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        hs = C // NH
        h = self.ln1(x)
        q = self.q(h).view(B, T, NH, hs).transpose(1, 2)
        k = self.k(h).view(B, T, NH, hs).transpose(1, 2)
        v = self.v(h).view(B, T, NH, hs).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        s = (q @ k.transpose(-1, -2)) / math.sqrt(hs) + mask
        a = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.o(a)
        h2 = self.ln2(x)
        return x + self.down(F.silu(self.gate(h2)) * self.up(h2))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, C)
        self.layers = nn.ModuleList(Layer() for _ in range(L))
        self.norm = RMSNorm(C)
        self.head = nn.Linear(C, V, bias=False)
        for p in self.parameters():
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids, cos, sin, mask):
        x = self.emb(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.head(self.norm(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    B, T = a.batch, a.seq
    model = Model()
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() == 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95))
    ids = torch.randint(0, V, (B, T))
    tg = torch.cat((ids[:, 1:], torch.full((B, 1), -100)), dim=1).reshape(-1)
    hs = C // NH
    inv_freq = 1.0 / (THETA ** (torch.arange(0, hs, 2, dtype=torch.int64).float() / hs))
    freqs = torch.arange(T).float()[:, None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = torch.full((T, T), float("-inf")).triu(1)
    times = []
    cpu = 0.0
    for s in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        c0 = time.process_time()
        opt.zero_grad(set_to_none=True)
        logits = model(ids, cos, sin, mask)
        loss = F.cross_entropy(logits.reshape(B * T, V), tg, ignore_index=-100)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if s >= a.warmup:
            times.append(dt)
            cpu += time.process_time() - c0
        print(f"step {s:2d} loss {loss.item():.4f}  {dt:.3f} s", flush=True)
    times.sort()
    n = len(times)
    med = times[n // 2] if n % 2 else 0.5 * (times[n // 2 - 1] + times[n // 2])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"RESULT tokens_per_s={B * T / med:.1f} best_tokens_per_s={B * T / times[0]:.1f} "
          f"tokens_per_cpu_s={B * T * a.steps / cpu:.1f} peak_rss_mb={rss:.1f} "
          f"torch={torch.__version__} threads={torch.get_num_threads()}")


main()
