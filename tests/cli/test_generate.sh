# test_generate.sh: tf-generate: determinism, lengths, stop strings, prompts from every
# source, the empty prompt, a prompt longer than the context, --json, pipes, errors.
G="$TF_BIN/tf-generate --threads 2"
M=tests/fixtures/l2_norm_gelu.tfz # seq_len 16: 100 bytes slide the window several times

check "generate: greedy output is the same run to run" sh -c "
$G -i $M -p 'In the beginning' -n 100 --greedy > '$TMP/g1' &&
$G -i $M -p 'In the beginning' -n 100 --greedy > '$TMP/g2' && cmp '$TMP/g1' '$TMP/g2' &&
test \$(wc -c < '$TMP/g1') = 100"
check "generate: temperature 0 is greedy" sh -c "
$G -i $M -p 'In the beginning' -n 100 -t 0 --seed 9 > '$TMP/t0' && test -s '$TMP/t0' &&
cmp '$TMP/t0' '$TMP/g1'"
check "generate: the same seed gives the same bytes, another seed others" sh -c "
$G -i $M -p abc -n 200 --seed 7 > '$TMP/s1' && $G -i $M -p abc -n 200 --seed 7 > '$TMP/s2' &&
$G -i $M -p abc -n 200 --seed 8 > '$TMP/s3' && cmp '$TMP/s1' '$TMP/s2' &&
! cmp -s '$TMP/s1' '$TMP/s3'"
check "generate: -n N writes exactly N raw bytes, non-ASCII and NUL passed through" sh -c "
$G -i $M -p abc -n 500 --seed 3 > '$TMP/raw' && python3 -c \"
b = open('$TMP/raw', 'rb').read()
assert len(b) == 500, len(b)
assert any(c >= 0x80 for c in b), 'expected some non-ASCII bytes from a random model'
\""
check "generate: top-k 1 is greedy" sh -c "
$G -i $M -p 'In the beginning' -n 100 --top-k 1 --seed 5 > '$TMP/k1' && test -s '$TMP/k1' &&
cmp '$TMP/k1' '$TMP/g1'"
check "generate: top-k and top-p together run and are reproducible" sh -c "
$G -i $M -p abc -n 100 --top-k 20 --top-p 0.8 -t 0.7 > '$TMP/kp1' &&
$G -i $M -p abc -n 100 --top-k 20 --top-p 0.8 -t 0.7 | cmp - '$TMP/kp1'"

check "generate: --stop ends the text at the first occurrence" sh -c "
$G -i $M -p abc -n 300 --seed 11 > '$TMP/full' && python3 -c \"
import subprocess
full = open('$TMP/full', 'rb').read()
# a stop string of two printable bytes from the middle of the text (no quote, no backslash)
i = next(i for i in range(100, 298) if all(32 <= c < 127 and c not in (39, 92) for c in full[i:i+2]))
stop = full[i:i+2]
out = subprocess.run('$G -i $M -p abc -n 300 --seed 11 --stop xyzzy --stop \'%s\'' % stop.decode(),
                     shell=True, capture_output=True, check=True).stdout
end = full.find(stop) + 2
assert out == full[:end], (out, full[:end])
\""
check "generate: --stop of the greedy text's first bytes stops right there" sh -c "
test -s '$TMP/g1' && test \"\$($G -i $M -p 'In the beginning' --greedy --stop \"\$(head -c 3 '$TMP/g1')\")\" = \
  \"\$(head -c 3 '$TMP/g1')\""
check "generate: a stop string never produced leaves -n" sh -c "
test \$($G -i $M -p abc -n 50 --seed 2 --stop 'never in 50 bytes' | wc -c) = 50"
check "generate: -n 0 prints nothing" sh -c "
$G -i $M -p abc -n 0 > '$TMP/n0' && test ! -s '$TMP/n0'"
check "generate: -n 0 --echo prints the prompt alone" sh -c "
test \"\$($G -i $M -p 'the prompt' -n 0 --echo)\" = 'the prompt'"
check "generate: --echo prints the prompt, then the same text" sh -c "
$G -i $M -p abc -n 40 --seed 4 > '$TMP/e0' && $G -i $M -p abc -n 40 --seed 4 --echo > '$TMP/e1' &&
printf abc | cat - '$TMP/e0' | cmp - '$TMP/e1'"

check "generate: the prompt from stdin, -f FILE and -f - equal -p" sh -c "
$G -i $M -p 'And God said' -n 60 --seed 5 > '$TMP/p0' &&
printf 'And God said' | $G -i $M -n 60 --seed 5 | cmp - '$TMP/p0' &&
printf 'And God said' > '$TMP/prompt.txt' && $G -i $M -f '$TMP/prompt.txt' -n 60 --seed 5 |
cmp - '$TMP/p0' && printf 'And God said' | $G -i $M -f - -n 60 --seed 5 | cmp - '$TMP/p0'"
check "generate: an empty prompt starts from a newline" sh -c "
$G -i $M -p '' -n 60 --seed 6 > '$TMP/n0' && test \$(wc -c < '$TMP/n0') = 60 &&
$G -i $M -n 60 --seed 6 < /dev/null | cmp - '$TMP/n0' &&
$G -i $M -p '
' -n 60 --seed 6 | cmp - '$TMP/n0'"
check "generate: a prompt longer than the context counts by its last seq_len bytes" sh -c "
$G -i $M -p 'a prompt of far more than sixteen bytes: the last 16 count' -n 50 --seed 3 > '$TMP/l0' &&
$G -i $M -p 'he last 16 count' -n 50 --seed 3 | cmp - '$TMP/l0'"
check "generate: the checkpoint from stdin" sh -c "
$G -i - -p abc -n 40 --seed 4 < $M > '$TMP/e1' && test -s '$TMP/e1' && cmp '$TMP/e1' '$TMP/e0'"
check "generate: output into a pipe that closes early" sh -c "
test \$($G -i $M -p abc -n 100000 | head -c 10 | wc -c) = 10"

check "generate: --json has prompt, text, tokens, seconds and tokens_per_s" sh -c "
$G -i $M -p 'abc' -n 30 --seed 7 --json > '$TMP/j.json' && python3 -c \"
import json
j = json.load(open('$TMP/j.json'))
assert j['prompt'] == 'abc' and j['tokens'] == 30 and j['stopped'] == 'length', j
assert isinstance(j['text'], str) and len(j['text']) == 30   # one character per byte
assert j['seconds'] > 0 and abs(j['tokens_per_s'] - 30 / j['seconds']) < 1e-6 * j['tokens_per_s']
\" && test \$(wc -l < '$TMP/j.json') = 1"
check "generate: --json text equals the streamed bytes (bad UTF-8 as U+FFFD)" sh -c "
$G -i $M -p abc -n 200 --seed 7 --json > '$TMP/j2.json' && python3 -c \"
import json
j = json.load(open('$TMP/j2.json'))
raw = open('$TMP/s1', 'rb').read()
# U+FFFD stands for each byte that is not part of well-formed UTF-8; the rest is the same
assert len(j['text']) >= 1 and '\\\\ufffd' in j['text'], j
drop = lambda t: t.replace('\\\\ufffd', '')
assert drop(j['text']) == drop(raw.decode('utf-8', errors='ignore')), (j['text'], raw)
\""
check "generate: --json with a stop string says so" sh -c "
$G -i $M -p 'In the beginning' --greedy --stop \"\$(head -c 3 '$TMP/g1')\" --json | python3 -c \"
import json, sys
j = json.load(sys.stdin)
assert j['text'] == open('$TMP/g1').read(3) and j['stopped'] == 'stop' and j['tokens'] == 3, j
\""

grep_err 64 'temperature' "generate: a negative temperature exits 64" $G -i $M -p x -t -1
grep_err 64 'top-p' "generate: --top-p 0 exits 64" $G -i $M -p x --top-p 0
grep_err 64 'top-p' "generate: --top-p above 1 exits 64" $G -i $M -p x --top-p 1.5
grep_err 64 'tokens' "generate: negative -n exits 64" $G -i $M -p x -n -1
grep_err 64 'top-k' "generate: negative --top-k exits 64" $G -i $M -p x --top-k -1
grep_err 64 'seed' "generate: a bad --seed exits 64" $G -i $M -p x --seed 1x
grep_err 64 'stop' "generate: an empty --stop exits 64" $G -i $M -p x --stop ''
grep_err 64 '-p and -f' "generate: -p and -f together exit 64" $G -i $M -p x -f "$TMP/prompt.txt"
grep_err 64 'stdin' "generate: stdin for both model and prompt exits 64" $G -i -
grep_err 64 'checkpoint is required' "generate: no -i exits 64" $G -p x
grep_err 64 'unexpected argument' "generate: a stray argument exits 64" $G -i $M -p x extra
grep_err 66 'missing.txt' "generate: a missing prompt file exits 66" $G -i $M -f "$TMP/missing.txt"
grep_err 66 'is a directory' "generate: a directory as prompt file exits 66" $G -i $M -f "$TMP"
grep_err 65 'l2_norm_gelu.safetensors' "generate: a file that is not a checkpoint exits 65" \
  $G -i tests/fixtures/l2_norm_gelu.safetensors -p x
grep_err 65 'prompt.txt' "generate: text as a checkpoint exits 65" $G -i "$TMP/prompt.txt" -p x
grep_err 66 'missing.tfz' "generate: a missing checkpoint exits 66" $G -i "$TMP/missing.tfz" -p x
grep_out '^Usage: tf-generate' "generate: --help" $G --help
grep_out '^tf-generate \(tokenformer\)' "generate: --version" $G --version

# --weights: converted weights generate, reproducibly, and --json names their format; a
# format that does not exist is a usage error. (Their logits: tests/unit/test_quant.c.)
for w in bf16 q8; do
  check "generate: --weights $w runs, says so in --json, and is reproducible" sh -c "
$G -i $M -p 'In the beginning' -n 60 --seed 4 --weights $w --json > '$TMP/w1.json' &&
$G -i $M -p 'In the beginning' -n 60 --seed 4 --weights $w --json > '$TMP/w2.json' &&
python3 -c \"
import json
a, b = (json.load(open('$TMP/w%d.json' % i)) for i in (1, 2))
assert a['weights'] == '$w' and a['tokens'] == 60 and a['text'] == b['text'], (a, b)
\""
done
grep_err 64 'weights' "generate: --weights q4 exits 64" $G -i $M -p x --weights q4

# TF_QKERNEL: each kernel family this CPU runs, forced, decodes the default's greedy text (its
# products agree with the default's to float rounding, 1e-5 of the sum of |terms|:
# tests/unit/test_quant.c) and says so under -v; a family the CPU lacks, and a name that is no
# family's, exit 78 naming it, before decoding, whatever the weights.
for w in bf16 q8; do
  $G -i $M -p 'In the beginning' -n 100 --greedy --weights $w > "$TMP/qk-$w" 2>/dev/null
done
for k in scalar avx2 avx512 avx512bf16; do
  if TF_QKERNEL=$k $G --version | grep -q "^bf16 and q8 weights: $k kernels\$"; then
    for w in bf16 q8; do
      check "generate: TF_QKERNEL=$k --weights $w: the default's greedy text" sh -c "
TF_QKERNEL=$k $G -i $M -p 'In the beginning' -n 100 --greedy --weights $w -v \
  2> '$TMP/qk.err' | cmp - '$TMP/qk-$w' && test -s '$TMP/qk-$w' &&
grep -q '$w weights, .*, kernels $k\$' '$TMP/qk.err'"
    done
  else
    grep_err 78 "TF_QKERNEL=$k: this CPU lacks its instructions" \
      "generate: TF_QKERNEL=$k (not on this CPU) exits 78" env TF_QKERNEL=$k $G -i $M -p x --weights q8
  fi
done
for w in f32 q8; do
  grep_err 78 '^tf-generate: TF_QKERNEL=avx9: not a kernel family \(this CPU runs .*scalar\)$' \
    "generate: TF_QKERNEL=avx9 --weights $w exits 78 naming it" \
    env TF_QKERNEL=avx9 $G -i $M -p x --weights $w
done
grep_out '^bf16 and q8 weights: [a-z0-9]+ kernels \(TF_QKERNEL=avx9: not a kernel family' \
  "generate: --version says TF_QKERNEL was refused" env TF_QKERNEL=avx9 $G --version
grep_out '^bf16 and q8 weights: ' "generate: --version names the bf16/q8 kernels" $G --version
