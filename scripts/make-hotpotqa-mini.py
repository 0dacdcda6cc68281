#!/usr/bin/env python3
"""Make data/hotpotqa-mini (BEIR layout) from the 400 HotpotQA dev questions in
../shared/data/hotpotqa/hotpotqa_dev_ircot500.part1-400.jsonl: every context
paragraph becomes a document (deduplicated by Wikipedia title, ids p1, p2, ...
in order of first appearance), every question a query, and its two supporting
paragraphs its relevant documents (score 1). Deterministic: same input, same bytes.
    python3 scripts/make-hotpotqa-mini.py ../shared/data/hotpotqa/hotpotqa_dev_ircot500.part1-400.jsonl data/hotpotqa-mini
"""
import json, os, sys

src, out = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(out, "qrels"), exist_ok=True)
ids, docs, queries, qrels = {}, [], [], []
for line in open(src, encoding="utf-8"):
    q = json.loads(line)
    qid = q["question_id"]
    queries.append({"_id": qid, "text": q["question_text"]})
    for c in q["contexts"]:
        title = c["title"]
        if title not in ids:
            ids[title] = "p%d" % (len(ids) + 1)
            docs.append({"_id": ids[title], "title": title, "text": c["paragraph_text"]})
        if c["is_supporting"]:
            qrels.append((qid, ids[title]))
with open(os.path.join(out, "corpus.jsonl"), "w", encoding="utf-8") as f:
    for d in docs:
        f.write(json.dumps(d, ensure_ascii=False) + "\n")
with open(os.path.join(out, "queries.jsonl"), "w", encoding="utf-8") as f:
    for q in queries:
        f.write(json.dumps(q, ensure_ascii=False) + "\n")
with open(os.path.join(out, "qrels", "test.tsv"), "w", encoding="utf-8") as f:
    f.write("query-id\tcorpus-id\tscore\n")
    for qid, did in sorted(set(qrels), key=lambda x: (qrels.index(x), x)):
        f.write("%s\t%s\t1\n" % (qid, did))
print("%d documents, %d queries, %d judgements" % (len(docs), len(queries), len(set(qrels))))
