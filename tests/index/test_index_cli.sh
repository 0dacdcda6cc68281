#!/bin/bash
# test_index_cli.sh — `quarry index ...` and `quarry search` end to end on a
# small corpus written here: the three input formats, text/JSON/TREC output,
# updates, deletions, merges, and the errors users get.
set -u
Q=${QUARRY_BIN:?QUARRY_BIN not set}
T=$(mktemp -d /tmp/quarry-cli-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect_rc() { # rc, description, command...
    local want=$1 what=$2; shift 2
    "$@" > "$T/out" 2> "$T/err"; local rc=$?
    [ $rc = "$want" ] || fail "$what: exit $rc, expected $want: $(cat "$T/err")"
}

cat > "$T/beir.jsonl" <<'J'
{"_id": "d1", "title": "Boundary layers", "text": "The laminar boundary layer on a heated flat plate."}
{"_id": "d2", "title": "Shock waves", "text": "Shock wave and boundary layer interaction at hypersonic speeds."}
{"_id": "d3", "title": "Wings", "text": "Lift of slender wings; the wing's vortex sheet."}
{"_id": 4, "title": "", "text": "Heat transfer in turbulent flow, measured."}
J
printf '{"id": "p1", "contents": "Flutter of panels in supersonic flow"}\n' > "$T/pyserini.jsonl"
printf 't1\tA title\tTransition of the boundary layer\nt2\tNo title here, just text about wings\n' > "$T/docs.tsv"

expect_rc 0 "build --help" "$Q" index build --help
grep -q "memory" "$T/out" || fail "build --help does not describe --memory"
expect_rc 2 "build without --index" "$Q" index build "$T/beir.jsonl"
expect_rc 1 "build from a missing corpus" "$Q" index build -i "$T/x" "$T/missing.jsonl"
grep -q "missing.jsonl" "$T/err" || fail "missing corpus error does not name the file"
expect_rc 0 "build" "$Q" index build -i "$T/idx" "$T/beir.jsonl" "$T/pyserini.jsonl"
expect_rc 0 "add tsv" "$Q" index add -i "$T/idx" --format tsv "$T/docs.tsv"
expect_rc 1 "build over an index" "$Q" index build -i "$T/idx" "$T/beir.jsonl"
grep -q "already exists" "$T/err" || fail "no clear message when building over an index"
expect_rc 0 "stats" "$Q" index stats -i "$T/idx" --verify --json
grep -q '"docs":[[:space:]]*7' "$T/out" || fail "stats: expected 7 documents: $(cat "$T/out")"

expect_rc 0 "search text" "$Q" search -i "$T/idx" boundary layer
head -1 "$T/out" | grep -q "d1" || fail "top hit for 'boundary layer' should be d1: $(cat "$T/out")"
expect_rc 0 "search json" "$Q" search -i "$T/idx" --json --snippets -k 2 "heated plate"
grep -q '"docid":"d1"' "$T/out" && grep -q '"title":"Boundary layers"' "$T/out" && grep -q '"snippet":"The laminar' "$T/out" ||
    fail "json output lacks id, title or snippet: $(cat "$T/out")"
expect_rc 0 "search and" "$Q" search -i "$T/idx" --and boundary shock
[ "$(wc -l < "$T/out")" = 1 ] || fail "--and 'boundary shock' should match only d2: $(cat "$T/out")"
printf 'q1\tboundary layer\nq2\twings\nq3\tnothing matches zzzz\n' > "$T/q.tsv"
expect_rc 0 "query file" "$Q" search -i "$T/idx" -Q "$T/q.tsv" -o "$T/run.txt" --run-tag t1
awk 'NF != 6 || $2 != "Q0" || $6 != "t1" { bad = 1 } END { exit bad }' "$T/run.txt" || fail "run is not TREC six-column"
grep -q "^q2 Q0 d3 1 " "$T/run.txt" || fail "q2 should rank d3 first: $(cat "$T/run.txt")"
grep -q "^q3 " "$T/run.txt" && fail "q3 should have no hits"
"$Q" search -i "$T/idx" -Q "$T/q.tsv" --exhaustive --quiet > "$T/run2.txt" || fail "exhaustive"
cut -d' ' -f1-5 "$T/run.txt" | cmp -s - <(cut -d' ' -f1-5 "$T/run2.txt") || fail "exhaustive run differs"
expect_rc 0 "bench json" "$Q" search -i "$T/idx" -Q "$T/q.tsv" --quiet -o "$T/run3.txt" --bench-json "$T/b.json" --bench-seconds 0.2 --bench-rounds 1
grep -q '"latency_top1000_ms"' "$T/b.json" && grep -q '"qps_top10"' "$T/b.json" || fail "bench json keys: $(cat "$T/b.json")"
expect_rc 2 "bad format" "$Q" search -i "$T/idx" --format xml boundary
expect_rc 1 "missing index" "$Q" search -i "$T/none" boundary
grep -q "no index" "$T/err" || fail "missing index message: $(cat "$T/err")"

# update d1 (same id, new text), delete d2 and an unknown id
printf '{"_id": "d1", "title": "Rewritten", "text": "Nothing about that now."}\n' > "$T/upd.jsonl"
expect_rc 0 "update" "$Q" index add -i "$T/idx" "$T/upd.jsonl"
expect_rc 0 "delete" "$Q" index delete -i "$T/idx" d2 unknown-id
grep -q "deleted 1 of 2" "$T/out" || fail "delete summary: $(cat "$T/out")"
expect_rc 0 "search after update" "$Q" search -i "$T/idx" -f trec heated plate
grep -q " d1 " "$T/out" && fail "the old version of d1 is still found: $(cat "$T/out")"
expect_rc 0 "search after delete" "$Q" search -i "$T/idx" -f trec shock
grep -q " d2 " "$T/out" && fail "deleted d2 is still found"
expect_rc 0 "merge" "$Q" index merge -i "$T/idx"
expect_rc 0 "stats after merge" "$Q" index stats -i "$T/idx" --json
grep -q '"deleted":[[:space:]]*0' "$T/out" && grep -q '"segments":[[:space:]]*1' "$T/out" && grep -q '"docs":[[:space:]]*6' "$T/out" ||
    fail "after merge: expected 6 docs in 1 segment, none deleted: $(cat "$T/out")"

# analyzer choice is stored and applied to queries
expect_rc 0 "build with analyzer" "$Q" index build -i "$T/idx2" --analyzer stem=none,stop=none "$T/beir.jsonl"
expect_rc 0 "analyze with index" "$Q" index analyze -i "$T/idx2" "The wings"
[ "$(cat "$T/out")" = "the wings" ] || fail "stored analyzer not used: $(cat "$T/out")"
expect_rc 0 "search stopword" "$Q" search -i "$T/idx2" -f trec the
[ -s "$T/out" ] || fail "with stop=none, 'the' should match"
expect_rc 1 "bad analyzer" "$Q" index build -i "$T/idx3" --analyzer stem=klingon "$T/beir.jsonl"
printf '{"_id": "x", "text": 5\n' > "$T/bad.jsonl"
expect_rc 1 "bad json" "$Q" index build -i "$T/idx4" "$T/bad.jsonl"
grep -q "bad.jsonl" "$T/err" && grep -q "line 1" "$T/err" || fail "bad JSON message: $(cat "$T/err")"
echo "ok"
