# test_usability.sh: a new user's first day (issue 25): fail fast, explicit stages, paths,
# provenance, logs, messages (sourced by run.sh). One case or more per item.
U=$TMP/usability
mkdir -p "$U"
UT="$TF_BIN/tf-train --threads 2 -q -c configs/tiny.yaml"
$TF_BIN/tf-init -q -c configs/tiny.yaml -o "$U/t0.tfz"

# 1. outputs are checked before any work: exit 73 at once, the log holds no step
grep_err 73 'nonexist' "usability 1: tf-train refuses an output it cannot create, at once" \
  $UT -i "$U/t0.tfz" -o "$U/nonexist/out.tfz" --steps 300 --log "$U/early.jsonl"
check "usability 1: and no training step ran (the log has no step record)" \
  sh -c "! grep -q '\"loss\"' '$U/early.jsonl'"
grep_err 73 'cannot open the log' "usability 1: a log that cannot be opened, exit 73" \
  $UT -i "$U/t0.tfz" -o "$U/o.tfz" --steps 300 --log "$U/nonexist/log.jsonl"
check "usability 1: and nothing was written" test ! -e "$U/o.tfz"
grep_err 73 'nonexist' "usability 1: tf-init checks its output first" \
  $TF_BIN/tf-init -q -c configs/tiny.yaml -o "$U/nonexist/i.tfz"
grep_err 73 'nonexist' "usability 1: tf-grow checks its output first" \
  $TF_BIN/tf-grow -q -i "$U/t0.tfz" -o "$U/nonexist/g.tfz" --ffn +8
# a failed periodic save is said, training goes on, the failed final save ends non-zero
USHIM=$U/faults.so
${CC:-cc} -shared -fPIC -O2 -o "$USHIM" tests/cli/faults.c 2> /dev/null || USHIM=
if [ -n "$USHIM" ]; then
  grep_err 74 'step 2: .*training goes on' "usability 1: a failed periodic save is said" \
    env LD_PRELOAD="$USHIM" ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    TF_FAULT_FSYNC=1 $UT -i "$U/t0.tfz" -o "$U/p.tfz" --steps 6 --set train.save_every=2 \
    --set train.eval_every=0 --log "$U/p.jsonl"
  check "usability 1: and training went on to the end of the stage" \
    sh -c "grep -q '\"step\":6,' '$U/p.jsonl' && test ! -e '$U/p.tfz'"
else
  echo "usability 1: periodic-save case skipped: no C compiler for tests/cli/faults.c"
fi

# 2. the stage's schedule is stored with it; resuming uses it, a change needs --reschedule
$UT -i "$U/t0.tfz" -o "$U/s10.tfz" --steps 10 --stop-at 5
grep_err 64 'train.steps: the checkpoint.s stage has 10, this run asks for 50' \
  "usability 2: resuming with the config's other train.steps is refused, naming both" \
  $UT -i "$U/s10.tfz" -o "$U/s10b.tfz"
grep_err 64 'train.lr: .* has 0.001, this run asks for 0.0005' \
  "usability 2: so is another lr" $UT -i "$U/s10.tfz" -o "$U/s10b.tfz" --steps 10 \
  --set train.lr=5e-4
grep_out '"stage_step": 10' "usability 2: the same schedule resumes to the stage's end" \
  sh -c "$UT -i '$U/s10.tfz' -o '$U/s10.tfz' --steps 10 && $TF_BIN/tf-inspect --json '$U/s10.tfz'"
cp "$U/s10.tfz" "$U/s10.keep"
grep_err 0 'stage already complete \(10/10 steps\)' \
  "usability 2: a finished stage rerun without --steps says so and exits 0" \
  $TF_BIN/tf-train --threads 2 -c configs/tiny.yaml -i "$U/s10.tfz" -o "$U/s10.tfz"
check "usability 2: and the file is untouched" cmp "$U/s10.tfz" "$U/s10.keep"
grep_out '"stage_step": 12' "usability 2: --reschedule lengthens the stage" \
  sh -c "$UT -i '$U/s10.tfz' -o '$U/s12.tfz' --steps 12 --reschedule &&
         $TF_BIN/tf-inspect --json '$U/s12.tfz'"

# 4. the config's model section is never ignored silently; --set model.* is refused
sed 's/^  d_model: 32/  d_model: 64/' configs/tiny.yaml > "$U/wide.yaml"
grep_err 0 'wide.yaml: its model section is ignored.*model.d_model 64 vs 32' \
  "usability 4: a config whose model differs from the checkpoint's is named in one line" \
  $TF_BIN/tf-train --threads 2 -q -c "$U/wide.yaml" -i "$U/t0.tfz" -o "$U/w.tfz" --steps 2
check "usability 4: one line only" test "$(grep -c 'model section' "$ERR")" = 1
grep_err 64 'set model.d_model=64: tf-train takes the model from the checkpoint' \
  "usability 4: tf-train refuses --set model.*" \
  $UT -i "$U/t0.tfz" -o "$U/w.tfz" --steps 2 --set model.d_model=64
grep_err 64 'set model.n_layers=3: tf-grow takes the model from the checkpoint' \
  "usability 4: tf-grow refuses --set model.*" \
  $TF_BIN/tf-grow -q -i "$U/t0.tfz" -o "$U/w.tfz" --ffn +8 --set model.n_layers=3

# 8. a prompt typed on a terminal ends at the first Ctrl-D, mid-line too, and the terminal is
# told so (a pseudo-terminal types it; the old reader waited for a second Ctrl-D: killed, 124)
grep_out '^tf-generate: reading the prompt from the terminal \(end with Ctrl-D\)' \
  "usability 8: tf-generate on a terminal says how the prompt ends" \
  python3 tests/cli/pty_run.py 'end with Ctrl-D' 'And God\x04' $TF_BIN/tf-generate \
  -i "$U/t0.tfz" -n 5 --json
cp "$OUT" "$U/pty.out"
check "usability 8: and one Ctrl-D in the middle of a line ended the prompt" \
  grep -q '"prompt":"And God","text"' "$U/pty.out"
grep_out '"prompt":"And God","text"' "usability 8: with -q too" \
  python3 tests/cli/pty_run.py '' 'And God\x04' $TF_BIN/tf-generate -q -i "$U/t0.tfz" -n 5 --json
cp "$OUT" "$U/pty.out"
check "usability 8: and -q keeps the notice quiet" sh -c "! grep -q 'reading the prompt' '$U/pty.out'"

# 12. --stop takes C escapes: \xHH, \n, \t, \\; others are refused
grep_out '"text":"[^"]*N","[^}]*"stopped":"stop"' "usability 12: --stop '\\x4e' stops at an N" \
  $TF_BIN/tf-generate -i "$U/t0.tfz" -p ab -n 200 --greedy --stop '\x4e' --json
grep_err 64 "--stop 'a\\\\q': escapes are" "usability 12: an unknown --stop escape, exit 64" \
  $TF_BIN/tf-generate -i "$U/t0.tfz" -p ab --stop 'a\q'
grep_err 64 'not \\x00' "usability 12: --stop '\\x00' is refused" \
  $TF_BIN/tf-generate -i "$U/t0.tfz" -p ab --stop '\x00'
ok "usability 12: tf-generate(1)'s --stop example runs as printed (\\n)" \
  $TF_BIN/tf-generate -i "$U/t0.tfz" -p 'And God said' -t 0.8 --top-p 0.95 --stop '\n'
