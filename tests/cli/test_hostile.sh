# test_hostile.sh: hostile settings and files (sourced by run.sh): hyper-parameters that break
# AdamW in float, forged training states, a save that would write a non-finite value, outputs
# that cannot be written, damaged streams read for values, small misbehaviours; configs and
# headers built to cost time or memory, bounded by /usr/bin/time -v where it is installed.
H=$TMP/hostile
mkdir -p "$H"
TINY=configs/tiny.yaml
TR="--set train.data=data/tiny-train.txt --set train.valid= --threads 1 -q"
FORGE="python3 tests/cli/forge.py"
$TF_BIN/tf-init -q -c $TINY -o "$H/t0.tfz"
$TF_BIN/tf-train -c $TINY -i "$H/t0.tfz" -o "$H/trained.tfz" --steps 3 $TR

# ---------------------------------------------------------------- never save a broken model
# AdamW's hyper-parameters are checked as the floats the update uses; the old file is kept
cp "$H/trained.tfz" "$H/v.tfz"
grep_err 78 'train\.beta2 \(0\.99999999999\) rounds to 1 as a float' \
  "hostile: beta2 that rounds to 1 in float exits 78" \
  $TF_BIN/tf-train -c $TINY -i "$H/v.tfz" -o "$H/v.tfz" --new-stage --steps 1 \
  --set train.beta2=0.99999999999 --set train.eps=1e-45 $TR
check "hostile: and the checkpoint is untouched" cmp "$H/trained.tfz" "$H/v.tfz"
while read -r set pattern; do
  grep_err 78 "$pattern" "hostile: --set $set exits 78" \
    $TF_BIN/tf-train -c $TINY -i "$H/v.tfz" -o "$H/v.tfz" --new-stage --steps 1 --set "$set" $TR
done << 'EOF2'
train.beta1=0.999999999999 train\.beta1 \(0\.999999999999\) rounds to 1 as a float
train.eps=1e-45 train\.eps \(1e-45\) is below the smallest normal float
train.lr=1e-40 train\.lr \(1e-40\) is below the smallest normal float
train.lr=0 train\.lr: expected a number in \(0, 10\], got "0"
EOF2

# training states no training writes: refused by every loader and by --verify, naming the tensor
while read -r set pattern; do
  $FORGE "$H/trained.tfz" "$H/forged.tfz" "$set"
  grep_err 65 "forged\.tfz: tensor $pattern" "hostile: a checkpoint with $set: tf-train exits 65" \
    $TF_BIN/tf-train -c $TINY -i "$H/forged.tfz" -o "$H/x.tfz" --steps 5 $TR
  grep_err 65 "forged\.tfz: tensor $pattern" "hostile: a checkpoint with $set: --verify exits 65" \
    $TF_BIN/tf-inspect --verify "$H/forged.tfz"
done << 'EOF2'
optim.step=-1 optim\.step: -1, expected a finite count of 0 or more
train.step=-1 train\.step: -1, expected a finite count of 0 or more
train.lifetime_steps=-5 train\.lifetime_steps: -5, expected
train.data_cursor=-1 train\.data_cursor: -1, expected
optim.v.embed.weight=-0.001 optim\.v\.embed\.weight: holds -0\.001: a second moment of AdamW is never negative
optim.step=0 optim\.m\.embed\.weight: nonzero, but optim\.step is 0
train.flops=nan train\.flops: (nan|1 NaN)
EOF2
$FORGE "$H/trained.tfz" "$H/forged.tfz" train.step=-1
grep_err 65 "tensor train\.step: -1" "hostile: tf-eval refuses a negative train.step too" \
  $TF_BIN/tf-eval -i "$H/forged.tfz" -d data/tiny-valid.txt
# a state the checks let through whose next update overflows: the save refuses, file kept
$FORGE "$H/trained.tfz" "$H/big.tfz" optim.m.embed.weight=3e38 optim.v.embed.weight=0
cp "$H/big.tfz" "$H/out.tfz"
grep_err 65 'out\.tfz: not saved \(step 4\): tensor embed\.weight: element 0 is -?inf' \
  "hostile: a save that would write inf exits 65 naming step and tensor" \
  $TF_BIN/tf-train -c $TINY -i "$H/big.tfz" -o "$H/out.tfz" --steps 4 $TR
check "hostile: and the old file is untouched" cmp "$H/big.tfz" "$H/out.tfz"

# ---------------------------------------------------------------- outputs that cannot be written
# stdout on a full device: every command exits 74 naming stdout, never 0 with nothing written
full() { "$@" > /dev/full; }
while read -r cmd; do
  grep_err 74 '^tf-[a-z]+: stdout: (No space left on device|write error)$' \
    "hostile: $cmd > /dev/full exits 74" full $TF_BIN/$cmd
done << EOF2
tf-eval -i $H/trained.tfz -d data/tiny-valid.txt
tf-eval --json -i $H/trained.tfz -d data/tiny-valid.txt
tf-generate -i $H/trained.tfz -p x -n 5
tf-generate --json -i $H/trained.tfz -p x -n 5
tf-init -c $TINY --print-config
tf-init -q -c $TINY -o $H/full-init.tfz --json
tf-grow -q -i $H/trained.tfz --ffn +8 -o $H/full-grow.tfz --json
tf-inspect $H/trained.tfz
tf-inspect --json --stats $H/trained.tfz
tf-train --help
tf-init --version
tf-grow --help
tf-generate --version
tf-inspect --help
tf-eval --version
EOF2
# a log that cannot be written: said once, training goes on and saves, exit 74 at the end
rm -f "$H/logged.tfz"
grep_err 74 'tf-train: /dev/full: the log is incomplete: No space left on device' \
  "hostile: tf-train --log on a full device exits 74 at the end" \
  $TF_BIN/tf-train -c $TINY -i "$H/trained.tfz" -o "$H/logged.tfz" --steps 6 --log /dev/full $TR
check "hostile: the log failure is reported once" \
  test "$(grep -c 'cannot write the log: No space left on device; training goes on' "$ERR")" = 1
check "hostile: and the checkpoint was still written" $TF_BIN/tf-inspect --verify "$H/logged.tfz"
