#!/usr/bin/env bash
# `quarry rec train --state/--resume` on the vendored tiny RecBole data: for
# every iterative model at 1 and 2 threads, 6 epochs in one run and 3 epochs +
# a resumed run to 6 print the same JSON (log, metrics, best epoch, training
# digest: weights, Adam state, RNG) apart from timings and paths, and write the
# same best checkpoint; state files of another run and damaged ones are refused
# (exit 1, a message naming the problem, nothing overwritten).
set -u
Q="${QUARRY_BIN:?}"
D="${QUARRY_SOURCE_DIR:?}/tests/data/rec_tiny"
T=$(mktemp -d /tmp/quarry-rec-resume-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# the JSON without what legitimately differs between two runs: timings and paths
strip() { grep -v -e '"seconds"' -e '"fit_seconds"' -e '"resumed_from"' -e '"state"' -e '"checkpoint"' "$1"; }
sum() { cksum < "$1"; }

"$Q" rec train --help | grep -q -- "--resume FILE" || fail "rec train --help does not document --resume"
"$Q" rec train --help | grep -q -- "--state FILE" || fail "rec train --help does not document --state"

COMMON=(--dim 8 --lr 0.02 --patience 50 --seed 5 --json --quiet)
for m in bprmf sasrec gru4rec lightgcn; do
  for th in 1 2; do
    other=$((3 - th))
    "$Q" rec train "$D" --model "$m" "${COMMON[@]}" --epochs 6 --threads "$th" --out "$T/a.qyrec" > "$T/a.json" \
      || fail "$m: straight run"
    [ -f "$T/a.qyrec.state" ] || fail "$m: no state next to --out"
    "$Q" rec train "$D" --model "$m" "${COMMON[@]}" --epochs 3 --threads "$th" --out "$T/b.qyrec" \
      --state "$T/b.state" > /dev/null || fail "$m: first half"
    "$Q" rec train "$D" --model "$m" "${COMMON[@]}" --epochs 6 --threads "$other" --out "$T/b.qyrec" \
      --resume "$T/b.state" > "$T/b.json" || fail "$m: resumed run"
    grep -q '"resumed_from":	3' "$T/b.json" || fail "$m: resumed_from 3 expected"
    grep -q '"epochs_done":	6' "$T/b.json" || fail "$m: 6 epochs expected"
    diff <(strip "$T/a.json") <(strip "$T/b.json") > "$T/diff.txt" \
      || fail "$m at $th then $other threads: resumed output differs: $(cat "$T/diff.txt")"
    cmp -s "$T/a.qyrec" "$T/b.qyrec" || fail "$m: best checkpoints differ"
  done
done
echo "ok: bprmf, sasrec, gru4rec, lightgcn resume bit for bit at 1 and 2 threads"

# a finished run resumed with the same settings trains nothing and reports the same
S0=$(sum "$T/b.state")
"$Q" rec train "$D" --model lightgcn "${COMMON[@]}" --epochs 6 --out "$T/b.qyrec" --resume "$T/b.state" > "$T/c.json" \
  || fail "resume of a finished run"
diff <(strip "$T/b.json") <(strip "$T/c.json") > /dev/null || fail "resume of a finished run changed the output"
[ "$(sum "$T/b.state")" = "$S0" ] || fail "resume of a finished run rewrote the state"
# ...and extends with more epochs
"$Q" rec train "$D" --model lightgcn "${COMMON[@]}" --epochs 8 --out "$T/b.qyrec" --resume "$T/b.state" > "$T/c.json" \
  || fail "extending a finished run"
grep -q '"epochs_done":	8' "$T/c.json" || fail "extension to 8 epochs"

# refused: another run's state; damaged state files. Exit 1, clear message, nothing written.
"$Q" rec train "$D" --model sasrec "${COMMON[@]}" --epochs 2 --out "$T/s.qyrec" > /dev/null || fail "sasrec state"
S0=$(sum "$T/s.qyrec.state")
C0=$(sum "$T/s.qyrec")
refuse() { # expected message, then extra arguments
  local want="$1"
  shift
  "$Q" rec train "$D" --model sasrec "${COMMON[@]}" --epochs 4 --out "$T/s.qyrec" "$@" > /dev/null 2> "$T/err.txt"
  local rc=$?
  [ $rc -eq 1 ] || fail "$* : exit $rc, expected 1 ($(cat "$T/err.txt"))"
  grep -q -- "$want" "$T/err.txt" || fail "$* : message '$(cat "$T/err.txt")' lacks '$want'"
  [ "$(sum "$T/s.qyrec.state")" = "$S0" ] || fail "$* : the state file was overwritten"
  [ "$(sum "$T/s.qyrec")" = "$C0" ] || fail "$* : the checkpoint was overwritten"
}
R=(--resume "$T/s.qyrec.state")
refuse "dim differs (state: 8; now: 16)" "${R[@]}" --dim 16
refuse "seed differs (state: 5; now: 6)" "${R[@]}" --seed 6
refuse "lr differs" "${R[@]}" --lr 0.01
refuse "valid metric differs (state: mrr@10; now: ndcg@10)" "${R[@]}" --valid-metric ndcg@10
refuse "validation protocol differs" "${R[@]}" --protocol sampled:5
refuse "split differs" "${R[@]}" --split ratio:0.6,0.2,0.2
refuse "dataset (users, items, interactions) differs" "${R[@]}" --min-user 4
refuse "model differs (state: sasrec; now: gru4rec)" "${R[@]}" --model gru4rec
cp "$T/s.qyrec.state" "$T/bad.state"
/usr/bin/python3 -c "
import sys; p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 1; open(p, 'wb').write(b)" "$T/bad.state" \
  || fail "python3 to damage a file"
refuse "checksum mismatch" --resume "$T/bad.state" --state "$T/s.qyrec.state"
head -c 1000 "$T/s.qyrec.state" > "$T/bad.state"
refuse "truncated" --resume "$T/bad.state" --state "$T/s.qyrec.state"
printf 'not a state' > "$T/bad.state"
refuse "not a quarry training state" --resume "$T/bad.state" --state "$T/s.qyrec.state"
refuse "not a quarry training state" --resume "$T/s.qyrec" --state "$T/s.qyrec.state"
refuse "$T/missing.state" --resume "$T/missing.state" --state "$T/s.qyrec.state"
"$Q" rec train "$D" --model pop --resume "$T/s.qyrec.state" > /dev/null 2> "$T/err.txt"
[ $? -eq 1 ] && grep -q "iterative models" "$T/err.txt" || fail "pop --resume: exit 1 with a message expected"
echo "ok: mismatched, damaged, truncated and missing state files refused"
