#!/bin/bash
# bench/rec_sasrec_speed.sh [QUARRY_BIN] [EPOCHS] [MODEL]: SASRec (or gru4rec) epoch speed, quarry vs RecBole-faithful
# PyTorch (bench/torch_sasrec.py without --trim), one seed, OpenBLAS pinned: at 1 thread side by
# side (one core each), then at 2 threads one after the other. Needs ../shared/data/ml-100k.
set -u
HERE="$(cd "$(dirname "$0")" && pwd)"
Q=${1:-$HERE/../build/quarry}; E=${2:-2}; M=${3:-sasrec}
DATA="${QUARRY_SHARED:-$HERE/../../shared}/data/ml-100k"
OUT=$(mktemp -d /tmp/quarry-sasrec-speed-XXXXXX)
$Q rec split "$DATA" --out $OUT/split --quiet > /dev/null
echo "== 1 thread each, side by side"
/usr/bin/time -f "%U %S %e" -o $OUT/q1.cpu $Q rec train "$DATA" --model $M --seed 1 --threads 1 --epochs $E --json --quiet > $OUT/q1.json &
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/time -f "%U %S %e" -o $OUT/t1.cpu /usr/bin/python3 "$HERE"/torch_sasrec.py $OUT/split --seeds 1 --model $M --threads 1 --epochs $E --json-out $OUT/t1.json > /dev/null 2> $OUT/t1.log
wait
echo "== 2 threads, one after the other"
/usr/bin/time -f "%U %S %e" -o $OUT/q2.cpu $Q rec train "$DATA" --model $M --seed 1 --threads 2 --epochs $E --json --quiet > $OUT/q2.json
OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 /usr/bin/time -f "%U %S %e" -o $OUT/t2.cpu /usr/bin/python3 "$HERE"/torch_sasrec.py $OUT/split --seeds 1 --model $M --threads 2 --epochs $E --json-out $OUT/t2.json > /dev/null 2> $OUT/t2.log
/usr/bin/python3 - $OUT $E <<'PY'
import json, sys
d, E = sys.argv[1], int(sys.argv[2])
for th in (1, 2):
    q = json.load(open(f"{d}/q{th}.json")); t = json.load(open(f"{d}/t{th}.json"))["runs"][0]
    qe = [e["seconds"] for e in q["epochs"]]; te = t["epoch_seconds"]
    qc = sum(map(float, open(f"{d}/q{th}.cpu").read().split()[:2])); tc = sum(map(float, open(f"{d}/t{th}.cpu").read().split()[:2]))
    print(f"threads {th}: quarry epoch {sum(qe)/len(qe):.1f} s {qe}, PyTorch epoch {te:.1f} s -> {te/(sum(qe)/len(qe)):.2f}x; "
          f"process CPU quarry {qc:.0f} s, PyTorch {tc:.0f} s -> {tc/qc:.2f}x; test ndcg@10 quarry {q['test']['ndcg@10']:.4f} torch {t['masked_ndcg@10']:.4f}")
PY
