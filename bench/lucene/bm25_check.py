#!/usr/bin/python3
"""bm25_check.py — Lucene 8's BM25 scoring re-derived from its analyzed tokens,
to pin down the formula quarry must follow and to measure what Lucene's lossy
document-length encoding changes.

Inputs: tokens of each document and query as Lucene's EnglishAnalyzer gives them
(LuceneTokens.java), Lucene's own run (LuceneBench.java), and TREC qrels.
It scores every document for every query twice, in float32 as Lucene does:
  - "lossy": document length through SmallFloat.intToByte4/byte4ToInt (Lucene's norms)
  - "exact": the true document length
and reports (1) how close "lossy" is to Lucene's scores and rankings and (2) both
runs, written as TREC runs next to Lucene's for `quarry eval`.

usage: bm25_check.py DOC_TOKENS QUERY_TOKENS LUCENE_RUN OUT_DIR [--k1 0.9] [--b 0.4] [--depth 1000]
"""
import argparse
import collections
import math
import os

import numpy as np

f32 = np.float32


def int_to_byte4(i):
    """Lucene 8 SmallFloat.intToByte4: exact below 24, then 24 + a float with a
    3-bit mantissa (implicit leading 1) and a 5-bit exponent, truncated."""
    if i < 24:
        return i
    v = i - 24
    nbits = v.bit_length()
    if nbits < 4:
        return 24 + v
    shift = nbits - 4
    return 24 + (((v >> shift) & 0x07) | ((shift + 1) << 3))


def byte4_to_int(b):
    if b < 24:
        return b
    v = b - 24
    bits, shift = v & 0x07, (v >> 3) - 1
    return 24 + (bits if shift == -1 else (bits | 0x08) << shift)


def read_tokens(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            ident, _, toks = line.partition("\t")
            out.append((ident, toks.split()))
    return out


def read_run(path):
    run = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            q, _, d, _, s, _ = line.split()[:6]
            run[q].append((d, float(s)))
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("doc_tokens")
    ap.add_argument("query_tokens")
    ap.add_argument("lucene_run")
    ap.add_argument("out_dir")
    ap.add_argument("--k1", type=float, default=0.9)
    ap.add_argument("--b", type=float, default=0.4)
    ap.add_argument("--depth", type=int, default=1000)
    a = ap.parse_args()

    docs = read_tokens(a.doc_tokens)
    queries = read_tokens(a.query_tokens)
    postings = collections.defaultdict(list)  # term -> [(doc index, tf)]
    lengths = []
    for i, (_, toks) in enumerate(docs):
        lengths.append(len(toks))
        for t, tf in collections.Counter(toks).items():
            postings[t].append((i, tf))
    # Lucene's collection statistics: documents with at least one token, all tokens
    doc_count = sum(1 for n in lengths if n > 0)
    sum_ttf = sum(lengths)
    k1, b = f32(a.k1), f32(a.b)
    avgdl = f32(sum_ttf / doc_count)  # computed in double, stored as float
    norm_cache = {}  # decoded length -> 1 / (k1 * ((1 - b) + b * dl / avgdl)) in float32
    for n in set(lengths) | {byte4_to_int(int_to_byte4(n)) for n in lengths}:
        norm_cache[n] = f32(1) / (k1 * ((f32(1) - b) + b * f32(n) / avgdl))
    lossy_len = [byte4_to_int(int_to_byte4(n)) for n in lengths]
    n_lossy_differs = sum(1 for n, m in zip(lengths, lossy_len) if n != m)

    def score_all(qtoks, dl):
        acc = collections.defaultdict(float)  # Lucene sums clause scores in double
        for t, qtf in collections.Counter(qtoks).items():
            if t not in postings:
                continue
            df = len(postings[t])
            idf = f32(math.log(1 + (doc_count - df + 0.5) / (df + 0.5)))
            weight = f32(qtf) * idf  # BoostQuery(qtf) * idf
            for d, tf in postings[t]:
                s = weight - weight / (f32(1) + f32(tf) * norm_cache[dl[d]])
                acc[d] += float(f32(s))
        return {d: float(f32(s)) for d, s in acc.items()}

    lucene = read_run(a.lucene_run)
    os.makedirs(a.out_dir, exist_ok=True)
    stats = {}
    for name, dl in (("lossy", lossy_len), ("exact", lengths)):
        max_abs = 0.0
        same_top10 = 0
        compared = 0
        with open(os.path.join(a.out_dir, f"bm25_{name}.run"), "w") as out:
            for qid, qtoks in queries:
                scores = score_all(qtoks, dl)
                ranked = sorted(scores.items(), key=lambda x: (-x[1], x[0]))[: a.depth]
                for r, (d, s) in enumerate(ranked, 1):
                    out.write(f"{qid} Q0 {docs[d][0]} {r} {s:.6f} bm25-{name}\n")
                mine = {docs[d][0]: s for d, s in scores.items()}
                luc = lucene.get(qid, [])
                for d, s in luc:
                    if d in mine:
                        max_abs = max(max_abs, abs(mine[d] - s))
                if luc:
                    compared += 1
                    l10 = [d for d, _ in luc[:10]]
                    m10 = [docs[d][0] for d, _ in ranked[:10]]
                    same_top10 += set(l10) == set(m10)
        stats[name] = (max_abs, same_top10, compared)
    print(f"documents {len(docs)}, with tokens {doc_count}, tokens {sum_ttf}, avgdl {float(avgdl):.6f}")
    print(f"documents whose encoded length differs from the true one: {n_lossy_differs}")
    for name, (max_abs, same, n) in stats.items():
        print(f"{name:5s} lengths: max |score - Lucene's score| = {max_abs:.2e} (Lucene writes 6 decimals); "
              f"same top-10 set as Lucene on {same}/{n} queries")


if __name__ == "__main__":
    main()
