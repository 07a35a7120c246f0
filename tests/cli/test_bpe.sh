# test_bpe.sh: a model that carries the GPT-NeoX-20B BPE tokenizer, through every command that
# loads it: stored by tf-init, shown by tf-inspect, kept by tf-grow, spoken by tf-generate.
TOKJ=data/gpt-neox-20b-tokenizer.json
BM="$TMP/bpe.tfz"
ok "bpe: tf-init stores the tokenizer" $TF_BIN/tf-init -q -c configs/tiny.yaml \
  --set model.vocab_size=50304 --tokenizer $TOKJ -o "$BM"
grep_out '^tokenizer +bpe, 50,277 ids, end of text 0, sha256 [0-9a-f]{64}$' \
  "bpe: tf-inspect shows the tokenizer" $TF_BIN/tf-inspect "$BM"
check "bpe: tf-inspect --json describes it and leaves tokenizer_json out of metadata" sh -c "
$TF_BIN/tf-inspect --json '$BM' > '$TMP/bi.json' && python3 -c \"
import json; j = json.load(open('$TMP/bi.json'))
t = j['tokenizer']
assert t['kind'] == 'bpe' and t['n_ids'] == 50277 and t['eos'] == 0, t
assert len(t['sha256']) == 64 and 'tokenizer_json' not in j['metadata'], j['metadata']
assert j['history'][0]['tokenizer_sha256'] == t['sha256'], j['history']
\""
check "bpe: the stored tokenizer.json is the file, byte for byte" sh -c "
gunzip -c '$BM' > '$TMP/b.safetensors' && python3 -c \"
import json, struct
b = open('$TMP/b.safetensors', 'rb').read(); n = struct.unpack('<Q', b[:8])[0]
meta = json.loads(b[8:8 + n])['__metadata__']
assert meta['tokenizer'] == 'bpe'
assert meta['tokenizer_json'].encode() == open('$TOKJ', 'rb').read()
\""
ok "bpe: tf-grow keeps the tokenizer" $TF_BIN/tf-grow -q --ffn +16 -i "$BM" -o "$TMP/bg.tfz"
check "bpe: the grown model has the same tokenizer" sh -c "
$TF_BIN/tf-inspect '$BM' | grep '^tokenizer' > '$TMP/t1' &&
$TF_BIN/tf-inspect '$TMP/bg.tfz' | grep '^tokenizer' > '$TMP/t2' && cmp '$TMP/t1' '$TMP/t2'"
grep_err 78 'vocab_size 256 is smaller than the tokenizer.s 50277 ids' \
  "bpe: a vocabulary too small for the tokenizer is a config error" \
  $TF_BIN/tf-init -c configs/tiny.yaml --tokenizer $TOKJ -o "$TMP/small.tfz"
check "bpe: tf-generate samples tokenizer ids and streams the text --json reports" sh -c "
$TF_BIN/tf-generate -i '$BM' -p 'In the beginning' -n 12 --seed 5 --ignore-eos > '$TMP/bs' &&
$TF_BIN/tf-generate -i '$BM' -p 'In the beginning' -n 12 --seed 5 --ignore-eos --json > '$TMP/bj' &&
python3 -c \"
import json; j = json.load(open('$TMP/bj'))
assert j['tokens'] == 12 and len(j['ids']) == 12, j
assert all(0 <= i < 50277 for i in j['ids']), j['ids']
assert j['prompt_tokens'] == 3, j
assert open('$TMP/bs', 'rb').read().decode('utf-8', 'replace') == j['text'], j['text']
\""
check "bpe: an empty prompt starts from the end-of-text token" sh -c "
$TF_BIN/tf-generate -i '$BM' -p '' -n 2 --greedy --json > '$TMP/be' &&
grep -q '\"prompt_tokens\":1,' '$TMP/be'"
grep_err 65 'prompt: invalid UTF-8 at byte 2' "bpe: a prompt that is not UTF-8 is refused" \
  $TF_BIN/tf-generate -i "$BM" -p "$(printf 'ab\377c')" -n 2
