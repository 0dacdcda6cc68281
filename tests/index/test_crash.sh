#!/bin/bash
# test_crash.sh — kill -9 at random moments of `quarry index build`, `add` and
# `merge` (searching the index meanwhile); after each kill the index must open at its last committed state,
# complete (every file checksummed, every live document stored), pruned and
# exhaustive search must agree on it, and finishing the job must give exactly
# the results of an uninterrupted build.
set -u
Q=${QUARRY_BIN:?QUARRY_BIN not set}
T=$(mktemp -d /tmp/quarry-crash-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# a deterministic corpus: 4000 documents of Zipfian words, and 30 queries
awk 'BEGIN { srand(7); for (i = 0; i < 4000; i++) { n = int(rand() * 90); s = "";
       for (j = 0; j < n; j++) s = s " w" int(rand() ^ 3 * 3000) "x";
       printf "d%d\ttitle %d\t%s\n", i, i, s } }' > "$T/corpus.tsv"
awk 'BEGIN { srand(9); for (i = 1; i <= 30; i++) { s = "";
       for (j = 0; j < 1 + int(rand() * 4); j++) s = s " w" int(rand() ^ 2 * 3000) "x";
       printf "q%d\t%s\n", i, s } }' > "$T/queries.tsv"

run_sorted() { # index -> "qid docid score" of every match, sorted
    "$Q" search -i "$1" -Q "$T/queries.tsv" -k 100000 --quiet "${@:2}" | awk '{print $1, $3, $5}' | sort
}

"$Q" index build -i "$T/ref" --memory 1M --quiet "$T/corpus.tsv" || fail "reference build"
run_sorted "$T/ref" > "$T/ref.run"
[ -s "$T/ref.run" ] || fail "reference run is empty"

check_committed() { # the index after a kill
    local idx=$1
    if [ ! -e "$idx/MANIFEST" ]; then return 0; fi   # killed before the first commit
    "$Q" index stats -i "$idx" --verify --json > "$T/stats.json" 2> "$T/stats.err" ||
        fail "index does not reopen after kill: $(cat "$T/stats.err")"
    run_sorted "$idx" > "$T/a.run" || fail "search after kill"
    run_sorted "$idx" --exhaustive > "$T/b.run" || fail "exhaustive search after kill"
    cmp -s "$T/a.run" "$T/b.run" || fail "pruned and exhaustive search differ after kill"
}

finish_and_compare() { # complete the job, merge, compare with the reference
    local idx=$1
    if [ -e "$idx/MANIFEST" ]; then
        "$Q" index add -i "$idx" --memory 1M --quiet "$T/corpus.tsv" || fail "add after kill"
    else
        "$Q" index build -i "$idx" --memory 1M --quiet "$T/corpus.tsv" || fail "build after kill"
    fi
    "$Q" index merge -i "$idx" --quiet || fail "merge after kill"
    local docs
    docs=$("$Q" index stats -i "$idx" --json | awk -F'[:,]' '/"docs"/ {gsub(/[ \t]/, "", $2); print $2; exit}')
    [ "$docs" = 4000 ] || fail "after finishing: $docs documents, expected 4000"
    run_sorted "$idx" > "$T/c.run"
    cmp -s "$T/c.run" "$T/ref.run" || fail "after finishing, results differ from an uninterrupted build"
}

kills=0
for i in $(seq 1 6); do
    idx="$T/idx$i"
    phase=$((i % 3))
    if [ $phase = 1 ]; then      # kill a build
        "$Q" index build -i "$idx" --memory 512K --threads 2 --quiet "$T/corpus.tsv" & pid=$!
    elif [ $phase = 2 ]; then    # kill an add (updates half the documents, adds the rest)
        head -2000 "$T/corpus.tsv" > "$T/half.tsv"
        "$Q" index build -i "$idx" --memory 1M --quiet "$T/half.tsv" || fail "half build"
        "$Q" index add -i "$idx" --memory 512K --quiet "$T/corpus.tsv" & pid=$!
    else                         # kill a merge of many small segments
        "$Q" index build -i "$idx" --memory 512K --merge-factor 0 --quiet "$T/corpus.tsv" || fail "segmented build"
        "$Q" index merge -i "$idx" --quiet & pid=$!
    fi
    if [ $phase != 1 ]; then     # a live index answers searches while it is being changed
        "$Q" search -i "$idx" -Q "$T/queries.tsv" --quiet > /dev/null || fail "search during a running $phase"
    fi
    sleep "0.$(printf '%03d' $((RANDOM % 700)))"
    if kill -9 $pid 2>/dev/null; then kills=$((kills + 1)); fi
    wait $pid 2>/dev/null
    check_committed "$idx"
    finish_and_compare "$idx"
    rm -rf "$idx"
done
echo "ok: 6 runs, $kills killed mid-way, each reopened complete and finished equal to the reference"
