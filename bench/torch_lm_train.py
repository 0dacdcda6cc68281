"""PyTorch peer of `quarry lm train`: the same Llama architecture (Hugging Face
LlamaForCausalLM written out, eager attention), the same initial weights (read from
the run's init/model.safetensors), the same samples at every step (read from the
run's metrics.jsonl, written with --log-samples), the same loss, AdamW settings,
warm-up + cosine schedule, clipping and held-out evaluation.

usage: /usr/bin/python3 bench/torch_lm_train.py RUN_DIR [--threads 2] [--out FILE]
    RUN_DIR is a `quarry lm train --log-samples` output folder; its training
    settings are given again with the same flags quarry took:
    --steps --batch --seq-len --accum --lr --min-lr-ratio --warmup --weight-decay
    --beta1 --beta2 --clip --eval-every --eval-batches
Writes FILE (default RUN_DIR/torch_metrics.jsonl) with quarry's record layout and
prints "RESULT tokens_per_s=... cpu_s=... final_loss=... eval_loss=...".
Needs only Debian's python3-torch and python3-numpy (no transformers, no safetensors).
"""
import argparse
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        assert meta["dtype"] == "F32", (name, meta["dtype"])
        a, b = meta["data_offsets"]
        arr = np.frombuffer(data, dtype="<f4", count=(b - a) // 4, offset=base + a).reshape(meta["shape"])
        out[name] = torch.tensor(arr.copy())
    return out


def read_shard(path):
    """tokens of a quarry .qyt shard (format in include/quarry/train.h)"""
    with open(path, "rb") as f:
        head = f.read(128)
        assert head[:8] == b"QYTOKENS", path
        n_tokens, = struct.unpack("<Q", head[24:32])
        tok_off, = struct.unpack("<Q", head[40:48])
        f.seek(tok_off)
        toks = np.frombuffer(f.read(4 * n_tokens), dtype="<u4").astype(np.int64)
    return torch.tensor(toks)


class Llama(torch.nn.Module):
    def __init__(self, cfg, weights):
        super().__init__()
        self.cfg = cfg
        self.p = torch.nn.ParameterDict()
        for name, t in weights.items():
            self.p[name.replace(".", "__")] = torch.nn.Parameter(t)
        self.C = cfg["hidden_size"]
        self.L = cfg["num_hidden_layers"]
        self.NH = cfg["num_attention_heads"]
        self.NKV = cfg.get("num_key_value_heads", self.NH)
        self.HS = cfg.get("head_dim", self.C // self.NH)
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.theta = cfg.get("rope_theta", 10000.0)

    def w(self, name):
        return self.p[name.replace(".", "__")]

    def rms(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def forward(self, ids):
        B, T = ids.shape
        HS, NH, NKV = self.HS, self.NH, self.NKV
        inv = 1.0 / (self.theta ** (torch.arange(0, HS, 2, dtype=torch.int64).float() / HS))
        freqs = torch.outer(torch.arange(T).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((T, T), float("-inf")).triu(1)

        def rot(x):
            h = x.shape[-1] // 2
            return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

        x = F.embedding(ids, self.w("model.embed_tokens.weight"))
        for l in range(self.L):
            pre = f"model.layers.{l}."
            h = self.rms(x, self.w(pre + "input_layernorm.weight"))
            q = (h @ self.w(pre + "self_attn.q_proj.weight").T).view(B, T, NH, HS).transpose(1, 2)
            k = (h @ self.w(pre + "self_attn.k_proj.weight").T).view(B, T, NKV, HS).transpose(1, 2)
            v = (h @ self.w(pre + "self_attn.v_proj.weight").T).view(B, T, NKV, HS).transpose(1, 2)
            q = q * cos + rot(q) * sin
            k = k * cos + rot(k) * sin
            if NKV != NH:
                k = k.repeat_interleave(NH // NKV, dim=1)
                v = v.repeat_interleave(NH // NKV, dim=1)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(HS) + mask
            a = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, NH * HS)
            x = x + a @ self.w(pre + "self_attn.o_proj.weight").T
            h = self.rms(x, self.w(pre + "post_attention_layernorm.weight"))
            g = h @ self.w(pre + "mlp.gate_proj.weight").T
            u = h @ self.w(pre + "mlp.up_proj.weight").T
            x = x + (F.silu(g) * u) @ self.w(pre + "mlp.down_proj.weight").T
        x = self.rms(x, self.w("model.norm.weight"))
        head = self.w("lm_head.weight") if "lm_head__weight" in self.p else self.w("model.embed_tokens.weight")
        return x @ head.T


def lr_at(step, base, warmup, total, min_ratio):
    """transformers' cosine schedule with warm-up and a floor (quarry's qy_lr_at)"""
    if step < warmup:
        return base * step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    f = max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return base * (f * (1.0 - min_ratio) + min_ratio)


def windows(tokens, idx, T):
    x = torch.stack([tokens[i * T:i * T + T + 1] for i in idx])
    return x[:, :-1], x[:, 1:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--accum", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=-1)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.95)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--eval-batches", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    warmup = a.warmup if a.warmup >= 0 else a.steps // 20
    B, T = a.batch, a.seq_len
    with open(os.path.join(a.run, "init", "config.json")) as f:
        cfg = json.load(f)
    model = Llama(cfg, read_safetensors(os.path.join(a.run, "init", "model.safetensors")))
    train = read_shard(os.path.join(a.run, "data", "train.qyt"))
    val_path = os.path.join(a.run, "data", "val.qyt")
    val = read_shard(val_path) if os.path.exists(val_path) else None
    samples = {}
    with open(os.path.join(a.run, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if "samples" in r:
                samples[r["step"]] = r["samples"]
    assert len(samples) >= a.steps, "the quarry run must use --log-samples and reach --steps"
    # quarry's groups: norm gains (and biases) without weight decay, everything else with
    decay = [p for n, p in model.p.items() if not n.endswith("norm__weight")]
    no_decay = [p for n, p in model.p.items() if n.endswith("norm__weight")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(a.beta1, a.beta2), eps=1e-8, foreach=False)

    def evaluate():
        n = (val.numel() - 1) // T
        if a.eval_batches > 0:
            n = min(n, a.eval_batches * B)
        tot, cnt = 0.0, 0
        with torch.no_grad():
            for i in range(0, n, B):
                x, y = windows(val, range(i, min(n, i + B)), T)
                logits = model(x)
                tot += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
                cnt += y.numel()
        return tot / cnt

    out = open(a.out or os.path.join(a.run, "torch_metrics.jsonl"), "w")
    t_run, c_run = time.perf_counter(), time.process_time()
    train_s = 0.0
    loss_v, ev = float("nan"), float("nan")
    for step in range(a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        idx = samples[step + 1]
        losses = []
        for m in range(a.accum):
            x, y = windows(train, idx[m * B:(m + 1) * B], T)
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            (loss / a.accum).backward()
            losses.append(loss.item())
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip).item() if a.clip > 0 else 0.0
        lr = lr_at(step, a.lr, warmup, a.steps, a.min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        dt = time.perf_counter() - t0
        train_s += dt
        loss_v = sum(losses) / len(losses)
        rec = {"step": step + 1, "loss": loss_v, "lr": lr, "grad_norm": norm, "step_s": dt,
               "tokens_per_s": B * T * a.accum / dt, "elapsed_s": time.perf_counter() - t_run,
               "cpu_s": time.process_time() - c_run}
        out.write(json.dumps(rec) + "\n")
        if (step + 1) % 10 == 0:
            print(f"step {step + 1}/{a.steps} loss {loss_v:.4f} {B * T * a.accum / dt:.0f} tok/s", flush=True)
        if val is not None and ((a.eval_every and (step + 1) % a.eval_every == 0) or step + 1 == a.steps):
            ev = evaluate()
            out.write(json.dumps({"step": step + 1, "eval_loss": ev}) + "\n")
            print(f"step {step + 1} eval loss {ev:.4f}", flush=True)
        out.flush()
    tokens = a.steps * B * T * a.accum
    print(f"RESULT tokens_per_s={tokens / train_s:.1f} train_s={train_s:.1f} cpu_s={time.process_time() - c_run:.1f} "
          f"final_loss={loss_v:.4f} eval_loss={ev:.4f} torch={torch.__version__} threads={a.threads}")


if __name__ == "__main__":
    main()
