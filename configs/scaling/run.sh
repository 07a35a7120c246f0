#!/bin/sh
# run.sh BIN [OUT]: the progressive-scaling experiment (make scaling) on the KJV corpus.
#
#   grown:      stage1 (64/64/256 tokens) -> grow x2 -> stage2 -> grow x2 -> stage3 (256/256/1024)
#   scratch-a:  the final size from scratch with the FLOPs of all three grown stages
#   scratch-b:  the final size from scratch with the FLOPs of the last stage only
#
# Every run logs valid bits per byte against lifetime training FLOPs (tf-train --log); the
# final checkpoints are scored with tf-eval on the first EVAL_BYTES (default 100000) bytes of
# data/kjv-valid.txt. Writes OUT/results.md (the
# table), OUT/scaling.dat and OUT/scaling.png (gnuplot). SCALE (default 1) multiplies every
# stage's steps, e.g. SCALE=0.05 for a quick check of the pipeline. SEED (default: the configs'
# seeds) sets init.seed and the new rows' seed to SEED and stage k's data stream to 100 SEED + k
# (seeds.sh runs one seed after another for make scaling SEEDS=N).
set -eu
bin=${1:-build/bin}
out=${2:-build/scaling}
here=$(dirname "$0")
scale=${SCALE:-1}
eval_bytes=${EVAL_BYTES:-100000}
mkdir -p "$out"
PATH=$bin:$PATH
export PATH
say() { printf '\n== %s\n' "$*" >&2; }
seed=${SEED:-}
init_seed=""
[ -n "$seed" ] && init_seed="--set init.seed=$seed"
# with SEED: the data stream of stage $1, and the new rows' seed
train_seed() { [ -n "$seed" ] && echo "--set train.seed=$((100 * seed + $1))" || true; }
grow_seed() { [ -n "$seed" ] && echo "--seed $seed" || true; }

steps_of() { # the steps of a config's train: section, times SCALE
  python3 -c "import sys; print(max(1, round($scale * int(sys.argv[1]))))" \
    "$(tf-init -c "$1" --print-config | awk '/^train:/ { t = 1 } t && /^  steps:/ { print $2; exit }')"
}
flops_of() { tf-inspect --tensor train.flops "$1"; }
every() { python3 -c "print(max(1, $1 // 12))"; } # about 12 evaluations a run

# --- grown: three stages
s1=$(steps_of "$here/stage1.yaml")
say "stage 1: $s1 steps"
tf-init -q -c "$here/stage1.yaml" $init_seed -o "$out/g0.tfz"
tf-train -c "$here/stage1.yaml" -i "$out/g0.tfz" -o "$out/g1.tfz" --steps "$s1" $(train_seed 1) \
  --set train.eval_every="$(every "$s1")" --log "$out/g1.jsonl"
prev=$out/g1.tfz
for k in 2 3; do
  sk=$(steps_of "$here/stage$k.yaml")
  say "stage $k: grow, then $sk steps"
  tf-grow -c "$here/stage$k.yaml" -i "$prev" -o "$out/g${k}0.tfz" $(grow_seed)
  tf-train -c "$here/stage$k.yaml" -i "$out/g${k}0.tfz" -o "$out/g$k.tfz" --steps "$sk" $(train_seed $k) \
    --set train.eval_every="$(every "$sk")" --log "$out/g$k.jsonl"
  prev=$out/g$k.tfz
done

# --- scratch baselines: the final size, with matching FLOPs
total=$(flops_of "$out/g3.tfz")
last=$(python3 -c "print($total - $(flops_of "$out/g2.tfz"))")
tf-init -q -c "$here/scratch.yaml" $init_seed -o "$out/x0.tfz"
tf-train -q -c "$here/scratch.yaml" -i "$out/x0.tfz" -o "$out/probe.tfz" --steps 1 \
  --set train.eval_every=0
per_step=$(flops_of "$out/probe.tfz")
for run in a b; do
  budget=$total
  [ $run = b ] && budget=$last
  steps=$(python3 -c "print(max(1, round($budget / $per_step)))")
  say "scratch-$run: $steps steps ($budget FLOPs)"
  tf-train -c "$here/scratch.yaml" -i "$out/x0.tfz" -o "$out/x$run.tfz" --steps "$steps" $(train_seed 1) \
    --set train.eval_every="$(every "$steps")" --log "$out/x$run.jsonl"
done

# --- scores and the table
say "scoring the final checkpoints on the first $eval_bytes bytes of data/kjv-valid.txt"
for f in g1 g2 g3 xa xb; do
  tf-eval -i "$out/$f.tfz" --data data/kjv-valid.txt --max-bytes "$eval_bytes" --json > "$out/$f.eval.json"
done
python3 "$here/report.py" "$out" > "$out/results.md"
cat "$out/results.md"
if command -v gnuplot >/dev/null 2>&1; then
  gnuplot -e "dat='$out/scaling.dat'; png='$out/scaling.png'" "$here/scaling.gp"
  say "plot: $out/scaling.png"
else
  say "gnuplot is missing (apt-get install gnuplot-nox): no plot"
fi
