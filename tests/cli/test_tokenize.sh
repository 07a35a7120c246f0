# test_tokenize.sh: tf-tokenize (ids, decode, count, indexed datasets), and training and
# evaluation on token datasets (sourced by run.sh).
K="$TF_BIN/tf-tokenize --threads 2"
E="$TF_BIN/tf-eval --threads 2"
F=tests/fixtures
M=$F/odd_seq.tfz # a byte model
D=$TMP/tok
mkdir -p "$D"
printf 'In the beginning\nGod created\n' > "$D/a.txt"
printf 'and the earth' > "$D/b.txt"

# a dataset read back with the reference reader's semantics (Python standard library):
# prints dtype code, documents and the ids of each document
dump_dataset() {
  python3 -c "
import struct, sys
p = sys.argv[1]
raw = open(p + '.idx', 'rb').read()
assert raw[:9] == b'MMIDIDX\x00\x00' and struct.unpack_from('<Q', raw, 9)[0] == 1
code = raw[17]; n, nd = struct.unpack_from('<QQ', raw, 18)
sizes = struct.unpack_from('<%di' % n, raw, 34)
ptrs = struct.unpack_from('<%dq' % n, raw, 34 + 4 * n)
docs = struct.unpack_from('<%dq' % nd, raw, 34 + 12 * n)
assert 34 + 12 * n + 8 * nd == len(raw)
fmt, w = {8: ('H', 2), 4: ('i', 4)}[code]
data = open(p + '.bin', 'rb').read()
print(code, nd - 1)
for s, q in zip(sizes, ptrs):
    print(' '.join(map(str, struct.unpack_from('<%d%s' % (s, fmt), data, q))))
" "$1"
}

grep_out '^73 110 32 116 104 101 ' "tokenize: --ids of a byte model are the bytes" $K -i $M --ids "$D/a.txt"
check "tokenize: --decode gives the text back" sh -c \
  "$K -i $M < '$D/a.txt' | $K -i $M --decode > '$D/back.txt' && cmp '$D/a.txt' '$D/back.txt'"
grep_out '^29 tokens, 29 bytes$' "tokenize: --count" $K -i $M --count "$D/a.txt"
grep_out '"tokens": 13' "tokenize: --count --json" $K -i $M --count --json "$D/b.txt"
printf '72 105 x 10' > "$D/bad-ids.txt"
grep_err 65 'bad-ids.txt: byte 7: expected a token id' "tokenize: --decode names the bad id's byte" \
  $K -i $M --decode "$D/bad-ids.txt"
printf '72 256' > "$D/big-id.txt"
grep_err 65 'big-id.txt: token 1: id 256' "tokenize: --decode refuses an id the tokenizer lacks" \
  $K -i $M --decode "$D/big-id.txt"
grep_err 64 'one of them' "tokenize: no tokenizer is a usage error" $K --ids "$D/a.txt"
grep_err 64 'one of them' "tokenize: two tokenizers is a usage error" \
  $K -i $M -t data/gpt-neox-20b-tokenizer.json --ids "$D/a.txt"
grep_err 64 'exclude' "tokenize: two modes is a usage error" $K -i $M --ids --count "$D/a.txt"
grep_err 64 'stdin' "tokenize: stdin twice is a usage error" $K -i - --ids -
grep_err 64 'errors' "tokenize: bad --errors" $K -i $M --errors ignore "$D/a.txt"
grep_err 66 'nothere' "tokenize: a missing input exits 66" $K -i $M --ids "$D/nothere"
if [ -w /dev/full ]; then
  fails 74 "tokenize: a full stdout exits 74" sh -c "$K -i $M --ids '$D/a.txt' > /dev/full"
fi

# datasets: the byte tokenizer has no end-of-text token, so a document is its bytes
ok "tokenize: -o writes a dataset" $K -q -i $M -o "$D/ds" "$D/a.txt" "$D/b.txt"
dataset_reads_back() {
  dump_dataset "$D/ds" > "$D/ds.txt" && $K -i $M --ids "$D/a.txt" > "$D/ids.txt" &&
    $K -i $M --ids "$D/b.txt" >> "$D/ids.txt" && { echo '8 2'; cat "$D/ids.txt"; } | cmp - "$D/ds.txt"
}
check "tokenize: the dataset reads back (uint16, 2 documents, the files' bytes)" dataset_reads_back
check "tokenize: 1 thread writes the same bytes as 2" sh -c "
$TF_BIN/tf-tokenize -q --threads 1 -i $M -o '$D/ds1' '$D/a.txt' '$D/b.txt' &&
cmp '$D/ds.bin' '$D/ds1.bin' && cmp '$D/ds.idx' '$D/ds1.idx'"
printf '{"text": "In the"}\n\n{"text": "beginning", "id": 2}\n{"text": ""}\n' > "$D/c.jsonl"
grep_out '"documents": 2' "tokenize: --jsonl: a document per line, blank and empty ones left out" \
  $K -i $M -o "$D/js" --jsonl --json "$D/c.jsonl"
printf '{"body": "x"}\n' > "$D/f.jsonl"
ok "tokenize: --field names the JSON field" $K -q -i $M -o "$D/f" --jsonl --field body "$D/f.jsonl"
printf '{"text": "ok"}\n{"text": 3}\n' > "$D/bad.jsonl"
grep_err 65 'bad.jsonl: line 2: no string field "text"' "tokenize: a bad JSON line names file and line" \
  $K -i $M -o "$D/bad" --jsonl "$D/bad.jsonl"
printf '{"text": "ok"}\n{"text": "unterminated\n' > "$D/bad2.jsonl"
grep_err 65 'bad2.jsonl: line 2: not JSON' "tokenize: broken JSON names file and line" \
  $K -i $M -o "$D/bad" --jsonl "$D/bad2.jsonl"
no_bad_files() { ! ls -A "$D" | grep -Eq '^\.?bad\.(bin|idx)'; }
check "tokenize: a failed run leaves no file behind" no_bad_files
cp "$D/ds.bin" "$D/keep.bin"
grep_err 65 'line 2' "tokenize: a failure keeps an existing dataset" \
  $K -i $M -o "$D/ds" --jsonl "$D/bad.jsonl"
check "tokenize: ... byte for byte" cmp "$D/ds.bin" "$D/keep.bin"
grep_err 73 'missing-dir/x.bin: cannot create' "tokenize: an output directory that is missing exits 73" \
  $K -i $M -o "$D/missing-dir/x" "$D/a.txt"
grep_out 'tf-tokenize\(1\)' "tokenize: --help" $K --help
# SIGTERM while -o reads a FIFO (opening it for writing waits for tf-tokenize, whose handler
# is then in place): it finishes the read, writes nothing and exits 75
signal_writes_nothing() (
  rm -f "$D/sig.fifo" && mkfifo "$D/sig.fifo" || exit 1
  $K -q -i $M -o "$D/sig" --jsonl "$D/sig.fifo" &
  pid=$!
  exec 3> "$D/sig.fifo"
  printf '{"text": "a document"}\n' >&3
  kill -TERM $pid
  exec 3>&-
  wait $pid
  rc=$?
  [ $rc = 75 ] || { echo "exit $rc, expected 75" >&2; exit 1; }
  ! ls -A "$D" | grep -Eq '^\.?sig\.(bin|idx)'
)
check "tokenize: SIGTERM during -o exits 75 and leaves no file" signal_writes_nothing

# BPE: the GPT-NeoX tokenizer's ids, UTF-8 errors, end-of-text, threads
N="$K -t data/gpt-neox-20b-tokenizer.json"
{
  grep_out '^12092 1533$' "tokenize: BPE ids of 'Hello world'" sh -c "printf 'Hello world' | $N"
  printf 'ok \377 there' > "$D/bad-utf8.txt"
  grep_err 65 'bad-utf8.txt: invalid UTF-8 at byte 3' "tokenize: bad UTF-8 names file and byte" \
    $N --ids "$D/bad-utf8.txt"
  ok "tokenize: --errors replace accepts it" $N --errors replace --ids "$D/bad-utf8.txt"
  bpe_eod() {
    $N -q -o "$D/bpe" "$D/a.txt" "$D/b.txt" && dump_dataset "$D/bpe" > "$D/bpe.txt" &&
      [ "$(sed -n '2,3p' "$D/bpe.txt" | grep -c ' 0$')" = 2 ]
  }
  check "tokenize: BPE dataset: each document ends with <|endoftext|> (0)" bpe_eod
  check "tokenize: BPE: 1 thread and 2 give the same ids" sh -c "
  python3 -c \"import sys; sys.stdout.write('And God said, Let there be light.\\n' * 40000)\" > '$D/big.txt' &&
  $N --ids '$D/big.txt' > '$D/t2' && $TF_BIN/tf-tokenize --threads 1 -t data/gpt-neox-20b-tokenizer.json --ids '$D/big.txt' > '$D/t1' &&
  cmp '$D/t1' '$D/t2'"
}

# a BPE model: a text scores as its dataset without the final <|endoftext|>, and the bytes
# are those of the predicted tokens (all but the first)
$TF_BIN/tf-init -q -c configs/tiny.yaml --set model.vocab_size=50304 \
  --tokenizer data/gpt-neox-20b-tokenizer.json -o "$D/bpe.tfz"
bpe_eval() {
  $K -q -i "$D/bpe.tfz" -o "$D/bv" data/tiny-valid.txt &&
    n=$($K -i "$D/bpe.tfz" --count data/tiny-valid.txt | cut -d' ' -f1) &&
    first=$($K -i "$D/bpe.tfz" --ids data/tiny-valid.txt | cut -d' ' -f1) &&
    fb=$(echo "$first" | $K -i "$D/bpe.tfz" --decode | wc -c) &&
    $E -i "$D/bpe.tfz" --json -d data/tiny-valid.txt | sed 's/"data":"[^"]*"//' > "$D/b1" &&
    $E -i "$D/bpe.tfz" --json -d "$D/bv" --max-tokens "$n" | sed 's/"data":"[^"]*"//' > "$D/b2" &&
    cmp "$D/b1" "$D/b2" &&
    grep -q "\"tokens\":$((n - 1)),\"bytes\":$(($(wc -c < data/tiny-valid.txt) - fb))," "$D/b1"
}
check "eval: a BPE text scores as its dataset; bytes are the predicted tokens' text" bpe_eval
python3 -c "
import struct
ids = [1, 2, 50280, 3]
open('$D/pad.bin', 'wb').write(struct.pack('<4H', *ids))
open('$D/pad.idx', 'wb').write(b'MMIDIDX\0\0' + struct.pack('<QBQQ', 1, 8, 1, 2) +
                               struct.pack('<iqqq', 4, 0, 0, 1))"
grep_err 65 "pad.bin: token 2 is id 50280, outside the model's tokenizer's ids \\[0, 50277\\)" \
  "eval: an id in the vocabulary's padding, past the tokenizer's ids, exits 65" \
  $E -i "$D/bpe.tfz" -d "$D/pad"
ok "train: a BPE model trains on its dataset" $TF_BIN/tf-train --threads 2 -q -c configs/tiny.yaml \
  -i "$D/bpe.tfz" -o "$D/bpe1.tfz" --steps 2 --set train.data="$D/bv" --set train.valid="$D/bv.idx"

# training and evaluation on a dataset: for a byte model the dataset of a text (no
# end-of-text token) holds exactly its bytes, so the figures are the text's
ok "tokenize: the valid text as a dataset" $K -q -i $M -o "$D/valid" data/tiny-valid.txt
check "eval: a dataset scores as its text" sh -c "
$E -i $M --json -d data/tiny-valid.txt | sed 's/\"data\":\"[^\"]*\"//' > '$D/e1' &&
$E -i $M --json -d '$D/valid' | sed 's/\"data\":\"[^\"]*\"//' > '$D/e2' &&
$E -i $M --json -d '$D/valid.idx' | sed 's/\"data\":\"[^\"]*\"//' > '$D/e3' &&
cmp '$D/e1' '$D/e2' && cmp '$D/e1' '$D/e3'"
grep_out '"bytes":' "eval: --json has tokens and bytes" $E -i $M --json -d data/tiny-valid.txt
grep_out '"tokens":99,' "eval: --max-tokens" $E -i $M --json -d "$D/valid" --max-tokens 100
grep_err 64 'max-tokens' "eval: --max-bytes on a dataset is a usage error" \
  $E -i $M -d "$D/valid" --max-bytes 100
grep_err 65 'mmidx_u16.bin: token [0-9]+ is id [0-9]+, outside the model' \
  "eval: a dataset with ids past the model's vocabulary exits 65" $E -i $M -d $F/mmidx_u16
python3 -c "import sys; sys.stdout.buffer.write(b'MMIDIDX\0\0\2' + bytes(25))" > "$D/v2.idx"
: > "$D/v2.bin"
grep_err 65 'v2.idx: version 2' "eval: a dataset of another version exits 65" $E -i $M -d "$D/v2"

Tt="$TF_BIN/tf-train --threads 2 -q -c configs/tiny.yaml"
$TF_BIN/tf-init -q -c configs/tiny.yaml -o "$D/t0.tfz"
ok "tokenize: the training text as a dataset" $K -q -i "$D/t0.tfz" -o "$D/train" data/tiny-train.txt
check "train: on a dataset gives the tensors of training on its text" sh -c "
$Tt -i '$D/t0.tfz' -o '$D/text.tfz' --steps 8 --set train.valid=$D/valid &&
$Tt -i '$D/t0.tfz' -o '$D/ds.tfz' --steps 8 --set train.data=$D/train --set train.valid=$D/valid &&
$TF_BIN/tf-inspect --diff '$D/text.tfz' '$D/ds.tfz' > '$D/diff' && ! grep -Eq '^(changed|only)' '$D/diff'"
grep_err 65 'outside the model' "train: a dataset past the vocabulary is refused before training" \
  $Tt -i "$D/t0.tfz" -o "$D/x.tfz" --set train.data=$F/mmidx_u16
check "train: ... and nothing is written" test ! -e "$D/x.tfz"
