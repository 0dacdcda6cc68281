#!/usr/bin/python3
"""bench/rec_sasrec_summary.py OUT: the tables of bench/rec_sasrec_vs_torch.sh (test metrics of 3 seeds,
per-epoch train loss and validation curves of both engines, CPU per epoch)."""
import json, sys, statistics as st
d = sys.argv[1]
def cpu(f): return sum(float(x) for x in open(f).read().split()[-2:])
def ms(v): return f"{st.mean(v):.4f} ± {st.stdev(v):.4f}"
q = [json.load(open(f"{d}/quarry_{s}.json")) for s in (1, 2, 3)]
t = [json.load(open(f"{d}/torch_{s}.json"))["runs"][0] for s in (1, 2, 3)]
print("| | HR@10 | NDCG@10 | MRR@10 | best epochs |")
print("|---|---|---|---|---|")
print(f"| quarry | {ms([r['test']['hit@10'] for r in q])} | {ms([r['test']['ndcg@10'] for r in q])} | {ms([r['test']['mrr@10'] for r in q])} | {[r['best_epoch'] for r in q]} |")
print(f"| PyTorch | {ms([r['masked_hit@10'] for r in t])} | {ms([r['masked_ndcg@10'] for r in t])} | {ms([r['masked_mrr@10'] for r in t])} | {[r['best_epoch'] for r in t]} |")
print()
print("| epoch | quarry train loss | PyTorch train loss | quarry valid MRR@10 | PyTorch valid MRR@10 | quarry valid HR@10 | PyTorch valid HR@10 |")
print("|---|---|---|---|---|---|---|")
n = min(min(len(r["epochs"]) for r in q), min(len(r["epochs"]) for r in t))
for e in range(n):
    row = [e + 1]
    for key in ("loss", "valid_mrr@10", "valid_hit@10"):
        for runs in (q, t):
            row.append(ms([r["epochs"][e][key] for r in runs]))
    print("| " + " | ".join(str(x) for x in row) + " |")
qc = [cpu(f"{d}/quarry_{s}.cpu") / len(r["epochs"]) for s, r in zip((1, 2, 3), q)]
tc = [cpu(f"{d}/torch_{s}.cpu") / r["epochs_run"] for s, r in zip((1, 2, 3), t)]
print(f"\nCPU s per epoch (incl. evaluation): quarry {st.mean(qc):.1f}, PyTorch {st.mean(tc):.1f}")
