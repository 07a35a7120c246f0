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
sed -e 's/^  d_model: 32/  d_model: 64/' -e "s#\.\./data/#$PWD/data/#" configs/tiny.yaml > "$U/wide.yaml"
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

# 3. relative paths in a config are taken from its directory; --set ones from the current one
mkdir -p "$U/proj/cfg" "$U/elsewhere"
cp data/tiny-train.txt "$U/proj/cfg/corpus.txt"
printf 'model:\n  seq_len: 32\ntrain:\n  data: corpus.txt\n  valid: ""\n  batch: 2\n' \
  > "$U/proj/cfg/run.yaml"
check "usability 3: a config's data path is taken from the config's directory, from anywhere" \
  sh -c "cd '$U/elsewhere' && $TF_BIN/tf-train -q --threads 2 -c ../proj/cfg/run.yaml \
         -i '$U/t0.tfz' -o '$U/p3.tfz' --steps 1"
check "usability 3: the repository's configs work from another directory" \
  sh -c "cd '$U/elsewhere' && $TF_BIN/tf-train -q --threads 2 -c '$PWD/configs/tiny.yaml' \
         -i '$U/t0.tfz' -o '$U/p3b.tfz' --steps 1"
printf 'train:\n  batch: 2\n  data: missing.txt\n' > "$U/proj/cfg/bad.yaml"
grep_err 66 'train.data \(.*proj/cfg/bad.yaml:3\): .*proj/cfg/missing.txt: cannot open: No such file' \
  "usability 3: a missing data file names the key, the config file and line" \
  $UT -i "$U/t0.tfz" -o "$U/p3c.tfz" --steps 1 -c "$U/proj/cfg/bad.yaml"
grep_err 66 'train.data \(--set\): no-such.txt: cannot open' \
  "usability 3: a --set path is taken from the current directory and named as --set" \
  $UT -i "$U/t0.tfz" -o "$U/p3c.tfz" --steps 1 --set train.data=no-such.txt
check "usability 3: --set data/tiny-train.txt (current directory) beside a config elsewhere" \
  $TF_BIN/tf-train -q --threads 2 -c "$U/proj/cfg/bad.yaml" --set train.data=data/tiny-train.txt \
  --set train.valid= \
  -i "$U/t0.tfz" -o "$U/p3d.tfz" --steps 1

# 5. complete provenance in every history record; --history prints it, --json carries it
$UT -i "$U/t0.tfz" -o "$U/h1.tfz" --steps 4 --stop-at 2
$UT -i "$U/h1.tfz" -o "$U/h2.tfz" --steps 4
$TF_BIN/tf-inspect --json "$U/h2.tfz" > "$U/h2.json"
sha_train=$(sha256sum < data/tiny-train.txt | cut -d' ' -f1)
cat > "$U/check5.py" << 'PY'
import json, sys
h = json.load(open(sys.argv[1]))["history"]
assert [r["command"] for r in h] == ["tf-init", "tf-train", "tf-train"], h
for r in h:
    for k in ("time", "version", "argv", "ranks", "threads", "config_sha256", "data"):
        assert k in r, (k, r)
    assert r["time"].endswith("Z") and r["argv"][0].endswith(r["command"]), r
init, t1, t2 = h
assert init["seed"] == 1 and init["std"] == 0.02 and "value_std" in init, init
assert "init:" in init["config_text"] and "--stop-at" in t1["argv"], t1
# the same config is stored once: the resumed run refers to it by its hash
assert t1["config_sha256"] == t2["config_sha256"] and "config_text" in t1, t1
assert "config_text" not in t2, t2
d = {f["key"]: f for f in t2["data"]}
assert d["train.data"]["sha256_first_mib"] == sys.argv[2], d
assert d["train.data"]["bytes"] > 0 and "train.valid" in d, d
PY
check "usability 5: every record holds argv, time, version, ranks, threads, config and data" \
  python3 "$U/check5.py" "$U/h2.json" "$sha_train"
grep_out '^  config_text$' "usability 5: tf-inspect --history prints the config's text" \
  $TF_BIN/tf-inspect --history "$U/h2.tfz"
grep_out '^  data +train.data .*tiny-train.txt +[0-9]+ bytes +sha256 of the first MiB [0-9a-f]{64}$' \
  "usability 5: and each data file with its size and hash" $TF_BIN/tf-inspect --history "$U/h2.tfz"

# 6. the log: start/resume records, lifetime counters and an event on every record, dedup
$UT -i "$U/t0.tfz" -o "$U/l1.tfz" --steps 8 --stop-at 4 --set train.eval_every=2 \
  --log "$U/run.jsonl"
cp "$U/l1.tfz" "$U/l1.keep"
$UT -i "$U/l1.tfz" -o "$U/l1.tfz" --steps 8 --stop-at 6 --set train.eval_every=2 \
  --log "$U/run.jsonl"
# a crash after step 6 that lost its checkpoint: the run resumes from step 4 again
$UT -i "$U/l1.keep" -o "$U/l1.tfz" --steps 8 --set train.eval_every=2 --log "$U/run.jsonl"
cat > "$U/check6.py" << 'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    for k in ("event", "lifetime_step", "lifetime_tokens", "lifetime_flops"):
        assert k in r, (k, r)
events = [r["event"] for r in rows]
assert events[0] == "start" and events.count("resume") == 2 and events.count("end") == 3, events
assert set(events) == {"start", "resume", "step", "eval", "save", "end"}, events
s = rows[0]
assert s["argv"][0].endswith("tf-train") and "train:" in s["config_text"], s
assert s["model"]["d_model"] == 32 and s["model"]["parameters"] > 0, s
r = [x for x in rows if x["event"] == "resume"]
assert r[0]["lifetime_step"] == 4 and r[1]["lifetime_step"] == 4, r
steps = [x["lifetime_step"] for x in rows if x["event"] == "step"]
assert steps == [1, 2, 3, 4, 5, 6, 5, 6, 7, 8], steps  # 5 and 6 twice: the last ones count
PY
check "usability 6: the log's records: events, lifetime counters, start and resume" \
  python3 "$U/check6.py" "$U/run.jsonl"
grep_out 'lifetime steps' "usability 6: tools/plot-log draws a log on the terminal" \
  tools/plot-log -s 80,30 "$U/run.jsonl"
check "usability 6: and several logs against tokens to a PNG" \
  sh -c "tools/plot-log -x tokens -o '$U/run.png' '$U/run.jsonl' '$U/run.jsonl' &&
         od -An -c -N4 '$U/run.png' | grep -q 'P   N   G'"
grep_err 65 'no step or eval records' "usability 6: plot-log refuses a file that is no log" \
  tools/plot-log "$U/h2.json"
grep_err 64 'expected steps, tokens or flops' "usability 6: plot-log -x names its choices" \
  tools/plot-log -x time "$U/run.jsonl"
grep_err 64 'expected WIDTH,HEIGHT' "usability 6: plot-log -s takes two numbers (plot-log(1))" \
  tools/plot-log -s 8a,30 "$U/run.jsonl"


# 7. tf-train's banner (not with -q); plain progress lines with the UTC time and the time left;
# on a terminal the bar is cut to its width; tf-eval --json names the model
grep_err 0 'global batch 4 windows of 32 = 128 tokens a step' \
  "usability 7: tf-train starts with a banner on stderr" \
  $TF_BIN/tf-train --threads 2 -c configs/tiny.yaml -i "$U/t0.tfz" -o "$U/b.tfz" --steps 4 \
  --set train.eval_every=2
cp "$ERR" "$U/banner.err"
check "usability 7: model, data, ranks and threads, where the stage starts" sh -c "
  grep -q 'model .*t0.tfz: [0-9]* parameters, L2 d32' '$U/banner.err' &&
  grep -q 'data configs/../data/tiny-train.txt: [0-9]* bytes' '$U/banner.err' &&
  grep -q '1 rank); 2 threads a rank' '$U/banner.err' &&
  grep -q 'this run: stage step 0 to 4 of 4; a new stage' '$U/banner.err'"
check "usability 7: plain lines carry the UTC time and the time left" \
  grep -Eq '^tf-train: 20[0-9-]+T[0-9:]+Z step 2/4 loss .* eta [0-9]+:[0-9]{2}$' "$U/banner.err"
grep_err 0 'resuming at lifetime step 4' "usability 7: a resumed run says where it resumes" \
  $TF_BIN/tf-train --threads 2 -c configs/tiny.yaml -i "$U/b.tfz" -o "$U/b2.tfz" --steps 6 \
  --reschedule
ok "usability 7: -q prints no banner" $UT -i "$U/t0.tfz" -o "$U/b.tfz" --steps 2
cp "$ERR" "$U/quiet.err"
check "usability 7: (stderr empty)" test ! -s "$U/quiet.err"
grep_out 'step' "usability 7: on a 50-column terminal" env PTY_COLS=50 python3 tests/cli/pty_run.py \
  '' '' $TF_BIN/tf-train --threads 2 -c configs/tiny.yaml -i "$U/t0.tfz" -o "$U/b.tfz" --steps 30
cp "$OUT" "$U/tty.out"
check "usability 7: the progress line is cut to 49 columns, the time left kept" python3 -c "
import re, sys
segs = re.split(rb'[\r\n]', open(sys.argv[1], 'rb').read().replace(b'\x1b[K', b''))
bars = [s for s in segs if re.match(rb'(\[[#.]+\] )?[0-9]+/30 ', s)]
assert bars and all(len(s) <= 49 for s in bars), bars
assert all(b' eta ' in s for s in bars), bars
" "$U/tty.out"
grep_out '^\{"model":"[^"]*t0.tfz","data":"data/tiny-valid.txt"' \
  "usability 7: tf-eval --json names the model" \
  $TF_BIN/tf-eval -i "$U/t0.tfz" --data data/tiny-valid.txt --json

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
for cmd in tf-convert tf-eval tf-generate tf-grow tf-init tf-tokenize tf-train; do
  grep_out '^ +-q, --quiet ' "usability 12: $cmd --help lists -q" $TF_BIN/$cmd --help
done
# tf-inspect writes no notes: it takes no -q (a command accepts only what it honours)
grep_err 64 "unrecognized option '-q'" "usability 12: tf-inspect refuses -q" $TF_BIN/tf-inspect -q x
check "usability 12: and its --help does not list it" sh -c "! $TF_BIN/tf-inspect --help | grep -q -- -q"
check "usability 12: every man page has a real date and .Os" sh -c \
  "! grep -l 'Mdocdate' man/man*/*.[157] && test \$(grep -l '^\.Os tokenformer' man/man*/*.[157] | wc -l) = \$(ls man/man*/*.[157] | wc -l)"
ok "usability 12: tf-generate(1)'s --stop example runs as printed (\\n)" \
  $TF_BIN/tf-generate -i "$U/t0.tfz" -p 'And God said' -t 0.8 --top-p 0.95 --stop '\n'

# 9. --print-config on tf-train and tf-grow: the run's config, defaults included; -c optional
grep_out '^  steps: 7 ' "usability 9: tf-train --print-config, no config: defaults and options" \
  $TF_BIN/tf-train --print-config --steps 7
grep_out '^  d_model: 32 ' "usability 9: with -i, the model is the checkpoint's, not the config's" \
  $TF_BIN/tf-train -c "$U/wide.yaml" -i "$U/t0.tfz" --print-config
grep_out '^  ffn_tokens: "\+8" ' "usability 9: tf-grow --print-config" \
  $TF_BIN/tf-grow -i "$U/t0.tfz" --ffn +8 --seed 3 --print-config
check "usability 9: tf-train without -c trains with the defaults and --set" \
  sh -c "$TF_BIN/tf-train -q --threads 2 -i '$U/t0.tfz' -o '$U/noc.tfz' --steps 1 \
    --set train.data=data/tiny-train.txt --set train.valid= --set train.batch=2 &&
    $TF_BIN/tf-inspect --json '$U/noc.tfz' | grep -q '\"stage_step\": 1'"

# 10. tf-inspect OLD NEW, --params-only, any tensor order
$TF_BIN/tf-inspect --diff "$U/s10.tfz" "$U/t0.tfz" > "$U/diff1"
grep_out '0 only in A, 0 only in B$' "usability 10: OLD NEW --params-only leaves the optimizer out" \
  $TF_BIN/tf-inspect --params-only "$U/t0.tfz" "$U/s10.tfz"
check "usability 10: tf-inspect OLD NEW is tf-inspect --diff NEW OLD" \
  sh -c "$TF_BIN/tf-inspect '$U/t0.tfz' '$U/s10.tfz' | cmp -s - '$U/diff1'"
gunzip -c "$U/t0.tfz" | python3 -c "
import json, struct, sys
b = sys.stdin.buffer.read()
n = struct.unpack('<Q', b[:8])[0]
h, data = json.loads(b[8:8 + n]), b[8 + n:]
out, parts, off = {'__metadata__': h.pop('__metadata__')}, [], 0
for name in sorted(h, reverse=True):  # the names backwards: not the canonical order
    s, e = h[name]['data_offsets']
    parts.append(data[s:e])
    out[name] = dict(h[name], data_offsets=[off, off + e - s])
    off += e - s
j = json.dumps(out).encode()
j += b' ' * (-len(j) % 8)
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(j)) + j + b''.join(parts))" "$U/rev.safetensors"
grep_out '^tensors: 23 same, 0 changed' "usability 10: a file in another tensor order compares" \
  $TF_BIN/tf-inspect "$U/rev.safetensors" "$U/t0.tfz"

# 11. a file that is not a checkpoint says what it looks like; -o - says streamed; one line
# per bad option
printf 'model:\n  d_model: 32\n' > "$U/text.tfz"
gzip -c "$U/text.tfz" > "$U/text.gz"
printf '\050\265\057\375 zstd frame' > "$U/z.tfz"
python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1], 'w').writestr('a/data.pkl', 'x')" \
  "$U/torch.bin"
grep_err 65 'text.tfz: not a checkpoint: looks like text$' "usability 11: text is not a checkpoint" \
  $TF_BIN/tf-inspect "$U/text.tfz"
grep_err 65 "text.gz: not a checkpoint: looks like gzip'd text" "usability 11: nor gzip'd text" \
  $TF_BIN/tf-eval -i "$U/text.gz"
grep_err 65 'z.tfz: not a checkpoint: looks like zstd' "usability 11: zstd is named" \
  $TF_BIN/tf-generate -i "$U/z.tfz" -p x
grep_err 65 'torch.bin: not a checkpoint: looks like zip \(a PyTorch file\? use tf-convert\)' \
  "usability 11: a zip says tf-convert" $UT -i "$U/torch.bin" -o "$U/x.tfz"
grep_err 0 'parameters, .*, streamed$' "usability 11: -o - says streamed" \
  sh -c "$TF_BIN/tf-init -c configs/tiny.yaml -o - > '$U/st.tfz'"
for bad in --frobnicate -x --steps --json '--new-stage=1'; do
  grep_err 64 "^tf-train: (unrecognized option|option .* (requires|allow))" \
    "usability 11: tf-train $bad: one error line" $UT -i "$U/t0.tfz" -o "$U/x.tfz" $bad
  check "usability 11: tf-train $bad: the error and the --help hint only" \
    test "$(grep -c '' "$ERR")" = 2
done
# 14. make check and make demo check the Debian packages before compiling anything: a package
# known to be missing (TF_DEPS_INSTALL=0: named, never installed, root or not) stops them with
# the apt-get line (make -n: were the check to pass, nothing would run)
grep_err 1 'apt-get install -y tokenformer-no-such-package$' \
  "usability 14: install-deps.sh names the missing package and the apt-get line" \
  env TF_DEPS_INSTALL=0 sh tests/install-deps.sh gcc tokenformer-no-such-package
cp "$ERR" "$U/deps.err"
check "usability 14: only the missing one" sh -c "! grep -q 'gcc' '$U/deps.err'"
grep_err 2 'apt-get install -y tokenformer-no-such-package$' \
  "usability 14: make demo stops at the check, with the apt-get line" \
  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL TF_DEPS_INSTALL=0 make -n demo DEPS_CHECK=1 \
  DEPS='gcc tokenformer-no-such-package'
cp "$ERR" "$U/deps.err"
check "usability 14: before compiling anything" grep -q 'nothing was compiled' "$U/deps.err"
