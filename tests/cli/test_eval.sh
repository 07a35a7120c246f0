# test_eval.sh: tf-eval against the PyTorch reference, determinism, stdin, errors.
E="$TF_BIN/tf-eval --threads 2"
F=tests/fixtures
check "eval: loss equals the PyTorch reference's (tests/fixtures/eval_odd_seq.json)" sh -c "
$E -i $F/odd_seq.tfz --data data/tiny-valid.txt --max-bytes 1000 --json > '$TMP/ev.json' &&
python3 -c \"
import json
ours = json.load(open('$TMP/ev.json')); ref = json.load(open('$F/eval_odd_seq.json'))
assert ours['tokens'] == ref['tokens'] == 999, (ours, ref)
# float32 against float64: 1e-5 relative is ~20x the round-off the fixtures measured
assert abs(ours['loss'] - ref['loss']) <= 1e-5 * ref['loss'], (ours['loss'], ref['loss'])
assert abs(ours['bits_per_byte'] - ref['bits_per_byte']) <= 1e-5 * ref['bits_per_byte']
\""
check "eval: the batch size changes the result only by float rounding" sh -c "
$E -i $F/odd_seq.tfz --data data/tiny-valid.txt --batch 1 --json > '$TMP/b1' &&
$E -i $F/odd_seq.tfz --data data/tiny-valid.txt --batch 7 --json > '$TMP/b7' &&
python3 -c \"
import json
a, b = json.load(open('$TMP/b1')), json.load(open('$TMP/b7'))
# other batch shapes sum in another order: float32 rounding, ~1e-7 relative
assert a['tokens'] == b['tokens'] and abs(a['loss'] - b['loss']) <= 1e-6 * a['loss'], (a, b)
\""
check "eval: the same run twice gives the same bytes" sh -c "
$E -i $F/odd_seq.tfz --data data/tiny-valid.txt --json > '$TMP/r1' &&
$E -i $F/odd_seq.tfz --data data/tiny-valid.txt --json > '$TMP/r2' && cmp '$TMP/r1' '$TMP/r2'"
check "eval: stdin gives the same figures as the file" sh -c "
$E -i $F/odd_seq.tfz --json < data/tiny-valid.txt > '$TMP/s1.json' &&
$E -i $F/odd_seq.tfz --json --data data/tiny-valid.txt > '$TMP/s2.json' &&
grep -q bits_per_byte '$TMP/s1.json' &&
sed 's/\"data\":\"[^\"]*\"//' '$TMP/s1.json' > '$TMP/s1' &&
sed 's/\"data\":\"[^\"]*\"//' '$TMP/s2.json' > '$TMP/s2' && cmp '$TMP/s1' '$TMP/s2'"
grep_out 'bits per byte' "eval: text output" $E -i $F/odd_seq.tfz --data data/tiny-valid.txt
grep_err 66 'missing.txt' "eval: missing text exits 66" $E -i $F/odd_seq.tfz --data "$TMP/missing.txt"
printf 'x' > "$TMP/one.txt"
grep_err 65 'nothing to predict' "eval: a one-byte text exits 65" $E -i $F/odd_seq.tfz --data "$TMP/one.txt"
grep_err 65 'odd_seq.safetensors' "eval: a fixture that is not a checkpoint exits 65" \
  $E -i $F/odd_seq.safetensors --data data/tiny-valid.txt
grep_err 64 'stdin' "eval: stdin twice is a usage error" $E -i - --data -
grep_err 64 'max-bytes' "eval: bad --max-bytes" $E -i $F/odd_seq.tfz --max-bytes 1x

# --weights: the rounded formats score the same bytes a little differently (on this random
# fixture bf16 moved bits per byte by 1e-4 relative, q8 by 1.7e-3); 1e-2 is the bound.
check "eval: --weights bf16 and q8 stay near f32 and name their format" sh -c "
for w in f32 bf16 q8; do
  $E -i $F/odd_seq.tfz --data data/tiny-valid.txt --max-bytes 2000 --weights \$w --json
done > '$TMP/wq' && python3 -c \"
import json
f, b, q = [json.loads(l) for l in open('$TMP/wq')]
assert [x['weights'] for x in (f, b, q)] == ['f32', 'bf16', 'q8'], (f, b, q)
for x in (b, q):
    assert x['tokens'] == f['tokens'] and x['bits_per_byte'] != f['bits_per_byte'], (f, x)
    assert abs(x['bits_per_byte'] - f['bits_per_byte']) <= 1e-2 * f['bits_per_byte'], (f, x)
\""
grep_err 64 'weights' "eval: --weights q4 is a usage error" $E -i $F/odd_seq.tfz --weights q4
