#!/bin/sh
# demo.sh BIN: the demo pipeline on the King James Bible, printing what each step does:
# create the small model, train it briefly (evaluating as it goes), score it on part of the
# validation split, grow it, train the grown model briefly, look at it, and sample.
# DEMO_STEPS (default 150, batch 8) sets the first stage's length, the second is a quarter of
# it; README "The pipeline" says how long a whole run takes.
set -eu
steps=${DEMO_STEPS:-150}
score="--data data/kjv-valid.txt --max-bytes 32768"
. "$(dirname "$0")/demo-steps.sh"

run "create the small model (configs/small.yaml)" \
  "tf-init -c configs/small.yaml -o $out/s0.tfz"
run "train it on data/kjv-train.txt; the valid bits per byte fall as it learns" \
  "tf-train -c configs/small.yaml -i $out/s0.tfz -o $out/s1.tfz --steps $steps --set train.batch=8 --set train.eval_every=$((steps / 5)) --set train.eval_batches=8 --log $out/s1.jsonl"
run "score it on the first 32 KiB of the validation split" \
  "tf-eval -i $out/s1.tfz $score"
run "grow it: twice the feed-forward tokens, exactly the same function" \
  "tf-grow -i $out/s1.tfz -o $out/m0.tfz --ffn +1024 --qkv +128"
run "the grown model scores the same" \
  "tf-eval -i $out/m0.tfz $score"
run "train the grown model a little more (a new stage, with its own warmup)" \
  "tf-train -c configs/small.yaml -i $out/m0.tfz -o $out/m1.tfz --steps $((steps / 4)) --set train.batch=8 --set train.eval_every=$((steps / 8)) --set train.eval_batches=8"
run "look at it: config, parameters by kind, history" "tf-inspect $out/m1.tfz"
if [ -x "$bin/tf-generate" ]; then
  run "sample from it" "echo 'And God said' | tf-generate -i $out/m1.tfz -n 300 --seed 1 -t 0.8 --echo"
fi
