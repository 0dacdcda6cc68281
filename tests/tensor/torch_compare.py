"""Recompute the cases written by test_torch_compare.c with PyTorch and compare.

usage: /usr/bin/python3 torch_compare.py DIR

For each op case: inputs x0.., quarry's output y, weights w and quarry's input
gradients g0.. of L = sum(w * y). The Llama block is written here with the same
formulas as transformers' modeling_llama (RMSNorm, rotate-half RoPE, repeat_kv,
causal softmax attention, SwiGLU MLP, mean cross-entropy with ignore_index -100).
Exit status 1 when any comparison is outside its tolerance.
"""
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
D = sys.argv[1]
failures = []


def load(name, what, shape=None):
    a = np.fromfile(os.path.join(D, f"{name}.{what}.f32"), dtype=np.float32)
    t = torch.from_numpy(a.copy())
    return t.reshape(shape) if shape is not None else t


def check(label, got, ref, atol, rtol):
    got = got.detach().double().reshape(-1)
    ref = ref.detach().double().reshape(-1)
    err = (got - ref).abs()
    bound = atol + rtol * ref.abs()
    worst = float(err.max()) if err.numel() else 0.0
    ok = bool((err <= bound).all())
    print(f"  {'ok ' if ok else 'BAD'} {label:58s} max abs err {worst:.2e}  (atol {atol:g}, rtol {rtol:g})")
    if not ok:
        failures.append(label)


def shape_of(s):
    return tuple(int(v) for v in s.split("x"))


CE_T = torch.tensor([3, -100, 0, 6, 6, 1, 2, 5])
CE_W = torch.tensor([1.0, 2.0, 0.5, 1.5, 1.0, 0.25, 3.0, 1.0])
EMB_IDS = torch.tensor([4, 0, 9, 4, 4, 1])
ROPE_POS = torch.tensor([0, 1, 2, 3, 4, 7, 3, 100, 2, 9]).reshape(2, 5)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(x, hs, theta, pos, interleaved):
    B, T, C = x.shape
    xh = x.view(B, T, C // hs, hs)
    inv_freq = 1.0 / (theta ** (torch.arange(0, hs, 2, dtype=torch.int64).float() / hs))
    freqs = pos.float()[..., None] * inv_freq  # (B,T,half)
    if not interleaved:
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[:, :, None, :], emb.sin()[:, :, None, :]
        out = xh * cos + rotate_half(xh) * sin
    else:
        c, s = freqs.cos()[:, :, None, :], freqs.sin()[:, :, None, :]
        x1, x2 = xh[..., 0::2], xh[..., 1::2]
        out = torch.stack((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1).flatten(-2)
    return out.reshape(B, T, C)


def attention(q, k, v, nh, nkv, causal, key_mask=None):
    B, T, C = q.shape
    Tk = k.shape[1]
    hs = C // nh
    q = q.view(B, T, nh, hs).transpose(1, 2)
    k = k.view(B, Tk, nkv, hs).transpose(1, 2).repeat_interleave(nh // nkv, dim=1)
    v = v.view(B, Tk, nkv, hs).transpose(1, 2).repeat_interleave(nh // nkv, dim=1)
    s = (q @ k.transpose(-1, -2)) * (1.0 / math.sqrt(hs))
    if causal:  # queries are the last T positions of the Tk keys
        s = s.masked_fill(torch.triu(torch.ones(T, Tk, dtype=torch.bool), Tk - T + 1), float("-inf"))
    if key_mask is not None:
        s = s.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    p = torch.softmax(s.float(), dim=-1)
    return (p @ v).transpose(1, 2).reshape(B, T, C)


def rmsnorm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def gru(x, h, w_ih, w_hh, b):
    return torch.gru_cell(x, h, w_ih, w_hh, b[:18], b[18:])


OPS = {
    "matmul_nt": lambda a, b: a @ b.T,
    "matmul_tn": lambda a, b: a.T @ b,
    "bmm": lambda a, b: a @ b,
    "add_bcast": lambda a, b: a + b,
    "sub_bcast": lambda a, b: a - b,
    "mul_bcast": lambda a, b: a * b,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_erf": lambda x: F.gelu(x),
    "silu": F.silu,
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softmax": lambda x: torch.softmax(x, -1),
    "log_softmax": lambda x: torch.log_softmax(x, -1),
    "swiglu": lambda g, u: F.silu(g) * u,
    "scale_rows": lambda x, s: x * s[..., None],
    "layernorm": lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b, 1e-5),
    "rmsnorm": lambda x, w: rmsnorm(x, w, 1e-6),
    "l2_normalize": lambda x: F.normalize(x, dim=-1, eps=1e-12),
    "embedding": lambda w: F.embedding(EMB_IDS, w),
    "concat": lambda a, b: torch.cat((a, b), dim=1),
    "rope_half": lambda x: rope(x, 8, 10000.0, ROPE_POS, False),
    "rope_interleaved": lambda x: rope(x, 8, 500000.0, ROPE_POS, True),
    "attention_causal_gqa": lambda q, k, v: attention(q, k, v, 4, 2, True),
    "attention_padded": lambda q, k, v: attention(q, k, v, 4, 2, False, load("attention_padded", "mask", (2, 70)) > 0.5),
    "attention_cached_mqa": lambda q, k, v: attention(q, k, v, 4, 1, True),
    "cross_entropy_mean": lambda x: F.cross_entropy(x, CE_T, ignore_index=-100),
    "cross_entropy_none": lambda x: F.cross_entropy(x, CE_T, ignore_index=-100, reduction="none"),
    "cross_entropy_weighted_sum": lambda x: (F.cross_entropy(x, CE_T, ignore_index=-100, reduction="none") * CE_W).sum(),
    "kl_div": lambda p, q: F.kl_div(torch.log_softmax(q / 2.0, -1), torch.log_softmax(p / 2.0, -1),
                                    reduction="batchmean", log_target=True) * 4.0,
    "mse": F.mse_loss,
    "infonce": lambda q, k: F.cross_entropy(q @ k.T / 0.05, torch.arange(q.shape[0])),
    "gru_cell": gru,
    "sum_mean": lambda x: torch.cat((x.sum().reshape(1), x.mean().reshape(1), x.sum(-1).reshape(-1))),
}


def run_op(name, nin, shapes, yshape):
    xs = [load(name, f"x{k}", shapes[k]).requires_grad_(True) for k in range(nin)]
    y = OPS[name](*xs)
    w = load(name, "w", y.shape)
    (y.double() * w.double()).sum().backward()
    print(f"{name}:")
    # absolute tolerance relative to the tensor's largest value (at least 1): f32
    # rounding in sums grows with the magnitudes summed
    def scale(t):
        return max(1.0, float(t.detach().abs().max()))
    check(f"{name} output", load(name, "y"), y, 2e-6 * scale(y), 2e-5)
    for k in range(nin):
        check(f"{name} grad x{k}", load(name, f"g{k}"), xs[k].grad, 2e-6 * scale(xs[k].grad), 2e-5)


def block_loss(P, ids, tg, V, C, L, NH, NKV, B, T):
    HS = C // NH
    pos = torch.arange(T)[None, :].expand(B, T)
    x = F.embedding(ids, P["model.embed_tokens.weight"])
    for l in range(L):
        pre = f"model.layers.{l}."
        h = rmsnorm(x, P[pre + "input_layernorm.weight"], 1e-5)
        q = rope(h @ P[pre + "self_attn.q_proj.weight"].T, HS, 10000.0, pos, False)
        k = rope(h @ P[pre + "self_attn.k_proj.weight"].T, HS, 10000.0, pos, False)
        v = h @ P[pre + "self_attn.v_proj.weight"].T
        x = x + attention(q, k, v, NH, NKV, True) @ P[pre + "self_attn.o_proj.weight"].T
        h2 = rmsnorm(x, P[pre + "post_attention_layernorm.weight"], 1e-5)
        m = F.silu(h2 @ P[pre + "mlp.gate_proj.weight"].T) * (h2 @ P[pre + "mlp.up_proj.weight"].T)
        x = x + m @ P[pre + "mlp.down_proj.weight"].T
    x = rmsnorm(x, P["model.norm.weight"], 1e-5)
    logits = (x @ P["lm_head.weight"].T).reshape(B * T, V)
    return F.cross_entropy(logits, tg, ignore_index=-100)


def run_block(V, C, L, NH, NKV, FF, B, T, params):
    names = [n for n, _ in params]
    P = {n: load(n, "init", s).requires_grad_(True) for n, s in params}
    ids = load("block", "ids").long().reshape(B, T)
    tg = load("block", "targets").long().reshape(-1)
    loss = block_loss(P, ids, tg, V, C, L, NH, NKV, B, T)
    loss.backward()
    print(f"Llama block (V={V} C={C} L={L} NH={NH} NKV={NKV} FF={FF} B={B} T={T}):")
    check("block loss", load("block", "loss"), loss, 1e-6, 1e-6)
    for n in names:
        g = P[n].grad
        scale = float(g.abs().max())
        check(f"grad {n}", load(n, "grad"), g, 2e-5 * scale + 1e-9, 1e-4)
    g0 = {n: load(n, "grad", s) for n, s in params}
    factors = [1.0, -0.5, 2.0]
    # AdamW exactly as torch.optim.AdamW (decay group 0.1, 1-D norm weights 0)
    p1 = {n: load(n, "init", s).clone() for n, s in params}
    decay = [p1[n] for n, s in params if len(s) == 2]
    no_decay = [p1[n] for n, s in params if len(s) == 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.95), eps=1e-8)
    for f in factors:
        for n, _ in params:
            p1[n].grad = g0[n] * f
        opt.step()
    print("AdamW, 3 steps (lr 1e-2, betas (0.9, 0.95), wd 0.1 / 0 by group):")
    check("adamw parameters (all tensors)", torch.cat([load(n, "adamw") for n, _ in params]),
          torch.cat([p1[n].reshape(-1) for n, _ in params]), 1e-7, 1e-6)
    # SGD with Nesterov momentum after clip_grad_norm_(0.5)
    p2 = {n: load(n, "init", s).clone() for n, s in params}
    opt = torch.optim.SGD([{"params": [p2[n] for n, s in params if len(s) == 2], "weight_decay": 0.01},
                           {"params": [p2[n] for n, s in params if len(s) == 1], "weight_decay": 0.0}],
                          lr=0.1, momentum=0.9, nesterov=True)
    norms = []
    for f in factors:
        for n, _ in params:
            p2[n].grad = g0[n] * f
        norms.append(float(torch.nn.utils.clip_grad_norm_(list(p2.values()), 0.5)))
        opt.step()
    print("SGD (momentum 0.9, Nesterov, wd 0.01 / 0 by group) with clip_grad_norm_(0.5), 3 steps:")
    check("clip_grad_norm_ total norms", load("block", "norms"), torch.tensor(norms), 1e-7, 1e-6)
    check("sgd parameters (all tensors)", torch.cat([load(n, "sgd") for n, _ in params]),
          torch.cat([p2[n].reshape(-1) for n, _ in params]), 1e-7, 1e-6)
    # six training steps: forward, backward, clip_grad_norm_(1.0), AdamW(3e-3)
    p3 = {n: load(n, "init", s).clone().requires_grad_(True) for n, s in params}
    opt = torch.optim.AdamW([{"params": [p3[n] for n, s in params if len(s) == 2], "weight_decay": 0.1},
                             {"params": [p3[n] for n, s in params if len(s) == 1], "weight_decay": 0.0}],
                            lr=3e-3, betas=(0.9, 0.95))
    losses = []
    for _ in range(6):
        opt.zero_grad(set_to_none=True)
        loss = block_loss(p3, ids, tg, V, C, L, NH, NKV, B, T)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p3.values()), 1.0)
        opt.step()
        losses.append(float(loss))
    print("training, 6 steps (forward, backward, clip_grad_norm_(1.0), AdamW 3e-3) from the same init:")
    print("  losses quarry " + " ".join(f"{v:.6f}" for v in load("block", "train_losses").tolist()))
    print("  losses torch  " + " ".join(f"{v:.6f}" for v in losses))
    check("training losses", load("block", "train_losses"), torch.tensor(losses), 1e-5, 1e-5)
    check("parameters after training (all tensors)", torch.cat([load(n, "trained") for n, _ in params]),
          torch.cat([p3[n].detach().reshape(-1) for n, _ in params]), 2e-5, 1e-4)


def main():
    lines = open(os.path.join(D, "manifest.txt")).read().splitlines()
    i = 0
    print(f"PyTorch {torch.__version__} reference, {torch.get_num_threads()} thread")
    while i < len(lines):
        f = lines[i].split()
        if f[0] == "op":
            name, nin = f[1], int(f[2])
            run_op(name, nin, [shape_of(s) for s in f[3:3 + nin]], shape_of(f[3 + nin]))
            i += 1
        elif f[0] == "block":
            V, C, L, NH, NKV, FF, B, T, npar = (int(v) for v in f[1:])
            params = []
            for j in range(npar):
                pf = lines[i + 1 + j].split()
                params.append((pf[1], shape_of(pf[2])))
            run_block(V, C, L, NH, NKV, FF, B, T, params)
            i += 1 + npar
        else:
            raise SystemExit(f"bad manifest line: {lines[i]}")
    if failures:
        print(f"{len(failures)} comparison(s) outside tolerance: {', '.join(failures)}")
        sys.exit(1)
    print("all comparisons within tolerance")


main()
