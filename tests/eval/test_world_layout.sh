#!/usr/bin/env bash
# The world's files use the layouts of the real data in ../shared, so the same
# readers take both: CounterFact (EasyEdit JSON array), zsRE (MEND JSON lines),
# Super-NaturalInstructions task files, HotpotQA-style QA with golden answers,
# and BEIR (corpus {_id,title,text}, queries {_id,text}, qrels TSV).
set -euo pipefail
Q=${QUARRY_BIN:?QUARRY_BIN not set}
S=${QUARRY_SHARED:-../shared}
for f in counterfact/counterfact-val.json zsre/zsre_mend_train-1k.part1-800.jsonl super-natural-instructions/tasks; do
  [ -e "$S/data/$f" ] || { echo "skip: $S/data/$f not found (../shared is only in developer checkouts)"; exit 77; }
done
command -v python3 > /dev/null || { echo "skip: python3 not found"; exit 77; }
T=$(mktemp -d /tmp/qy-world-layout-XXXXXX)
trap 'rm -rf "$T"' EXIT
"$Q" world generate --seed 9 --entities 1000 --task-instances 10 --out "$T/w" -q
python3 - "$S/data" "$T/w" <<'PY'
import json, glob, sys
real, ours = sys.argv[1], sys.argv[2]
def keys_superset(name, real_rec, our_rec):
    missing = set(real_rec) - set(our_rec)
    assert not missing, f"{name}: keys of the real data missing: {sorted(missing)}"
    for k in real_rec:
        assert type(real_rec[k]) == type(our_rec[k]), f"{name}: {k} is {type(our_rec[k]).__name__}, real data has {type(real_rec[k]).__name__}"
# CounterFact: a JSON array of flat records
cf_real = json.load(open(real + "/counterfact/counterfact-val.json"))
cf = json.load(open(ours + "/edits/counterfact.json"))
assert isinstance(cf, list) and len(cf) == 100
for r in cf: keys_superset("counterfact", cf_real[0], r)
# zsRE: JSON lines
zs_real = json.loads(open(real + "/zsre/zsre_mend_train-1k.part1-800.jsonl").readline())
for line in open(ours + "/edits/zsre.jsonl"):
    r = json.loads(line)
    keys_superset("zsre", zs_real, r)
    assert r["loc"].startswith("nq question: ") and r["cond"] == f'{r["pred"]} >> {r["alt"]} || {r["src"]}'
# SuperNI: same top-level keys in the same order, same instance layout
ni_real = json.load(open(sorted(glob.glob(real + "/super-natural-instructions/tasks/*.json"))[0]))
tasks = sorted(glob.glob(ours + "/tasks/task*_world_*.json"))
assert len(tasks) >= 5, tasks
for f in tasks:
    t = json.load(open(f))
    assert list(t) == list(ni_real), f"{f}: keys {list(t)} != {list(ni_real)}"
    for k in ni_real:
        assert type(t[k]) == type(ni_real[k]), f"{f}: {k}"
    keys_superset(f + " instance", ni_real["Instances"][0], t["Instances"][0])
    keys_superset(f + " positive example", ni_real["Positive Examples"][0], t["Positive Examples"][0])
    assert len(t["Instances"]) == 10 and all(isinstance(o, str) for i in t["Instances"] for o in i["output"])
# BEIR corpus, queries, qrels
for line in open(ours + "/corpus.jsonl"):
    d = json.loads(line); assert {"_id", "title", "text"} <= set(d)
ids = set()
for line in open(ours + "/queries.jsonl"):
    q = json.loads(line); assert {"_id", "text"} <= set(q); ids.add(q["_id"])
for split in ("train", "dev", "test"):
    rows = open(ours + f"/qrels/{split}.tsv").read().splitlines()
    assert rows[0] == "query-id\tcorpus-id\tscore"
    for row in rows[1:]:
        qid, did, score = row.split("\t"); assert qid in ids and int(score) == 1
    for line in open(ours + f"/qa/{split}.jsonl"):
        q = json.loads(line)
        assert {"id", "question", "golden_answers", "supporting_docs", "decomposition"} <= set(q)
        assert all(isinstance(a, str) for a in q["golden_answers"])
print("ok: layouts match CounterFact, zsRE, SuperNI and BEIR")
PY

# Names tokenise into several tokens under the real GPT-2 BPE (OpenAI's encoder.json and vocab.bpe).
# Names are ASCII letters and spaces, so GPT-2's pre-split is " ?[A-Za-z]+" and the byte map is the
# identity except the space, which is "\u0120".
[ -e "$S/data/gpt2-bpe/vocab.bpe" ] || { echo "skip: GPT-2 BPE files not found"; exit 0; }
python3 - "$S/data/gpt2-bpe" "$T/w/entities.jsonl" <<'PY'
import json, re, sys
bpe_dir, entities = sys.argv[1], sys.argv[2]
encoder = json.load(open(bpe_dir + "/encoder.json"))
merges = [tuple(l.split()) for l in open(bpe_dir + "/vocab.bpe").read().split("\n")[1:] if l.strip()]
rank = {m: i for i, m in enumerate(merges)}
def bpe(word):
    parts = list(word)
    while len(parts) > 1:
        pairs = [(rank.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
        r, i = min(pairs)
        if r == 1 << 30: break
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return parts
def tokens(text):
    out = []
    for piece in re.findall(r" ?[A-Za-z]+", text):
        out += bpe(piece.replace(" ", "\u0120"))
    assert all(t in encoder for t in out), out
    return out
assert tokens(" hello world") == ["\u0120hello", "\u0120world"]  # both are single GPT-2 tokens
counts = []
for line in open(entities):
    e = json.loads(line)
    n = len(tokens(" " + e["name"]))  # as the name appears inside a sentence
    assert n >= 2, (e["name"], tokens(" " + e["name"]))
    counts.append(n)
print(f"ok: every name is >= 2 GPT-2 tokens (mean {sum(counts) / len(counts):.2f}, min {min(counts)}, max {max(counts)})")
PY
