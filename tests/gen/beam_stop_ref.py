#!/usr/bin/python3
"""beam_stop_ref.py -- an independent reference for beam search with stop strings.

Written for quarry's tests from transformers' (4.x, sequential) beam-search rules,
with stop strings treated exactly as an EOS token is there: a candidate whose
decoded new text contains a stop string is finished; when it ranks among the
first num_beams candidates of its step it joins the finished hypotheses with score
sum(log-probs) / generated_length ** length_penalty, otherwise it is dropped.
The model is a Llama written here in PyTorch from the fixture's config.json and
model.safetensors (read with numpy), run without a KV cache; decoding follows the
fixture's byte-level tokenizer.json. Without stop strings the same code must give
the fixture's transformers beam output (checked first, as a sanity check).

usage: beam_stop_ref.py MODEL_DIR PROMPT_IDS NUM_BEAMS MAX_NEW STOP [STOP...]
prints JSON: {"sequences": [{"tokens", "score", "text"}]} best first
"""
import json
import math
import struct
import sys

import numpy as np
import torch


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[base + a : base + b], dtype="<f4").reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


class Llama:
    def __init__(self, d):
        self.c = json.load(open(d + "/config.json"))
        self.w = load_safetensors(d + "/model.safetensors")
        c = self.c
        self.nh, self.nkv = c["num_attention_heads"], c["num_key_value_heads"]
        self.hd = c.get("head_dim") or c["hidden_size"] // self.nh
        rp = c.get("rope_parameters") or {}
        self.theta = rp.get("rope_theta", c.get("rope_theta", 10000.0))
        self.eps = c["rms_norm_eps"]

    def norm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x, T):
        half = self.hd // 2
        inv = 1.0 / (self.theta ** (torch.arange(0, half, dtype=torch.float32) * 2 / self.hd))
        ang = torch.outer(torch.arange(T, dtype=torch.float32), inv)
        cos = torch.cat([ang.cos(), ang.cos()], -1)
        sin = torch.cat([ang.sin(), ang.sin()], -1)
        rot = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos + rot * sin

    def next_logits(self, ids):
        """logits for the token after ids (one sequence, full recomputation)"""
        w, T = self.w, len(ids)
        x = w["model.embed_tokens.weight"][torch.tensor(ids)]
        mask = torch.full((T, T), float("-inf")).triu(1)
        for i in range(self.c["num_hidden_layers"]):
            p = "model.layers.%d." % i
            h = self.norm(x, w[p + "input_layernorm.weight"])
            q = (h @ w[p + "self_attn.q_proj.weight"].T).view(T, self.nh, self.hd).transpose(0, 1)
            k = (h @ w[p + "self_attn.k_proj.weight"].T).view(T, self.nkv, self.hd).transpose(0, 1)
            v = (h @ w[p + "self_attn.v_proj.weight"].T).view(T, self.nkv, self.hd).transpose(0, 1)
            q, k = self.rope(q, T), self.rope(k, T)
            rep = self.nh // self.nkv
            k, v = k.repeat_interleave(rep, 0), v.repeat_interleave(rep, 0)
            att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(self.hd) + mask, -1)
            o = (att @ v).transpose(0, 1).reshape(T, self.nh * self.hd)
            x = x + o @ w[p + "self_attn.o_proj.weight"].T
            h = self.norm(x, w[p + "post_attention_layernorm.weight"])
            g = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T)
            x = x + (g * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
        x = self.norm(x, w["model.norm.weight"])
        head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
        return x[-1] @ head.T


def byte_decoder():
    """GPT-2's byte <-> printable-character table, inverted"""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


class Decoder:
    def __init__(self, d):
        t = json.load(open(d + "/tokenizer.json"))
        self.tok = {i: s for s, i in t["model"]["vocab"].items()}
        self.special = {a["id"] for a in t["added_tokens"] if a.get("special")}
        for a in t["added_tokens"]:
            self.tok[a["id"]] = a["content"]
        self.bd = byte_decoder()

    def __call__(self, ids):  # skip special tokens, as quarry's CLI decodes
        b = bytes(self.bd[ch] for i in ids if i not in self.special for ch in self.tok[i])
        return b.decode("utf-8", errors="replace")


def beam_search(model, dec, prompt, nb, max_new, stops, lp=1.0):
    def stopped(gen):
        text = dec(gen)
        return any(s in text for s in stops)

    beams = [(0.0, [])]  # (sum of log-probs, generated tokens)
    finished = []  # (normalised score, tokens)
    for t in range(max_new):
        cands = []
        for bi, (s, gen) in enumerate(beams):
            lps = torch.log_softmax(model.next_logits(prompt + gen).double(), -1)
            for v in range(lps.shape[0]):
                cands.append((s + lps[v].item(), bi * lps.shape[0] + v, bi, v))
        cands.sort(key=lambda c: (-c[0], c[1]))
        nxt = []
        for rank, (s, _, bi, v) in enumerate(cands[: 2 * nb]):
            gen = beams[bi][1] + [v]
            if stops and stopped(gen):  # finishes like an EOS
                if rank < nb:
                    finished.append((s / len(gen) ** lp, gen))
                continue
            nxt.append((s, gen))
            if len(nxt) == nb:
                break
        beams = nxt
        finished.sort(key=lambda h: -h[0])
        finished = finished[:nb]
        # transformers' BeamHypotheses.is_done (early_stopping=False)
        if len(finished) == nb and finished[-1][0] >= beams[0][0] / (t + 1) ** lp:
            return finished
    for s, gen in beams:  # max length: the running beams finish
        finished.append((s / len(gen) ** lp, gen))
    finished.sort(key=lambda h: -h[0])
    return finished[:nb]


def main():
    d, prompt = sys.argv[1], [int(x) for x in sys.argv[2].split(",")]
    nb, max_new, stops = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
    torch.set_grad_enabled(False)
    model, dec = Llama(d), Decoder(d)
    g = json.load(open(d + "/golden.json"))["beam"]
    if prompt == g["prompt"][0] and nb == g["num_beams"]:  # sanity: transformers' own output
        n = len(g["sequences"][0]) - len(prompt)
        ref = beam_search(model, dec, prompt, nb, n, [])
        for (s, gen), want, ws in zip(ref, g["sequences"], g["sequences_scores"]):
            assert gen == want[len(prompt) :], ("reference beam differs from transformers", gen, want)
            assert abs(s - ws) < 1e-4, ("reference beam score", s, ws)
    out = []
    for s, gen in beam_search(model, dec, prompt, nb, max_new, stops):
        text = dec(gen)
        cut = min([text.find(x) for x in stops if x in text] or [len(text)])
        out.append({"tokens": gen, "score": s, "text": text[:cut]})
    print(json.dumps({"sequences": out}))


if __name__ == "__main__":
    main()
