# test_datafiles.sh: data files that are not plain regular files, or that change under a
# running command: pipes, FIFOs, /dev/stdin and train.data=- are read to their end; stdin
# named twice is a usage error; a file that shrinks while tf-eval or tf-train reads it is an
# I/O error (exit 74), not SIGBUS, and tf-train saves first (sourced by run.sh).
E="$TF_BIN/tf-eval --threads 2"
M=tests/fixtures/odd_seq.tfz
D=$TMP/datafiles
mkdir -p "$D"
$E -i $M --json -d data/tiny-valid.txt | sed 's/"data":"[^"]*"//' > "$D/file.json"

check "data: tf-eval -d /dev/stdin reads it to its end" sh -c \
  "$E -i $M --json -d /dev/stdin < data/tiny-valid.txt > '$OUT' && sed 's/\"data\":\"[^\"]*\"//' '$OUT' | cmp - '$D/file.json'"
check "data: a pipe as -d scores as the file" sh -c \
  "cat data/tiny-valid.txt | $E -i $M --json -d - | sed 's/\"data\":\"[^\"]*\"//' | cmp - '$D/file.json'"
if command -v bash > /dev/null 2>&1; then
  check "data: tf-eval -d <(cat f) scores as the file" bash -c \
    "$E -i $M --json -d <(cat data/tiny-valid.txt) | sed 's/\"data\":\"[^\"]*\"//' | cmp - '$D/file.json'"
fi
fifo_eval() {
  rm -f "$D/fifo" && mkfifo "$D/fifo" || return 1
  cat data/tiny-valid.txt > "$D/fifo" &
  $E -i $M --json -d "$D/fifo" > "$D/fifo.json"
  rc=$?
  wait
  [ $rc = 0 ] && sed 's/"data":"[^"]*"//' "$D/fifo.json" | cmp -s - "$D/file.json"
}
check "data: a FIFO as -d scores as the file" fifo_eval
grep_err 64 'stdin' "data: tf-eval -d /dev/stdin -d - is stdin twice" $E -i $M -d /dev/stdin -d -

T="$TF_BIN/tf-train --threads 2 -q -c configs/tiny.yaml --steps 6 --set train.eval_every=0"
$TF_BIN/tf-init -q -c configs/tiny.yaml -o "$D/t0.tfz"
stdin_train() {
  $T -i "$D/t0.tfz" -o "$D/file.tfz" &&
    $T -i "$D/t0.tfz" -o "$D/stdin.tfz" --set train.data=- < data/tiny-train.txt &&
    $TF_BIN/tf-inspect --diff "$D/file.tfz" "$D/stdin.tfz" > "$D/diff" &&
    ! grep -Eq '^(changed|only)' "$D/diff"
}
check "data: train.data=- trains as the file does" stdin_train
grep_err 64 'stdin can be read only once' "data: train.data=- with -i - is stdin twice" \
  $T -i - -o "$D/x.tfz" --set train.data=-
grep_err 64 'stdin can be read only once' "data: train.data and train.valid both stdin" \
  $T -i "$D/t0.tfz" -o "$D/x.tfz" --set train.data=- --set train.valid=/dev/stdin \
  --set train.eval_every=1

# a file that shrinks under a running command: 64 MB, cut to 100 bytes once the run is going
python3 -c "
import sys
line = b'And God said, Let there be light: and there was light.\n'
sys.stdout.buffer.write(line * (64 * 1024 * 1024 // len(line)))" > "$D/big.txt"
shrink_eval() {
  cp "$D/big.txt" "$D/e.txt"
  $TF_BIN/tf-eval --threads 1 -i $M -d "$D/e.txt" > /dev/null 2> "$D/e.err" &
  pid=$!
  sleep 1
  truncate -s 100 "$D/e.txt"
  wait $pid
  rc=$?
  [ $rc = 74 ] || { echo "exit $rc, expected 74" >&2; cat "$D/e.err" >&2; return 1; }
  grep -q 'e.txt: data file changed while reading' "$D/e.err" || { cat "$D/e.err" >&2; return 1; }
}
check "data: a text that shrinks under tf-eval exits 74, no SIGBUS" shrink_eval
shrink_train() {
  cp "$D/big.txt" "$D/t.txt"
  rm -f "$D/shrunk.tfz" "$D/t.log"
  $TF_BIN/tf-train --threads 1 -q -c configs/tiny.yaml -i "$D/t0.tfz" -o "$D/shrunk.tfz" \
    --steps 1000000 --set train.eval_every=0 --set train.data="$D/t.txt" --log "$D/t.log" \
    2> "$D/t.err" &
  pid=$!
  i=0
  while [ ! -s "$D/t.log" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
  truncate -s 100 "$D/t.txt"
  wait $pid
  rc=$?
  [ $rc = 74 ] || { echo "exit $rc, expected 74" >&2; cat "$D/t.err" >&2; return 1; }
  grep -q 't.txt: data file changed while reading' "$D/t.err" &&
    s=$($TF_BIN/tf-inspect --tensor train.step "$D/shrunk.tfz") && [ "$s" -gt 0 ] ||
    { cat "$D/t.err" >&2; return 1; }
}
check "data: a corpus that shrinks under tf-train exits 74 after saving the last step" shrink_train
rm -f "$D/big.txt" "$D/e.txt" "$D/t.txt"
