#!/bin/sh
# run.sh BIN [OUT]: the growth study (make growth-study): at equal cumulative training FLOPs,
# per seed, a small model (configs/scaling/stage1.yaml) is trained, grown once to stage 2's
# counts (configs/scaling/stage2.yaml) and trained on in these arms:
#
#   exact      exact growth, the stage's schedule re-warmed (the default)
#   random     random new tokens (the official code's)
#   duplicate  copies of the old keys, zero values
#   aware      exact growth, no re-warmup, peak lr = LR_FACTOR x the small stage's final lr
#   frozen     exact growth, train.freeze: old_tokens (only the new rows train)
#   scratch    the grown size from scratch with the FLOPs of small + one grown stage
#   shrink     the exact arm's model shrunk back to the small counts (scored on the first
#              SHRINK_TOKENS tokens of the training text, never the valid text it is
#              judged on), retrained RETRAIN steps
#   small      the small size from scratch for RETRAIN steps (the shrink arm's retraining FLOPs)
#
# Every run logs valid bits per byte against lifetime FLOPs; final checkpoints are scored with
# tf-eval on the first EVAL_BYTES bytes of the valid text. report.py writes OUT/results.md (mean
# and spread over the seeds), OUT/*.dat and, with gnuplot, OUT/curves.png and OUT/shrink.png.
#
# SEEDS (default 3) seeds 1..SEEDS (init, data stream and new rows); SCALE multiplies every
# stage's steps; QUICK=1 is the CI smoke run: configs/tiny.yaml's model on data/tiny-*.txt,
# 24 + 24 steps, 2 seeds, in a minute or two.
set -eu
bin=${1:-build/bin}
out=${2:-build/growth-study}
here=$(dirname "$0")
quick=${QUICK:-0}
mkdir -p "$out"
PATH=$bin:$PATH
export PATH
say() { printf '\n== %s\n' "$*" >&2; }
py() { python3 -c "$1"; }

if [ "$quick" = 1 ]; then
  seeds=${SEEDS:-2}
  small=configs/tiny.yaml
  big_set="--set grow.qkv_tokens=64 --set grow.proj_tokens=64 --set grow.ffn_tokens=128"
  big_model="--set model.qkv_tokens=64 --set model.proj_tokens=64 --set model.ffn_tokens=128"
  shrink_to="--qkv 32 --proj 32 --ffn 64"
  s1=${S1:-24} s2=${S2:-24} retrain=${RETRAIN:-12}
  valid=data/tiny-valid.txt
  text=data/tiny-train.txt
  eval_bytes=${EVAL_BYTES:-4000}
  shrink_tokens=${SHRINK_TOKENS:-2000}
  common="--set train.eval_batches=2 --set train.batch=4"
  big=configs/tiny.yaml
else
  seeds=${SEEDS:-3}
  small=$here/../scaling/stage1.yaml
  big=$here/../scaling/stage2.yaml
  big_set=""
  big_model="--set model.qkv_tokens=128 --set model.proj_tokens=128 --set model.ffn_tokens=512"
  shrink_to="--qkv 64 --proj 64 --ffn 256"
  scale=${SCALE:-1}
  s1=$(py "print(max(1, round($scale * 400)))")
  s2=$(py "print(max(1, round($scale * 400)))")
  retrain=$(py "print(max(1, round($scale * 200)))")
  valid=data/kjv-valid.txt
  text=data/kjv-train.txt
  eval_bytes=${EVAL_BYTES:-100000}
  shrink_tokens=${SHRINK_TOKENS:-65536}
  common=""
fi
lr_factor=${LR_FACTOR:-5}
every() { py "print(max(1, $1 // 8))"; } # about 8 evaluations a run
flops_of() { tf-inspect --tensor train.flops "$1"; }
# train CONFIG IN OUT STEPS SEED [options]: one logged run
train() {
  cfg=$1 in=$2 o=$3 n=$4 s=$5
  shift 5
  tf-train -q -c "$cfg" -i "$in" -o "$o.tfz" --steps "$n" --log "$o.jsonl" $common \
    --set train.eval_every="$(every "$n")" --set train.seed="$s" --set train.save_every=0 "$@"
}

echo "seeds $seeds, steps $s1 + $s2, retrain $retrain, lr factor $lr_factor, quick $quick" \
  > "$out/settings.txt"
s=1
while [ "$s" -le "$seeds" ]; do
  d=$out/seed$s
  mkdir -p "$d"
  rm -f "$d"/*.jsonl
  say "seed $s: small model, $s1 steps"
  tf-init -q -c "$small" --set init.seed="$s" -o "$d/small0.tfz"
  train "$small" "$d/small0.tfz" "$d/g1" "$s1" "$s"
  for arm in exact random duplicate aware frozen; do
    init=exact
    case $arm in random | duplicate) init=$arm ;; esac
    extra=""
    [ $arm = aware ] && extra="--set train.warmup=0 --set train.lr_from_previous=$lr_factor"
    [ $arm = frozen ] && extra="--set train.freeze=old_tokens"
    say "seed $s: $arm, grow then $s2 steps"
    tf-grow -q -c "$big" $big_set -i "$d/g1.tfz" -o "$d/$arm.0.tfz" --init $init --seed "$s"
    train "$big" "$d/$arm.0.tfz" "$d/$arm" "$s2" "$s" $extra
  done
  total=$(flops_of "$d/exact.tfz")
  tf-init -q -c "$small" $big_model --set init.seed="$s" -o "$d/scratch0.tfz"
  tf-train -q -c "$small" -i "$d/scratch0.tfz" -o "$d/probe.tfz" --steps 1 $common \
    --set train.eval_every=0 --set train.save_every=0
  steps=$(py "print(max(1, round($total / $(flops_of "$d/probe.tfz"))))")
  say "seed $s: scratch, $steps steps"
  train "$small" "$d/scratch0.tfz" "$d/scratch" "$steps" "$s"
  say "seed $s: shrink the exact arm back, retrain $retrain steps; small from scratch"
  tf-grow -c "$small" -i "$d/exact.tfz" -o "$d/shrink.0.tfz" $shrink_to --data "$text" \
    --max-tokens "$shrink_tokens" --json > "$d/shrink.grow.json"
  train "$small" "$d/shrink.0.tfz" "$d/shrink" "$retrain" "$s"
  train "$small" "$d/small0.tfz" "$d/small" "$retrain" "$s"
  for f in g1 exact random duplicate aware frozen scratch shrink small; do
    tf-eval -i "$d/$f.tfz" --data "$valid" --max-bytes "$eval_bytes" --json > "$d/$f.eval.json"
  done
  s=$((s + 1))
done
python3 "$here/report.py" "$out" "$seeds" > "$out/results.md"
cat "$out/results.md"
if command -v gnuplot > /dev/null 2>&1; then
  gnuplot -e "dir='$out'" "$here/study.gp"
  say "plots: $out/curves.png, $out/shrink.png"
else
  say "gnuplot is missing (apt-get install gnuplot-nox): no plots"
fi
