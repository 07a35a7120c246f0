# test_convert.sh: tf-convert both ways on tests/fixtures/official (sourced by run.sh).
C=$TF_BIN/tf-convert
F=tests/fixtures/official
ok "convert: --from-official a torch.save file" $C -q --from-official $F/plain.bin \
  --config $F/config.json -o "$TMP/cv.tfz"
ok "convert: DeepSpeed's nested fp16 file with the GPT-NeoX YAML" $C -q \
  --from-official $F/deepspeed.pt --config $F/neox.yml -o "$TMP/cv-ds.tfz"
grep_out '"deepspeed": true' "convert: --json says what was found" $C --json \
  --from-official $F/deepspeed.pt --config $F/neox.yml -o "$TMP/cv-ds2.tfz"
grep_out '"command": "tf-convert"' "convert: the history records the conversion" \
  $TF_BIN/tf-inspect --json "$TMP/cv.tfz"
sha=$(sha256sum $F/plain.bin | cut -d' ' -f1)
grep_out "$sha" "convert: the history records the source's SHA-256" \
  $TF_BIN/tf-inspect --json "$TMP/cv.tfz"
ok "convert: --to-official" $C -q --to-official "$TMP/cv.tfz" -o "$TMP/cv.bin" \
  --config-out "$TMP/cv.json"
ok "convert: --to-safetensors" $C -q --to-safetensors "$TMP/cv.tfz" -o "$TMP/cv.st"
ok "convert: the exported safetensors imports again" $C -q --from-official "$TMP/cv.st" \
  --config "$TMP/cv.json" -o "$TMP/cv2.tfz"
grep_out '"same": 23' "convert: torch -> model -> safetensors -> model keeps every tensor" \
  $TF_BIN/tf-inspect --json --diff "$TMP/cv.tfz" "$TMP/cv2.tfz"
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  check "convert: torch.load reads the export: same names, bitwise the same tensors" \
    /usr/bin/python3 -c "
import json, torch
a = torch.load('$F/plain.bin'); b = torch.load('$TMP/cv.bin')
assert list(a) == list(b), (list(a), list(b))
assert all(b[k].dtype == torch.float32 and torch.equal(a[k], b[k]) for k in a)
c = json.load(open('$TMP/cv.json')); o = json.load(open('$F/config.json'))
assert all(c[k] == o[k] for k in c), (c, o)
"
else
  echo "cli: test_convert.sh: NOTE: /usr/bin/python3 cannot import torch; the torch.load check is skipped"
fi
grep_err 64 'not a released model' "convert: no config for unknown shapes is a usage error" \
  $C --from-official $F/plain.bin -o "$TMP/x.tfz"
grep_err 65 'global os.system is not allowed' "convert: a pickle calling os.system is refused" \
  $C --from-official $F/bad/os_system.bin --config $F/config.json -o "$TMP/x.tfz"
grep_err 65 'compressed' "convert: a compressed entry is refused" \
  $C --from-official $F/bad/compressed.bin --config $F/config.json -o "$TMP/x.tfz"
grep_err 65 'empty file' "convert: an empty file is refused" \
  $C --from-official $F/bad/empty.bin -o "$TMP/x.tfz"
grep_err 65 'bare pickle' "convert: a bare pickle is refused" \
  $C --from-official $F/bad/bare.pkl -o "$TMP/x.tfz"
check "convert: nothing is written on failure" test ! -e "$TMP/x.tfz"
grep_err 66 'cannot open' "convert: a missing file exits 66" \
  $C --from-official "$TMP/none.bin" -o "$TMP/x.tfz"
printf '{"num_attention_heads": 2, "norm": "layernorm"}\n' > "$TMP/ln.json"
grep_err 78 'layernorm_nonparam' "convert: a config of another network exits 78" \
  $C --from-official $F/plain.bin --config "$TMP/ln.json" -o "$TMP/x.tfz"
grep_err 64 'one of' "convert: two modes is a usage error" \
  $C --from-official $F/plain.bin --to-official "$TMP/cv.tfz" -o "$TMP/x.tfz"
grep_err 64 'export' "convert: --rescale is for exports" \
  $C --from-official $F/plain.bin --rescale -o "$TMP/x.tfz"
ok "convert: grow the converted model exactly" $TF_BIN/tf-grow -q -i "$TMP/cv.tfz" \
  --ffn +8 -o "$TMP/cv-grown.tfz"
grep_err 65 'rescale' "convert: a model grown exactly (n_ref != n) is refused without --rescale" \
  $C --to-official "$TMP/cv-grown.tfz" -o "$TMP/x.bin"
ok "convert: --rescale exports it" $C -q --rescale --to-official "$TMP/cv-grown.tfz" \
  -o "$TMP/x.bin"
grep_out 'Usage: tf-convert' "convert: --help" $C --help
grep_out '^tf-convert \(tokenformer\)' "convert: --version" $C --version
grep_err 78 'vocab' "convert: a tokenizer with more ids than the vocabulary exits 78" \
  $C --from-official $F/plain.bin --config $F/config.json \
  --tokenizer data/gpt-neox-20b-tokenizer.json -o "$TMP/x.tfz"
check "convert: still nothing written" test ! -e "$TMP/x.tfz"
head -c 50000 $F/plain.bin > "$TMP/cut.bin"
grep_err 65 'not a valid zip archive' "convert: a truncated file is refused" \
  $C --from-official "$TMP/cut.bin" --config $F/config.json -o "$TMP/x.tfz"
grep_err 65 'gzip' "convert: a tokenformer model given as official input is named for what it is" \
  $C --from-official "$TMP/cv.tfz" -o "$TMP/x.tfz"
grep_err 73 'cv-none' "convert: an output in a missing directory exits 73" \
  $C --to-official "$TMP/cv.tfz" -o "$TMP/cv-none/x.bin"
