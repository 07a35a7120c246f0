# test_init.sh: tf-init options, determinism, exit codes (sourced by run.sh).
I=$TF_BIN/tf-init
ok "init: tiny config writes a checkpoint" $I -q -c configs/tiny.yaml -o "$TMP/a.tfz"
ok "init: same config and seed again" $I -q -c configs/tiny.yaml -o "$TMP/b.tfz"
# the same tensors, byte for byte (the history records differ: time and command line)
same_tensors() {
  $TF_BIN/tf-inspect --diff "$2" "$1" > "$TMP/same.txt" &&
    grep -q '^tensors: [0-9]* same, 0 changed, 0 grown, 0 shrunk, 0 incomparable, 0 only in A, 0 only in B$' "$TMP/same.txt" &&
    ! grep -q '^config' "$TMP/same.txt"
}
check "init: same config and seed give the same tensors" same_tensors "$TMP/a.tfz" "$TMP/b.tfz"
ok "init: another seed" $I -q -c configs/tiny.yaml --seed 7 -o "$TMP/c.tfz"
fails 1 "init: another seed gives another file" cmp -s "$TMP/a.tfz" "$TMP/c.tfz"
check "init: output is gzip of safetensors" sh -c "gunzip -c '$TMP/a.tfz' > '$TMP/a.safetensors'"
check "init: python reads the safetensors header and every tensor" python3 -c "
import json, struct, sys
b = open('$TMP/a.safetensors', 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
meta = h.pop('__metadata__')
assert meta['format'] == 'tokenformer' and meta['format_version'] == '1', meta
cfg = json.loads(meta['config']); assert cfg['d_model'] == 32, cfg
json.loads(meta['history'])
end = max(t['data_offsets'][1] for t in h.values())
assert 8 + n + end == len(b), (8 + n + end, len(b))
for name, t in h.items():
    s, e = t['data_offsets']; count = 1
    for x in t['shape']: count *= x
    assert e - s == 4 * count and t['dtype'] == 'F32', name
    struct.unpack('<%df' % count, b[8 + n + s:8 + n + e])
"
grep_err 0 "parameters" "init: summary on stderr" $I -c configs/tiny.yaml -o "$TMP/d.tfz"
grep_out '"parameters": 151881216' "init: 150M config has 151,881,216 parameters" \
  $I --json -c configs/150M.yaml -o "$TMP/150m.tfz"
rm -f "$TMP/150m.tfz"
grep_out 'd_model: 48' "init: --set overrides and --print-config shows it" \
  $I -c configs/tiny.yaml --set model.d_model=48 --print-config
grep_err 78 'model.d_model' "init: --set with a bad value is a config error" \
  $I -c configs/tiny.yaml --set model.d_model=abc -o "$TMP/e.tfz"
grep_err 78 'model.nope' "init: --set of an unknown key" \
  $I -c configs/tiny.yaml --set model.nope=1 -o "$TMP/e.tfz"
printf 'model:\n  d_model: 32\n  colour: red\n' > "$TMP/bad.yaml"
grep_err 78 'bad.yaml:3:3' "init: unknown key names file, line and column" \
  $I -c "$TMP/bad.yaml" -o "$TMP/e.tfz"
grep_err 66 'nothere.yaml' "init: missing config exits 66" $I -c "$TMP/nothere.yaml" -o "$TMP/e.tfz"
grep_out '^  d_model: 256 ' "init: no config: every key has its default" $I --print-config
grep_err 64 'seed' "init: bad --seed" $I -c configs/tiny.yaml --seed -3 -o "$TMP/e.tfz"
fails 64 "init: unknown option" $I --frobnicate
grep_err 73 'nodir' "init: output in a missing directory exits 73" \
  $I -c configs/tiny.yaml -o "$TMP/nodir/x.tfz"
check "init: no checkpoint left behind on failure" test ! -e "$TMP/e.tfz"
grep_out 'Usage: tf-init' "init: --help" $I --help
grep_out 'tokenformer' "init: --version" $I --version
check "init: -o - streams the checkpoint to stdout" sh -c "$I -q -c configs/tiny.yaml -o - > '$TMP/s.tfz'"
check "init: and it holds the same tensors" same_tensors "$TMP/s.tfz" "$TMP/a.tfz"
check "init: config from stdin" sh -c "$I -q -c - -o '$TMP/f.tfz' < configs/tiny.yaml"
check "init: and it gives the same tensors" same_tensors "$TMP/f.tfz" "$TMP/a.tfz"
# The tokenizer a model carries (init.tokenizer, --tokenizer).
check "init: --tokenizer bytes is the default model" sh -c "$I -q -c configs/tiny.yaml --tokenizer bytes -o '$TMP/tb.tfz'"
check "init: and the same tensors" same_tensors "$TMP/tb.tfz" "$TMP/a.tfz"
grep_err 66 'no-such.json: cannot open' "init: a missing tokenizer exits 66" \
  $I -c configs/tiny.yaml --tokenizer "$TMP/no-such.json" -o "$TMP/e.tfz"
printf '{"model": {"type": "WordPiece"}}' > "$TMP/wp.json"
grep_err 65 'wp.json' "init: a file that is no BPE tokenizer exits 65, named" \
  $I -c configs/tiny.yaml --tokenizer "$TMP/wp.json" -o "$TMP/e.tfz"
grep_err 66 'no-such.json' "init: init.tokenizer in the config is read" \
  $I -c configs/tiny.yaml --set init.tokenizer="$TMP/no-such.json" -o "$TMP/e.tfz"
check "init: no checkpoint left behind by a bad tokenizer" test ! -e "$TMP/e.tfz"
grep_out '"kind": "bytes"' "init: tf-inspect --json names the tokenizer" $TF_BIN/tf-inspect --json "$TMP/a.tfz"
