# test_tasks.sh: tf-eval --task: output forms, --limit, --per-example, and bad task files
# (each error names the file and line and exits 65).
E="$TF_BIN/tf-eval --threads 2"
M=tests/fixtures/tasks_bytes.tfz
D=tests/fixtures/tasks
grep_out '^hellaswag acc 0\.2500 ±0\.1306 acc_norm 0\.5000 ±0\.1508 N 12$' "tasks: text line" \
  $E -i $M --task hellaswag --data $D/hellaswag.jsonl
grep_out '^winogrande acc [0-9.]+ ±[0-9.]+ N 12$' "tasks: winogrande reports acc only" \
  $E -i $M --task winogrande --data $D/winogrande.jsonl
grep_out 'perplexity' "tasks: lambada reports perplexity" \
  $E -i $M --task lambada_openai --data $D/lambada_openai.jsonl
check "tasks: --json has the harness's metric names, and matches the reference" sh -c "
$E -i $M --task piqa --data $D/piqa.jsonl --json > '$TMP/piqa.json' &&
python3 -c \"
import json
ours = json.load(open('$TMP/piqa.json'))
ref = json.load(open('tests/fixtures/tasks_bytes.json'))['tasks']['piqa']['metrics']
assert sorted(ours) == sorted(['task', 'model', 'data', 'weights', 'n', 'acc', 'acc_stderr', 'acc_norm', 'acc_norm_stderr']), ours
for k in ('n', 'acc', 'acc_norm'): assert ours[k] == ref[k], (k, ours, ref)
for k in ('acc_stderr', 'acc_norm_stderr'): assert abs(ours[k] - ref[k]) < 1e-12, (k, ours, ref)
\""
check "tasks: --per-example has one line per example with the reference's choices" sh -c "
$E -i $M --task arc_easy --data $D/arc_easy.jsonl --per-example '$TMP/pe.jsonl' > /dev/null &&
python3 -c \"
import json
ours = [json.loads(l) for l in open('$TMP/pe.jsonl')]
ref = json.load(open('tests/fixtures/tasks_bytes.json'))['tasks']['arc_easy']['examples']
assert [o['index'] for o in ours] == list(range(12)), ours
for o, r in zip(ours, ref):
    assert (o['chosen'], o['chosen_norm'], o['gold'], o['line']) == (r['chosen'], r['chosen_norm'], r['gold'], r['line'])
    for a, b in zip(o['loglikelihoods'], r['requests']): assert abs(a - b['ll']) <= 1e-4 * abs(b['ll'])
\""
grep_out 'N 3$' "tasks: --limit 3" $E -i $M --task piqa --data $D/piqa.jsonl --limit 3
check "tasks: stdin gives the same figures" sh -c "
$E -i $M --task piqa --json < $D/piqa.jsonl | sed 's/\"data\":\"[^\"]*\"//' > '$TMP/t1' &&
$E -i $M --task piqa --json --data $D/piqa.jsonl | sed 's/\"data\":\"[^\"]*\"//' > '$TMP/t2' &&
cmp '$TMP/t1' '$TMP/t2'"

# bad input: file and line named, exit 65
bad() { # NAME TASK PATTERN LINE...
  name=$1; task=$2; pat=$3; shift 3
  printf '%s\n' "$@" > "$TMP/bad.jsonl"
  grep_err 65 "$pat" "tasks: $name" $E -i $M --task "$task" --data "$TMP/bad.jsonl"
}
good_piqa='{"goal": "g", "sol1": "a", "sol2": "b", "label": 0}'
bad "missing field" piqa 'bad.jsonl:2: missing field "sol2"' "$good_piqa" '{"goal": "g", "sol1": "a", "label": 0}'
bad "label out of range" piqa 'bad.jsonl:1: label "label" is 2, out of range for 2 choices' \
  '{"goal": "g", "sol1": "a", "sol2": "b", "label": 2}'
bad "malformed line" piqa 'bad.jsonl:3: ' "$good_piqa" "$good_piqa" '{"goal": "g", "sol1'
bad "not an object" piqa 'bad.jsonl:1: not a JSON object' '[1, 2]'
bad "field of the wrong type" piqa 'bad.jsonl:1: not a string: field "goal"' \
  '{"goal": 7, "sol1": "a", "sol2": "b", "label": 0}'
bad "empty choice list" hellaswag 'bad.jsonl:1: empty choice list "endings"' \
  '{"activity_label": "a", "ctx_a": "b", "ctx_b": "c", "endings": [], "label": 0}'
bad "arc answerKey not among the labels" arc_easy 'bad.jsonl:1: answerKey "E" is not in choices.label' \
  '{"question": "q", "choices": {"text": ["a", "b"], "label": ["A", "B"]}, "answerKey": "E"}'
bad "arc empty choices" arc_challenge 'bad.jsonl:1: empty choice list "choices.text"' \
  '{"question": "q", "choices": {"text": [], "label": []}, "answerKey": "A"}'
bad "winogrande without a blank" winogrande 'bad.jsonl:1: no "_" in field "sentence"' \
  '{"sentence": "no blank", "option1": "a", "option2": "b", "answer": "1"}'
bad "winogrande answer out of range" winogrande 'bad.jsonl:1: answer is 3, expected 1 or 2' \
  '{"sentence": "a _ b", "option1": "a", "option2": "b", "answer": "3"}'
bad "hellaswag label not a number" hellaswag 'bad.jsonl:1: not an integer label: field "label"' \
  '{"activity_label": "a", "ctx_a": "b", "ctx_b": "c", "endings": ["x"], "label": "one"}'
long=$(python3 -c "print('x' * 200)")
bad "continuation longer than seq_len" piqa 'bad.jsonl:1: choice 0: the continuation is 201 tokens, longer than the model.s seq_len 128' \
  "{\"goal\": \"g\", \"sol1\": \"$long\", \"sol2\": \"b\", \"label\": 0}"
: > "$TMP/empty.jsonl"
grep_err 65 'empty.jsonl: no examples' "tasks: an empty file exits 65" \
  $E -i $M --task piqa --data "$TMP/empty.jsonl"
printf '\n\n' > "$TMP/blank.jsonl"
grep_err 65 'blank.jsonl: no examples' "tasks: blank lines only exit 65" \
  $E -i $M --task piqa --data "$TMP/blank.jsonl"
grep_err 66 'missing.jsonl' "tasks: a missing file exits 66" \
  $E -i $M --task piqa --data "$TMP/missing.jsonl"
grep_err 64 'unknown task .lambada.' "tasks: an unknown task is a usage error" \
  $E -i $M --task lambada --data $D/piqa.jsonl
grep_err 64 'limit' "tasks: --limit 0 is a usage error" $E -i $M --task piqa --data $D/piqa.jsonl --limit 0
grep_err 64 'go with --task' "tasks: --limit without --task" $E -i $M --data $D/piqa.jsonl --limit 2
grep_err 64 'one --data' "tasks: two files" $E -i $M --task piqa --data $D/piqa.jsonl --data $D/piqa.jsonl
grep_err 73 'nodir/pe.jsonl' "tasks: --per-example in a missing directory exits 73" \
  $E -i $M --task piqa --data $D/piqa.jsonl --per-example "$TMP/nodir/pe.jsonl"
check "tasks: a failed --per-example leaves no file and prints no result" sh -c "
! $E -i $M --task piqa --data $D/piqa.jsonl --per-example /dev/full/pe > '$TMP/out' 2>/dev/null &&
test ! -s '$TMP/out'"

# a BPE model end to end: the tokenizer inside the checkpoint encodes the requests
ok "tasks: a BPE model (tf-init --tokenizer)" $TF_BIN/tf-init -q -c configs/tiny.yaml \
  --set model.vocab_size=50304 --set model.seq_len=64 \
  --tokenizer data/gpt-neox-20b-tokenizer.json -o "$TMP/bpe.tfz"
for task in lambada_openai hellaswag piqa arc_easy arc_challenge winogrande; do
  grep_out "^$task acc .* N 12$" "tasks: $task on the BPE model" \
    $E -i "$TMP/bpe.tfz" --task $task --data $D/$task.jsonl
done
check "tasks: on the BPE model --batch 1 and --batch 5 agree" sh -c "
$E -i '$TMP/bpe.tfz' --task hellaswag --data $D/hellaswag.jsonl --batch 1 --per-example '$TMP/b1.jsonl' > /dev/null &&
$E -i '$TMP/bpe.tfz' --task hellaswag --data $D/hellaswag.jsonl --batch 5 --per-example '$TMP/b5.jsonl' > /dev/null &&
python3 -c \"
import json
a = [json.loads(l) for l in open('$TMP/b1.jsonl')]; b = [json.loads(l) for l in open('$TMP/b5.jsonl')]
assert len(a) == len(b) == 12
for x, y in zip(a, b):
    assert (x['chosen'], x['chosen_norm']) == (y['chosen'], y['chosen_norm'])
    for p, q in zip(x['loglikelihoods'], y['loglikelihoods']): assert abs(p - q) <= 1e-5 * abs(p), (p, q)
\""
