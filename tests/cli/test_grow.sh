# test_grow.sh: tf-grow on a trained tiny checkpoint: exact and duplicate growth keep tf-eval's
# numbers, rescale and random change them, the grown model trains on, the optimizer state,
# pipes, the history record, the config section, refusals (sourced by run.sh).
G="$TF_BIN/tf-grow"
TR="$TF_BIN/tf-train --threads 2 -q -c configs/tiny.yaml"
$TF_BIN/tf-init -q -c configs/tiny.yaml -o "$TMP/g0.tfz"
$TR -i "$TMP/g0.tfz" -o "$TMP/g1.tfz" --steps 30

# the mean validation loss of a checkpoint (tf-eval --json)
eval_loss() {
  $TF_BIN/tf-eval --json -i "$1" -d data/tiny-valid.txt |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["loss"])'
}

# compare_loss same|differ|falls A B: the losses agree within 1e-6 relative (float rounding;
# the unit tests measure < 6e-7 on the logits), differ by more than 1e-4 relative, or B is
# lower than A by more than 0.05 nats
compare_loss() {
  la=$(eval_loss "$2") && lb=$(eval_loss "$3") || return 1
  python3 -c "
import sys
a, b = $la, $lb
rel = abs(a - b) / abs(a)
ok = {'same': rel <= 1e-6, 'differ': rel > 1e-4, 'falls': b < a - 0.05}['$1']
print('losses %r and %r, relative difference %.3g' % (a, b, rel), file=sys.stderr)
sys.exit(0 if ok else 1)"
}

# exact: every kind, odd counts, new totals and increments
grep_err 0 'qkv 32 -> 37, proj 32 -> 33, ffn 64 -> 71\), init exact, same function' \
  "grow: exact growth of every kind, summary on stderr" \
  $G -i "$TMP/g1.tfz" -o "$TMP/exact.tfz" --qkv +5 --proj 33 --ffn +7
check "grow: tf-eval gives the same loss after exact growth" \
  compare_loss same "$TMP/g1.tfz" "$TMP/exact.tfz"
ok "grow: exact growth of the ffn alone" $G -q -i "$TMP/g1.tfz" -o "$TMP/ffn.tfz" --ffn 99
check "grow: same loss after growing the ffn alone" compare_loss same "$TMP/g1.tfz" "$TMP/ffn.tfz"
grep_out '^  qkv +37 +32 ' "grow: n_ref stays at the old count" $TF_BIN/tf-inspect "$TMP/exact.tfz"

# duplicate: exact with n_ref scaled
grep_err 0 'qkv 32 -> 64 \(n_ref 32 -> 64\).*ffn 64 -> 192 \(n_ref 64 -> 192\)\), init duplicate, same function' \
  "grow: duplicate growth by multiples" \
  $G -i "$TMP/g1.tfz" -o "$TMP/dup.tfz" --qkv +32 --ffn +128 --init duplicate
check "grow: same loss after duplicate growth" compare_loss same "$TMP/g1.tfz" "$TMP/dup.tfz"

# rescale and random change the function, and say so
grep_err 0 'warning: --rescale.*different function' "grow: --rescale warns, even with -q" \
  $G -q -i "$TMP/g1.tfz" -o "$TMP/rescale.tfz" --qkv +32 --proj +32 --ffn +64 --rescale
check "grow: --rescale changes the loss" compare_loss differ "$TMP/g1.tfz" "$TMP/rescale.tfz"
grep_err 0 'random.*different function' "grow: --init random says the function changes" \
  $G -i "$TMP/g1.tfz" -o "$TMP/random.tfz" --qkv +5 --ffn +7 --init random
check "grow: random growth changes the loss" compare_loss differ "$TMP/g1.tfz" "$TMP/random.tfz"

# the grown model trains on: a new stage, lifetime counters carry on, the loss falls
ok "grow: the grown model trains 40 steps" $TR -i "$TMP/exact.tfz" -o "$TMP/exact2.tfz" --steps 40
check "grow: and its validation loss falls" compare_loss falls "$TMP/exact.tfz" "$TMP/exact2.tfz"
grep_out '"lifetime_steps": 70' "grow: lifetime steps go on across growth" \
  $TF_BIN/tf-inspect --json "$TMP/exact2.tfz"
grep_out '^0$' "grow: growth starts a new stage (train.step 0)" \
  $TF_BIN/tf-inspect --tensor train.step "$TMP/exact.tfz"
grep_out '^0$' "grow: AdamW restarts by default (optim.step 0)" \
  $TF_BIN/tf-inspect --tensor optim.step "$TMP/exact.tfz"
ok "grow: --keep-optimizer" $G -q -i "$TMP/g1.tfz" -o "$TMP/keep.tfz" --ffn +8 --keep-optimizer
grep_out '^30$' "grow: --keep-optimizer keeps optim.step" \
  $TF_BIN/tf-inspect --tensor optim.step "$TMP/keep.tfz"
grep_out '^33$' "grow: tf-train continues the kept moments (optim.step 30 + 3)" sh -c \
  "$TR -i '$TMP/keep.tfz' -o '$TMP/keep2.tfz' --steps 3 &&
   $TF_BIN/tf-inspect --tensor optim.step '$TMP/keep2.tfz'"
grep_out '^grown +optim\.m\.layers\.0\.mlp\.key_param_tokens .*old rows unchanged' \
  "grow: --keep-optimizer extends the moments, old rows unchanged" \
  $TF_BIN/tf-inspect --diff "$TMP/keep.tfz" "$TMP/g1.tfz"
ok "grow: an untrained checkpoint grows" $G -q -i "$TMP/g0.tfz" -o "$TMP/u.tfz" --proj +3
ok "grow: and then trains, starting its first stage" $TR -i "$TMP/u.tfz" -o "$TMP/u2.tfz" --steps 3

# tf-inspect --diff: the grown tensors, the old rows unchanged
grep_out '^grown +layers\.1\.mlp\.value_param_tokens +F32 \[64, 32\] -> F32 \[71, 32\], old rows unchanged' \
  "grow: tf-inspect --diff shows the grown tensors" \
  $TF_BIN/tf-inspect --diff "$TMP/exact.tfz" "$TMP/g1.tfz"
grep_out '^same +embed\.weight' "grow: the embedding is copied" \
  $TF_BIN/tf-inspect -v --diff "$TMP/exact.tfz" "$TMP/g1.tfz"

# pipes, history, JSON summary
check "grow: -i - -o - streams through a pipe" sh -c \
  "$G -q -i - -o - --qkv +5 --proj 33 --ffn +7 < '$TMP/g1.tfz' > '$TMP/piped.tfz' &&
   $TF_BIN/tf-inspect --diff '$TMP/exact.tfz' '$TMP/piped.tfz' > '$TMP/pd.txt' &&
   ! grep -Eq '^(changed|grown|shrunk|only)' '$TMP/pd.txt'"
grep_out 'tf-grow .*init=exact .*qkv_tokens=\[32,37\] +qkv_ref_tokens=\[32,32\].*ffn_tokens=\[64,71\]' \
  "grow: a history record with the counts and the mode" $TF_BIN/tf-inspect "$TMP/exact.tfz"
grep_out '"same_function": true' "grow: --json summary" \
  $G --json -i "$TMP/g1.tfz" -o "$TMP/j.tfz" --qkv +1

# the grow: section of a config, options over it
printf 'grow:\n  ffn_tokens: +8\n  init: random\n  seed: 3\n' > "$TMP/grow.yaml"
grep_out 'tf-grow .*init=exact .*seed=3 .*ffn_tokens=\[64,72\]' "grow: -c reads grow:, --init overrides" \
  sh -c "$G -q -c '$TMP/grow.yaml' --init exact -i '$TMP/g1.tfz' -o '$TMP/c.tfz' &&
         $TF_BIN/tf-inspect '$TMP/c.tfz'"
grep_out 'qkv_tokens=\[32,40\].*ffn_tokens=\[64,72\]' "grow: --set adds to the section" \
  sh -c "$G -q -c '$TMP/grow.yaml' --set grow.qkv_tokens=40 -i '$TMP/g1.tfz' -o '$TMP/c.tfz' &&
         $TF_BIN/tf-inspect '$TMP/c.tfz'"

# refusals
grep_err 64 'data FILE is required' "grow: shrinking without sample text exits 64" $G -i "$TMP/g1.tfz" -o "$TMP/x.tfz" --qkv 16
grep_err 64 'nothing to grow' "grow: no growth exits 64" $G -i "$TMP/g1.tfz" -o "$TMP/x.tfz"
grep_err 64 'nothing to grow' "grow: the same counts exit 64" \
  $G -i "$TMP/g1.tfz" -o "$TMP/x.tfz" --qkv 32 --ffn +0
grep_err 64 'not a multiple of its 64' "grow: duplicate by a non-multiple exits 64" \
  $G -i "$TMP/g1.tfz" -o "$TMP/x.tfz" --ffn +48 --init duplicate
grep_err 64 'dead tokens' "grow: duplicating zero keys exits 64" \
  $G -i "$TMP/exact.tfz" -o "$TMP/x.tfz" --qkv +37 --init duplicate
$TF_BIN/tf-init -q -c configs/tiny.yaml --set model.norm=softmax -o "$TMP/soft.tfz"
grep_err 64 'softmax.*duplicate' "grow: exact growth of a softmax model exits 64" \
  $G -i "$TMP/soft.tfz" -o "$TMP/x.tfz" --qkv +5
ok "grow: a softmax model grows by duplicate" \
  $G -q -i "$TMP/soft.tfz" -o "$TMP/soft2.tfz" --qkv +32 --init duplicate
grep_err 64 'expected N .* or \+N' "grow: --qkv -5 exits 64" $G -i "$TMP/g1.tfz" -o "$TMP/x.tfz" --qkv -5
grep_err 64 'expected an integer' "grow: --ffn +x exits 64" $G -i "$TMP/g1.tfz" -o "$TMP/x.tfz" --ffn +1x
grep_err 64 'expected exact, random or duplicate' "grow: unknown --init exits 64" \
  $G -i "$TMP/g1.tfz" -o "$TMP/x.tfz" --qkv +1 --init zero
grep_err 64 'input checkpoint is required' "grow: no -i exits 64" $G -o "$TMP/x.tfz" --qkv +1
grep_err 64 'output is required' "grow: no -o exits 64" $G -i "$TMP/g1.tfz" --qkv +1
grep_err 64 'both want stdout' "grow: --json with -o - exits 64" $G --json -i "$TMP/g1.tfz" -o - --qkv +1
grep_err 66 'none.tfz' "grow: a missing checkpoint exits 66" $G -i "$TMP/none.tfz" -o "$TMP/x.tfz" --qkv +1
grep_err 65 'grow.yaml' "grow: a file that is no checkpoint exits 65" \
  $G -i "$TMP/grow.yaml" -o "$TMP/x.tfz" --qkv +1
printf 'grow:\n  ffn_tokens: -8\n' > "$TMP/bad.yaml"
grep_err 78 'bad.yaml:2' "grow: a bad grow: section exits 78" \
  $G -c "$TMP/bad.yaml" -i "$TMP/g1.tfz" -o "$TMP/x.tfz"
check "grow: no output after failures" test ! -e "$TMP/x.tfz"
grep_out 'Usage: tf-grow' "grow: --help" $G --help

# shrinking (--data), the growth record, freezing and lr_from_previous (tokenformer-config(5))
grep_err 0 'ffn 71 -> 60\), shrunk: loss on [0-9]+ tokens of the sample' \
  "grow: shrinking the ffn on sample text reports the loss before and after" \
  $G -i "$TMP/exact.tfz" -o "$TMP/shrunk.tfz" --ffn 60 --data data/tiny-valid.txt --max-tokens 2000
ok "grow: shrinking is deterministic" \
  $G -q -i "$TMP/exact.tfz" -o "$TMP/shrunk2.tfz" --ffn 60 --data data/tiny-valid.txt --max-tokens 2000
same_eval() { # the same tf-eval loss, to the last digit, for two checkpoints
  $TF_BIN/tf-eval --json -i "$1" -d data/tiny-valid.txt | grep -o '"loss":[^,]*' > "$TMP/e1.json" &&
    $TF_BIN/tf-eval --json -i "$2" -d data/tiny-valid.txt | grep -o '"loss":[^,]*' > "$TMP/e2.json" &&
    cmp "$TMP/e1.json" "$TMP/e2.json"
}
check "grow: the same model and sample give the same shrunk model" \
  same_eval "$TMP/shrunk.tfz" "$TMP/shrunk2.tfz"
grep_out '"tokens": 1999' \
  "grow: --json gives the sample's losses" \
  $G --json -i "$TMP/exact.tfz" -o "$TMP/shrunk3.tfz" --ffn 60 --data data/tiny-valid.txt --max-tokens 2000
ok "grow: a shrunk model trains on" $TR -i "$TMP/shrunk.tfz" -o "$TMP/shrunk4.tfz" --steps 2
grep_err 64 'data FILE is required' "grow: shrinking without --data exits 64" \
  $G -i "$TMP/exact.tfz" -o "$TMP/x.tfz" --ffn 60
grep_err 64 'grows or shrinks, not both' "grow: growing one kind and shrinking another exits 64" \
  $G -i "$TMP/exact.tfz" -o "$TMP/x.tfz" --ffn 60 --qkv +1 --data data/tiny-valid.txt
grep_out '^  growth +\{"old_tokens":\[32,32,64\]' "grow: the growth record in the checkpoint" \
  $TF_BIN/tf-inspect "$TMP/exact.tfz"
ok "grow: a frozen stage trains" $TR -i "$TMP/exact.tfz" -o "$TMP/frozen.tfz" --steps 2 \
  --set train.freeze=old_tokens --set train.lr_from_previous=2 --set train.warmup=0
grep_out '"lr_from_previous":2' "grow: the stage's schedule holds lr_from_previous" \
  $TF_BIN/tf-inspect "$TMP/frozen.tfz"
grep_err 78 'no growth record' "grow: freezing a model never grown exits 78" \
  $TR -i "$TMP/g0.tfz" -o "$TMP/x.tfz" --steps 1 --set train.freeze=old_tokens
grep_err 78 'lr_from_previous' "grow: lr_from_previous without a growth record exits 78" \
  $TR -i "$TMP/g0.tfz" -o "$TMP/x.tfz" --steps 1 --set train.lr_from_previous=1
# --print-config, read back as a config, prints the same values of both keys
print_twice() {
  $TF_BIN/tf-init -c configs/tiny.yaml --set train.lr_from_previous=0.5 \
    --set train.freeze=old_tokens --print-config > "$TMP/p1.yaml" &&
    $TF_BIN/tf-init -c "$TMP/p1.yaml" --print-config > "$TMP/p2.yaml" &&
    grep -E '^  (lr_from_previous|freeze):' "$TMP/p1.yaml" > "$TMP/k1" &&
    grep -E '^  (lr_from_previous|freeze):' "$TMP/p2.yaml" > "$TMP/k2" && cmp "$TMP/k1" "$TMP/k2" &&
    grep -q '^  lr_from_previous: 0.5 ' "$TMP/k2" && grep -q '^  freeze: old_tokens ' "$TMP/k2"
}
check "grow: train.lr_from_previous and train.freeze round-trip through --print-config" \
  print_twice
check "grow: no output after the refusals" test ! -e "$TMP/x.tfz"
