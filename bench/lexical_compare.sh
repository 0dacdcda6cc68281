#!/usr/bin/env bash
# lexical_compare.sh — quarry's lexical search against its peers on one corpus:
# Lucene 8 (EnglishAnalyzer + BM25Similarity), Xapian (BM25Weight), SQLite FTS5
# (bm25()), and quarry itself once `quarry index build` and `quarry search` exist.
# Each peer indexes the corpus, writes a TREC run (top 1000) for the queries and
# reports its indexing speed, index size, single-thread latency (top-10 and
# top-1000, after a warm-up) and QPS on 2 threads. Every run is evaluated with
# `quarry eval` (nDCG@10, MAP, R@100). Prints two markdown tables and writes them,
# with each peer's JSON and run, to the output folder.
#
# usage: bench/lexical_compare.sh [--data DIR] [--out DIR] [--k1 0.9] [--b 0.4] [--quick]
#   --data DIR   a folder with corpus.jsonl, queries.jsonl, qrels.tsv (BEIR layout);
#                default ../shared/data/cranfield
#   --out DIR    where indexes, runs and results go; default build-bench/lexical
#   --quick      short warm-up and timing (for a smoke test; numbers are not for the record)
# env: QUARRY_BIN (default build/quarry); QUARRY_INDEX_CMD / QUARRY_SEARCH_CMD override
#      how quarry is run (see quarry_run below; a search command that also writes
#      OUT/quarry.bench.json with the peers' timing keys fills quarry's speed row);
#      THREADS for QPS (default 2).
# needs: javac/java + liblucene8-java, g++ + libxapian-dev, cc + libsqlite3-dev, libcjson-dev, python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
data="$root/../shared/data/cranfield"
out="$root/build-bench/lexical"
k1=0.9 b=0.4 warm=10 rounds=5 qps_s=10
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --k1) k1=$2; shift 2 ;;
    --b) b=$2; shift 2 ;;
    --quick) warm=2 rounds=1 qps_s=2; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "lexical_compare.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
threads=${THREADS:-2}
quarry=${QUARRY_BIN:-$root/build/quarry}
for f in corpus.jsonl queries.jsonl qrels.tsv; do
  [ -f "$data/$f" ] || { echo "lexical_compare.sh: $data/$f not found (--data DIR)" >&2; exit 1; }
done
[ -x "$quarry" ] || { echo "lexical_compare.sh: $quarry not built (cmake --build build)" >&2; exit 1; }
mkdir -p "$out"
# BEIR qrels.tsv (header, query-id corpus-id score) -> TREC qrels, values unchanged
awk -F'\t' 'NR > 1 && NF >= 3 { print $1 " 0 " $2 " " $3 }' "$data/qrels.tsv" >"$out/qrels.trec"
common=(--corpus "$data/corpus.jsonl" --queries "$data/queries.jsonl" --warmup-s "$warm" --rounds "$rounds"
        --qps-threads "$threads" --qps-s "$qps_s")
peers=()

# ---- Lucene
jars=$(ls /usr/share/java/lucene-core-8*.jar /usr/share/java/lucene-analyzers-common-8*.jar 2>/dev/null | tr '\n' ':' || true)
if command -v javac >/dev/null && [ -n "$jars" ]; then
  echo "== Lucene" >&2
  mkdir -p "$out/lucene-classes"
  javac -d "$out/lucene-classes" -cp "$jars" "$here/lucene/LuceneBench.java" "$here/lucene/LuceneTokens.java"
  java -cp "$out/lucene-classes:$jars" LuceneBench "${common[@]}" --k1 "$k1" --b "$b" \
    --index "$out/lucene.idx" --run "$out/lucene.run" >"$out/lucene.json"
  peers+=(lucene)
  # Lucene's BM25 re-derived from its tokens, with lossy and exact document lengths
  if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    java -cp "$out/lucene-classes:$jars" LuceneTokens "$data/corpus.jsonl" >"$out/lucene_doc_tokens.tsv"
    java -cp "$out/lucene-classes:$jars" LuceneTokens --query "$data/queries.jsonl" >"$out/lucene_query_tokens.tsv"
    /usr/bin/python3 "$here/lucene/bm25_check.py" --k1 "$k1" --b "$b" "$out/lucene_doc_tokens.tsv" \
      "$out/lucene_query_tokens.tsv" "$out/lucene.run" "$out" | tee "$out/bm25_check.txt" >&2
    for v in lossy exact; do
      echo "BM25 re-derived, $v lengths: $("$quarry" eval -m ndcg_cut.10 -m map -m recall.100 "$out/qrels.trec" \
        "$out/bm25_$v.run" | awk '{printf "%s %s  ", $1, $3}')" | tee -a "$out/bm25_check.txt" >&2
    done
  fi
else
  echo "skip Lucene: needs javac (default-jdk-headless) and liblucene8-java" >&2
fi

# ---- Xapian
if command -v xapian-config >/dev/null && command -v g++ >/dev/null; then
  echo "== Xapian" >&2
  # shellcheck disable=SC2046
  g++ -O2 -std=c++17 "$here/xapian/xapian_bench.cc" -o "$out/xapian_bench" $(xapian-config --cxxflags --libs) -lcjson -pthread
  "$out/xapian_bench" "${common[@]}" --k1 "$k1" --b "$b" --index "$out/xapian.idx" --run "$out/xapian.run" >"$out/xapian.json"
  peers+=(xapian)
else
  echo "skip Xapian: needs libxapian-dev and g++" >&2
fi

# ---- SQLite FTS5
if [ -f /usr/include/sqlite3.h ]; then
  echo "== SQLite FTS5" >&2
  cc -O2 -std=c11 "$here/sqlite_fts5/fts5_bench.c" -o "$out/fts5_bench" -lsqlite3 -lcjson -lpthread
  "$out/fts5_bench" "${common[@]}" --index "$out/fts5.db" --run "$out/fts5.run" >"$out/fts5.json"
  peers+=(fts5)
else
  echo "skip SQLite FTS5: needs libsqlite3-dev" >&2
fi

# ---- quarry (the index and search commands come from the search work of issue 9)
quarry_run() {
  local idx="$out/quarry.idx"
  rm -rf "$idx"
  local index_cmd=${QUARRY_INDEX_CMD:-"$quarry index build --k1 $k1 --b $b $data/corpus.jsonl $idx"}
  local search_cmd=${QUARRY_SEARCH_CMD:-"$quarry search --index $idx --queries $data/queries.jsonl --k 1000 --run $out/quarry.run"}
  local t0 t1
  t0=$(date +%s.%N)
  eval "$index_cmd" >&2
  t1=$(date +%s.%N)
  eval "$search_cmd" >&2
  python3 - "$t0" "$t1" "$idx" "$(wc -l <"$data/corpus.jsonl")" >"$out/quarry.json" <<'EOF'
import json, os, sys
t0, t1, idx, docs = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(idx) for f in fs) if os.path.isdir(idx) else os.path.getsize(idx)
m = {"system": "quarry (default analyzer, BM25)", "docs": docs, "index_s": t1 - t0,
     "docs_per_s": docs / (t1 - t0), "index_bytes": size}
# timings measured by quarry itself (same keys as the peers' JSON: latency_top10_ms,
# latency_top1000_ms, qps_top10, qps_threads), when the search command wrote them
extra = os.path.join(os.path.dirname(idx), "quarry.bench.json")
if os.path.exists(extra):
    m.update(json.load(open(extra)))
print(json.dumps(m))
EOF
  peers+=(quarry)
}
if "$quarry" index build --help >/dev/null 2>&1 && "$quarry" search --help >/dev/null 2>&1; then
  echo "== quarry" >&2
  quarry_run
else
  echo "skip quarry: this build has no 'quarry index build' / 'quarry search' yet (issue 9's search work)" >&2
fi

# ---- evaluation and tables
for p in "${peers[@]}"; do
  "$quarry" eval --json -m ndcg_cut.10 -m map -m recall.100 "$out/qrels.trec" "$out/$p.run" >"$out/$p.eval.json"
done
python3 - "$out" "$data" "${peers[@]}" <<'EOF' | tee "$out/results.md"
import json, os, sys
out, data, peers = sys.argv[1], sys.argv[2], sys.argv[3:]
print(f"corpus: {data}\n")
print("| system | nDCG@10 | MAP | R@100 |")
print("| --- | ---: | ---: | ---: |")
rows = []
for p in peers:
    m = json.load(open(os.path.join(out, p + ".json")))
    e = json.load(open(os.path.join(out, p + ".eval.json")))["all"]
    rows.append((p, m))
    print(f"| {m['system']} | {e['ndcg_cut_10']:.4f} | {e['map']:.4f} | {e['recall_100']:.4f} |")
print()
print("| system | index docs/s | index MB | top-10 mean / p50 / p99 ms | top-1000 mean / p50 / p99 ms | QPS top-10 |")
print("| --- | ---: | ---: | --- | --- | ---: |")
def lat(m, k):
    l = m.get(f"latency_top{k}_ms")
    return f"{l['mean']:.3f} / {l['p50']:.3f} / {l['p99']:.3f}" if l else "n/a"
for p, m in rows:
    qps = f"{m['qps_top10']:.0f} ({m['qps_threads']} threads)" if "qps_top10" in m else "n/a"
    print(f"| {m['system']} | {m['docs_per_s']:.0f} | {m['index_bytes'] / 1e6:.2f} | {lat(m, 10)} | {lat(m, 1000)} | {qps} |")
EOF
