#!/bin/sh
# seeds.sh BIN [OUT]: make scaling. SEEDS=1 (default): run.sh once, as ever, into OUT. SEEDS=N:
# run.sh with SEED=1..N into OUT/seed1..OUT/seedN, then OUT/results.md from seeds.py (the mean
# and spread of every run's bits per byte over the seeds).
set -eu
bin=${1:-build/bin}
out=${2:-build/scaling}
here=$(dirname "$0")
seeds=${SEEDS:-1}
if [ "$seeds" = 1 ]; then exec sh "$here/run.sh" "$bin" "$out"; fi
s=1
while [ "$s" -le "$seeds" ]; do
  SEED=$s sh "$here/run.sh" "$bin" "$out/seed$s"
  s=$((s + 1))
done
PATH=$bin:$PATH python3 "$here/seeds.py" "$out" "$seeds" > "$out/results.md"
cat "$out/results.md"
