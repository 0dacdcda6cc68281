#!/bin/bash
# test_lucene_parity.sh — quarry's default analyzer and BM25 against Lucene 8.7
# (Debian liblucene8-java: EnglishAnalyzer + BM25Similarity(0.9, 0.4)) on the
# vendored data/hotpotqa-mini and, when ../shared is there, on Cranfield: the
# analyzer must give the same tokens for every document and query, and the
# top-100 runs must hold the same documents at the same ranks with scores
# within 1e-5 (both print 6 decimals).
set -u
Q=${QUARRY_BIN:?QUARRY_BIN not set}
SRC=${QUARRY_SOURCE_DIR:?}
JARS=/usr/share/java/lucene-core-8.7.0.jar:/usr/share/java/lucene-analyzers-common-8.7.0.jar
command -v javac > /dev/null && command -v java > /dev/null || { echo "skip: no Java compiler"; exit 77; }
for j in ${JARS//:/ }; do [ -f "$j" ] || { echo "skip: $j missing (apt-get install liblucene8-java)"; exit 77; }; done
command -v python3 > /dev/null || { echo "skip: no python3"; exit 77; }
T=$(mktemp -d /tmp/quarry-lucene-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# compiled once per build folder (javac is slow on a loaded machine)
CLS=${QUARRY_BUILD_DIR:-$T}/lucene-test-classes
if [ ! -f "$CLS/LuceneBM25.class" ] || [ "$SRC/tests/index/LuceneBM25.java" -nt "$CLS/LuceneBM25.class" ]; then
    mkdir -p "$CLS" && javac -d "$CLS" -cp "$JARS" "$SRC/tests/index/LuceneBM25.java" || fail "javac"
fi

compare() { # name corpus.jsonl queries.jsonl (Lucene's run and tokens already written)
    local name=$1 corpus=$2 queries=$3
    # the same texts as Lucene analyzed: title + " " + text per document, then each query
    python3 - "$corpus" "$queries" > "$T/$name.lines" <<'PY' || fail "python3"
import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(l); print((o.get("title", "") + " " + o["text"]).replace("\n", " ").replace("\r", " "))
for l in open(sys.argv[2], encoding="utf-8"):
    print(json.loads(l)["text"].replace("\n", " ").replace("\r", " "))
PY
    "$Q" index analyze < "$T/$name.lines" > "$T/$name.quarry.tok" || fail "$name: quarry analyze"
    if ! cmp -s "$T/$name.lucene.tok" "$T/$name.quarry.tok"; then
        diff "$T/$name.lucene.tok" "$T/$name.quarry.tok" | head -6
        fail "$name: analyzer tokens differ from Lucene's EnglishAnalyzer"
    fi
    "$Q" index build -i "$T/$name.idx" --quiet "$corpus" || fail "$name: quarry build"
    "$Q" search -i "$T/$name.idx" -Q "$queries" -k 100 --quiet -o "$T/$name.quarry.run" || fail "$name: quarry search"
    python3 - "$T/$name.lucene.run" "$T/$name.quarry.run" "$name" <<'PY' || fail "$name: runs differ"
import sys
def load(p):
    return {(q, d): (int(r), float(s)) for q, _, d, r, s, _ in (l.split() for l in open(p))}
a, b = load(sys.argv[1]), load(sys.argv[2])
if set(a) != set(b):
    sys.exit("different (query, document) pairs: %d only in Lucene, %d only in quarry" % (len(set(a) - set(b)), len(set(b) - set(a))))
ranks = sum(a[k][0] != b[k][0] for k in a)
worst = max(abs(a[k][1] - b[k][1]) for k in a)
print("%s: %d pairs, %d rank differences, largest score difference %.2g" % (sys.argv[3], len(a), ranks, worst))
if ranks or worst > 1e-5:
    sys.exit(1)
PY
}

HP=$SRC/data/hotpotqa-mini
CRAN=${QUARRY_SHARED:-/nonexistent}/data/cranfield
sets=(hotpotqa-mini "$HP/corpus.jsonl" "$HP/queries.jsonl")
if [ -f "$CRAN/corpus.jsonl" ]; then
    sets+=(cranfield "$CRAN/corpus.jsonl" "$CRAN/queries.jsonl")
else
    echo "note: $CRAN not found, Cranfield comparison skipped"
fi
args=()
for ((i = 0; i < ${#sets[@]}; i += 3)); do
    args+=("${sets[i + 1]}" "${sets[i + 2]}" "$T/${sets[i]}.lucene.run" "$T/${sets[i]}.lucene.tok")
done
java -cp "$JARS:$CLS" LuceneBM25 --many 100 0.9 0.4 "${args[@]}" || fail "lucene"
for ((i = 0; i < ${#sets[@]}; i += 3)); do
    compare "${sets[i]}" "${sets[i + 1]}" "${sets[i + 2]}"
done
echo "ok: analyzer and BM25 runs identical to Lucene 8.7"
