#!/bin/bash
# test_lucene_parity.sh — quarry's default analyzer and BM25 against Lucene 8.7
# (Debian liblucene8-java, EnglishAnalyzer + BM25Similarity(0.9, 0.4)) on the
# Cranfield collection from ../shared: the analyzer must give the same tokens
# for every document and query, and the top-1000 runs must hold the same
# documents at the same ranks with scores within 1e-5 (both print 6 decimals).
set -u
Q=${QUARRY_BIN:?QUARRY_BIN not set}
SRC=${QUARRY_SOURCE_DIR:?}
DATA=${QUARRY_SHARED:-/nonexistent}/data/cranfield
JARS=/usr/share/java/lucene-core-8.7.0.jar:/usr/share/java/lucene-analyzers-common-8.7.0.jar
[ -f "$DATA/corpus.jsonl" ] || { echo "skip: $DATA not found (needs ../shared)"; exit 77; }
command -v javac > /dev/null && command -v java > /dev/null || { echo "skip: no Java compiler"; exit 77; }
for j in ${JARS//:/ }; do [ -f "$j" ] || { echo "skip: $j missing (apt-get install liblucene8-java)"; exit 77; }; done
T=$(mktemp -d /tmp/quarry-lucene-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

javac -d "$T" -cp "$JARS" "$SRC/tests/index/AnalyzeDump.java" "$SRC/tests/index/LuceneBM25.java" || fail "javac"

# 1. analyzer: title + text of every document, and every query
python3 - "$DATA" > "$T/lines.txt" <<'PY' || fail "python3"
import json, sys
d = sys.argv[1]
for l in open(d + "/corpus.jsonl", encoding="utf-8"):
    o = json.loads(l); print((o.get("title", "") + " " + o["text"]).replace("\n", " "))
for l in open(d + "/queries.jsonl", encoding="utf-8"):
    print(json.loads(l)["text"].replace("\n", " "))
PY
java -cp "$JARS:$T" AnalyzeDump < "$T/lines.txt" > "$T/lucene.tok" || fail "lucene analyze"
"$Q" index analyze < "$T/lines.txt" > "$T/quarry.tok" || fail "quarry analyze"
if ! cmp -s "$T/lucene.tok" "$T/quarry.tok"; then
    diff "$T/lucene.tok" "$T/quarry.tok" | head -6
    fail "analyzer tokens differ from Lucene's EnglishAnalyzer"
fi

# 2. BM25 runs
java -cp "$JARS:$T" LuceneBM25 "$DATA/corpus.jsonl" "$DATA/queries.jsonl" 1000 0.9 0.4 > "$T/lucene.run" || fail "lucene search"
"$Q" index build -i "$T/idx" --quiet "$DATA/corpus.jsonl" || fail "quarry build"
"$Q" search -i "$T/idx" -Q "$DATA/queries.jsonl" -k 1000 --quiet -o "$T/quarry.run" || fail "quarry search"
python3 - "$T/lucene.run" "$T/quarry.run" <<'PY' || fail "runs differ"
import sys
def load(p):
    return {(q, d): (int(r), float(s)) for q, _, d, r, s, _ in (l.split() for l in open(p))}
a, b = load(sys.argv[1]), load(sys.argv[2])
if set(a) != set(b):
    sys.exit("different (query, document) pairs: %d only in Lucene, %d only in quarry" % (len(set(a) - set(b)), len(set(b) - set(a))))
ranks = sum(a[k][0] != b[k][0] for k in a)
worst = max(abs(a[k][1] - b[k][1]) for k in a)
print("%d pairs, %d rank differences, largest score difference %.2g" % (len(a), ranks, worst))
if ranks or worst > 1e-5:
    sys.exit(1)
PY
echo "ok: analyzer and BM25 run identical to Lucene 8.7 on Cranfield"
