# test_train.sh: tf-train stages, exact resume, signals, the NaN guard, bad data (sourced by
# run.sh). All runs use 2 threads: results are identical run to run for a thread count.
T="$TF_BIN/tf-train --threads 2 -q -c configs/tiny.yaml"
$TF_BIN/tf-init -q -c configs/tiny.yaml -o "$TMP/t0.tfz"

# no tensor differs: tf-inspect --diff lists only differences
same_tensors() {
  $TF_BIN/tf-inspect --diff "$1" "$2" > "$TMP/diff.txt" &&
    ! grep -Eq '^(changed|only|grown|shrunk)' "$TMP/diff.txt"
}

ok "train: 40 steps in one run" $T -i "$TMP/t0.tfz" -o "$TMP/full.tfz" --steps 40
ok "train: stop at step 20" $T -i "$TMP/t0.tfz" -o "$TMP/half.tfz" --steps 40 --stop-at 20
grep_out '"stage_step": 20' "train: the stopped checkpoint is at step 20" \
  $TF_BIN/tf-inspect --json "$TMP/half.tfz"
ok "train: resume to the end" $T -i "$TMP/half.tfz" -o "$TMP/resumed.tfz" --steps 40
check "train: stop then resume gives byte-identical tensors" same_tensors "$TMP/full.tfz" "$TMP/resumed.tfz"
check "train: and the data stream and counters match too" sh -c \
  "$TF_BIN/tf-inspect --tensor train.rng '$TMP/full.tfz' > '$TMP/a' &&
   $TF_BIN/tf-inspect --tensor train.rng '$TMP/resumed.tfz' > '$TMP/b' && cmp -s '$TMP/a' '$TMP/b'"
grep_err 0 'stage already complete \(40/40 steps\)' "train: a finished stage exits 0 with a message" \
  $TF_BIN/tf-train -c configs/tiny.yaml -i "$TMP/full.tfz" -o "$TMP/again.tfz" --steps 40
grep_out '"lifetime_steps": 50' "train: --new-stage adds a stage, lifetime counters go on" \
  sh -c "$T -i '$TMP/full.tfz' -o '$TMP/stage2.tfz' --new-stage --steps 10 &&
         $TF_BIN/tf-inspect --json '$TMP/stage2.tfz'"
grep_out 'tf-train' "train: history records the run" $TF_BIN/tf-inspect "$TMP/stage2.tfz"
ok "train: writes a JSON Lines log" $T -i "$TMP/t0.tfz" -o "$TMP/l.tfz" --steps 4 --log "$TMP/log.jsonl"
check "train: one log object per step, and per evaluation" python3 -c "
import json
rows = [json.loads(l) for l in open('$TMP/log.jsonl')]
steps = [r for r in rows if 'loss' in r]
assert [r['step'] for r in steps] == [1, 2, 3, 4], rows
assert all(k in steps[0] for k in ('lr', 'grad_norm', 'tokens', 'tokens_per_s', 'elapsed'))
"

# a signal: finish the step, save, exit 75; resuming gives the uninterrupted result. The
# stage is far longer than the run lives, and both runs then stop at the same step.
signal_then_resume() {
  rm -f "$TMP/sig.jsonl"
  $T -i "$TMP/t0.tfz" -o "$TMP/sig.tfz" --steps 100000 --set train.eval_every=0 \
    --log "$TMP/sig.jsonl" &
  pid=$!
  wait_for "$TMP/sig.jsonl" '"loss"' # after a first step, however slow the machine
  kill -"$1" $pid
  wait $pid
  rc=$?
  [ $rc = 75 ] || { echo "exit $rc after SIG$1, expected 75" >&2; return 1; }
  s=$($TF_BIN/tf-inspect --tensor train.step "$TMP/sig.tfz") && [ "$s" -gt 0 ] &&
    $T -i "$TMP/sig.tfz" -o "$TMP/sig2.tfz" --steps 100000 --stop-at $((s + 20)) &&
    $T -i "$TMP/t0.tfz" -o "$TMP/long.tfz" --steps 100000 --stop-at $((s + 20)) &&
    same_tensors "$TMP/long.tfz" "$TMP/sig2.tfz"
}
check "train: SIGTERM saves, exits 75, and resume equals the uninterrupted run" signal_then_resume TERM
check "train: SIGUSR1 likewise" signal_then_resume USR1

# failures keep the last good checkpoint
cp "$TMP/half.tfz" "$TMP/keep.tfz"
grep_err 65 'step [0-9]+: (loss|gradient)' "train: a diverging run stops with exit 65" \
  $T -i "$TMP/t0.tfz" -o "$TMP/keep.tfz" --steps 40 --set train.lr=10 --set train.min_lr=10 \
  --set train.weight_decay=10
check "train: the old checkpoint is untouched after a failure" cmp "$TMP/half.tfz" "$TMP/keep.tfz"
grep_err 66 'nothere.txt' "train: missing corpus exits 66" \
  $T -i "$TMP/t0.tfz" -o "$TMP/x.tfz" --set train.data="$TMP/nothere.txt"
grep_err 66 'directory' "train: a directory as corpus exits 66" \
  $T -i "$TMP/t0.tfz" -o "$TMP/x.tfz" --set train.data="$TMP"
: > "$TMP/empty.txt"
grep_err 65 'empty' "train: an empty corpus exits 65" \
  $T -i "$TMP/t0.tfz" -o "$TMP/x.tfz" --set train.data="$TMP/empty.txt"
printf 'too short' > "$TMP/short.txt"
grep_err 65 'shorter than one training window' "train: a corpus shorter than a window exits 65" \
  $T -i "$TMP/t0.tfz" -o "$TMP/x.tfz" --set train.data="$TMP/short.txt"
grep_err 66 'none.tfz' "train: missing checkpoint exits 66" $T -i "$TMP/none.tfz" -o "$TMP/x.tfz"
grep_err 64 'input checkpoint is required' "train: no -i is a usage error" \
  $TF_BIN/tf-train -c configs/tiny.yaml -o "$TMP/x.tfz"
grep_err 64 'stop-at' "train: bad --stop-at" $T -i "$TMP/t0.tfz" -o "$TMP/x.tfz" --stop-at -1
check "train: no partial output after failures" test ! -e "$TMP/x.tfz"
grep_out 'Usage: tf-train' "train: --help" $TF_BIN/tf-train --help
check "train: -i - and -o - stream through a pipe" sh -c \
  "$T -i - -o - --steps 2 < '$TMP/t0.tfz' | $TF_BIN/tf-inspect - > /dev/null"

# the in-run evaluation samples tf-eval's windows over the whole valid text, not its start:
# trained on 'a' only, a text of 8 windows of 'a' then 8 of 'b' scores about as tf-eval scores
# it (the first 8 windows alone would be all 'a', near zero loss)
in_run_eval_spreads() {
  python3 -c "import sys; sys.stdout.write('a' * 4096)" > "$TMP/aaa.txt"
  python3 -c "import sys; sys.stdout.write('a' * 256 + 'b' * 256)" > "$TMP/ab.txt"
  $T -i "$TMP/t0.tfz" -o "$TMP/a.tfz" --steps 20 --set train.lr=1e-2 --set train.data="$TMP/aaa.txt" \
    --set train.valid="$TMP/ab.txt" --set train.eval_every=20 --log "$TMP/ab.jsonl" &&
    $TF_BIN/tf-eval --threads 2 --json -i "$TMP/a.tfz" --data "$TMP/ab.txt" > "$TMP/ab.json" &&
    python3 -c "
import json
run = [json.loads(l) for l in open('$TMP/ab.jsonl') if 'valid_loss' in l][-1]
full = json.load(open('$TMP/ab.json'))
assert run['valid_tokens'] == 8 * 32, run
assert abs(run['valid_loss'] / full['loss'] - 1) < 0.1, (run, full)
"
}
check "train: the in-run evaluation spreads its windows over the valid text" in_run_eval_spreads
