# test_stdin.sh: stdin feeds one input (sourced by run.sh). Two inputs that both ask for it
# (-c - beside -i -, --data -, --tokenizer -, a config key, or the default of a command that
# reads stdin when no file is given) are refused before any work, exit 64, naming both.
S=$TMP/stdin
mkdir -p "$S"
$TF_BIN/tf-init -q -c configs/tiny.yaml -o "$S/t0.tfz"
ONCE='stdin can be read only once'
stdin_refused() { # NAME PATTERN CMD...: CMD, fed the tiny config on stdin, exits 64 with PATTERN
  name=$1 pat=$2
  shift 2
  if "$@" < configs/tiny.yaml > "$OUT" 2> "$ERR"; then rc=0; else rc=$?; fi
  if [ $rc != 64 ]; then report "$name" fail "exit $rc, expected 64"
  elif grep -Eq -- "$pat: $ONCE" "$ERR"; then report "$name" pass
  else report "$name" fail "stderr does not match /$pat/: $(head -c 300 "$ERR")"; fi
}

stdin_refused "stdin: tf-train -c - -i -" '^tf-train: --config - and --input -' \
  $TF_BIN/tf-train -c - -i - -o "$S/o.tfz" --steps 1 --log "$S/o.jsonl"
check "stdin: and nothing was written, not even the log" \
  sh -c "test ! -e '$S/o.tfz' && test ! -e '$S/o.jsonl'"
stdin_refused "stdin: tf-train -i - -c - (either order)" '--input - and --config -' \
  $TF_BIN/tf-train -i - -c - -o "$S/o.tfz" --steps 1
stdin_refused "stdin: tf-train -c - --set train.data=-" '--config - and train.data - \(--set\)' \
  $TF_BIN/tf-train -c - -i "$S/t0.tfz" -o "$S/o.tfz" --steps 1 --set train.data=- \
  --log "$S/o.jsonl"
check "stdin: and the log was not opened" test ! -e "$S/o.jsonl"
stdin_refused "stdin: tf-train -c - --set train.valid=/dev/stdin" \
  '--config - and train.valid /dev/stdin \(--set\)' \
  $TF_BIN/tf-train -c - -i "$S/t0.tfz" -o "$S/o.tfz" --steps 1 --set train.valid=/dev/stdin
printf 'train:\n  data: "-"\n' > "$S/data-stdin.yaml"
stdin_refused "stdin: tf-train -c - whose train.data is -" '--config - and train.data - \(<stdin>:2\)' \
  sh -c "$TF_BIN/tf-train -c - -i '$S/t0.tfz' -o '$S/o.tfz' < '$S/data-stdin.yaml'"
stdin_refused "stdin: tf-train -i - with a config file whose train.data is -" \
  "--input - and train.data - \\(.*data-stdin.yaml:2\\)" \
  $TF_BIN/tf-train -c "$S/data-stdin.yaml" -i - -o "$S/o.tfz"
stdin_refused "stdin: tf-grow -c - -i -" '^tf-grow: --config - and --input -' \
  $TF_BIN/tf-grow -c - -i - -o "$S/g.tfz" --ffn +8
stdin_refused "stdin: tf-grow -c - --data -" '^tf-grow: --config - and --data -' \
  $TF_BIN/tf-grow -c - -i "$S/t0.tfz" -o "$S/g.tfz" --ffn 8 --data -
stdin_refused "stdin: tf-grow -i - --data -" '^tf-grow: --input - and --data -' \
  $TF_BIN/tf-grow -i - -o "$S/g.tfz" --ffn 8 --data -
stdin_refused "stdin: tf-init -c - --tokenizer -" '^tf-init: --config - and --tokenizer -' \
  $TF_BIN/tf-init -c - -o "$S/i.tfz" --tokenizer -
stdin_refused "stdin: tf-init -c - --set init.tokenizer=-" \
  '^tf-init: --config - and init.tokenizer - \(--set\)' \
  $TF_BIN/tf-init -c - -o "$S/i.tfz" --set init.tokenizer=-
check "stdin: tf-init wrote nothing" test ! -e "$S/i.tfz"
stdin_refused "stdin: tf-eval -i - --data -" '^tf-eval: --input - and --data -' \
  $TF_BIN/tf-eval -i - --data -
stdin_refused "stdin: tf-eval -i - without --data" \
  '^tf-eval: --input - and no --data \(the text from stdin\)' $TF_BIN/tf-eval -i -
stdin_refused "stdin: tf-eval --data - twice" '^tf-eval: --data - and --data /dev/stdin' \
  $TF_BIN/tf-eval -i "$S/t0.tfz" -d - --data /dev/stdin
stdin_refused "stdin: tf-generate -i - -f -" '^tf-generate: --input - and --file -' \
  $TF_BIN/tf-generate -i - -f -
stdin_refused "stdin: tf-generate -i - without -p or -f" \
  '^tf-generate: --input - and no -p or -f \(the prompt from stdin\)' $TF_BIN/tf-generate -i -
stdin_refused "stdin: tf-tokenize -i - -t -" '^tf-tokenize: --input - and --tokenizer -' \
  $TF_BIN/tf-tokenize -i - -t -
stdin_refused "stdin: tf-tokenize -i - without FILE" \
  '^tf-tokenize: --input - and no FILE \(the text from stdin\)' $TF_BIN/tf-tokenize -i -
stdin_refused "stdin: tf-tokenize -i - FILE -" '^tf-tokenize: --input - and FILE -' \
  $TF_BIN/tf-tokenize -i - -o "$S/d" -
stdin_refused "stdin: tf-convert --config - --tokenizer -" \
  '^tf-convert: --config - and --tokenizer -' \
  $TF_BIN/tf-convert --from-official "$S/none.bin" --config - --tokenizer - -o "$S/c.tfz"
stdin_refused "stdin: tf-inspect - -" '^tf-inspect: OLD - and NEW -' $TF_BIN/tf-inspect - -
stdin_refused "stdin: tf-inspect --diff - -" '^tf-inspect: --diff - and FILE -' \
  $TF_BIN/tf-inspect --diff - -
# one reader of stdin is fine
grep_out '"tokens":' "stdin: tf-eval -i FILE reads the text from stdin" \
  sh -c "$TF_BIN/tf-eval --json -i '$S/t0.tfz' < data/tiny-valid.txt"
grep_out 'parameters' "stdin: tf-init -c - reads its config from stdin" \
  sh -c "$TF_BIN/tf-init -c - --json -o '$S/i2.tfz' < configs/tiny.yaml"
