# test_qstore.sh: models stored with bf16 or q8 weights (sourced by run.sh): tf-convert
# --quantize writes them; tf-generate and tf-eval read them to the same output as the f32 model
# converted at load; the commands that need f32 refuse them; hostile files exit 65 naming the
# tensor.
Q=$TMP/qstore
mkdir -p "$Q"
FORGE="python3 tests/cli/forge.py"
same() { test -s "$1" && cmp "$1" "$2"; } # FILE FILE: the same bytes, and some
$TF_BIN/tf-init -q -c configs/tiny.yaml -o "$Q/f32.tfz"
head -c 3000 data/tiny-valid.txt > "$Q/valid.txt"
for w in bf16 q8; do
  ok "qstore: tf-convert --quantize $w" \
    $TF_BIN/tf-convert -q --quantize $w -i "$Q/f32.tfz" -o "$Q/$w.tfz"
  check "qstore: the $w file is smaller" \
    test "$(wc -c < "$Q/$w.tfz")" -lt "$(wc -c < "$Q/f32.tfz")"
  grep_out "^weights +$w, stored for inference only" "qstore: tf-inspect shows $w" \
    $TF_BIN/tf-inspect "$Q/$w.tfz"
  grep_out "\"weights\": \"$w\"" "qstore: tf-inspect --json says $w" \
    $TF_BIN/tf-inspect --json "$Q/$w.tfz"
  grep_out ': ok$' "qstore: tf-inspect --verify passes the $w file" \
    $TF_BIN/tf-inspect --verify "$Q/$w.tfz"
  # the same text and scores as the f32 model converted at load, byte for byte
  $TF_BIN/tf-generate -i "$Q/f32.tfz" --weights $w -p "In the" -n 24 --seed 5 > "$Q/g-f32.txt"
  $TF_BIN/tf-generate -i "$Q/$w.tfz" -p "In the" -n 24 --seed 5 > "$Q/g-$w.txt"
  check "qstore: tf-generate over stored $w = f32 converted at load" \
    same "$Q/g-f32.txt" "$Q/g-$w.txt"
  $TF_BIN/tf-generate -i - --weights $w -p "In the" -n 24 --seed 5 < "$Q/$w.tfz" > "$Q/g-in.txt"
  check "qstore: and read from stdin with --weights $w" same "$Q/g-f32.txt" "$Q/g-in.txt"
  $TF_BIN/tf-eval -i "$Q/f32.tfz" --weights $w --data "$Q/valid.txt" --json |
    sed 's/"model":"[^"]*",//' > "$Q/e-f32.json"
  $TF_BIN/tf-eval -i "$Q/$w.tfz" --data "$Q/valid.txt" --json |
    sed 's/"model":"[^"]*",//' > "$Q/e-$w.json"
  $TF_BIN/tf-eval -i "$Q/$w.tfz" --weights f32 --data "$Q/valid.txt" --json |
    sed 's/"model":"[^"]*",//' > "$Q/e-$w-f32.json"
  check "qstore: tf-eval of stored $w = f32 rounded at load" same "$Q/e-f32.json" "$Q/e-$w.json"
  check "qstore: tf-eval --weights f32 of stored $w: the same values" \
    same "$Q/e-f32.json" "$Q/e-$w-f32.json"
  grep_out "\"weights\":\"$w\"" "qstore: tf-eval --json names $w" \
    $TF_BIN/tf-eval -i "$Q/$w.tfz" --data "$Q/valid.txt" --json
  grep_out '"weights":"f32"' "qstore: tf-generate --weights f32 runs $w's values in float" \
    $TF_BIN/tf-generate -i "$Q/$w.tfz" --weights f32 -p "In" -n 4 --json
done
$TF_BIN/tf-tokenize -i "$Q/f32.tfz" "$Q/valid.txt" > "$Q/t-f32.txt"
grep_out '^[0-9]+ [0-9]+ ' "qstore: tf-tokenize takes the tokenizer of a q8 file" \
  $TF_BIN/tf-tokenize -i "$Q/q8.tfz" "$Q/valid.txt"
cp "$OUT" "$Q/t-q8.txt"
check "qstore: the same ids as from the f32 file" same "$Q/t-f32.txt" "$Q/t-q8.txt"
grep_err 64 'stores q8 weights: --weights bf16 cannot be made from them' \
  "qstore: tf-generate --weights bf16 of a q8 file exits 64" \
  $TF_BIN/tf-generate -i "$Q/q8.tfz" --weights bf16 -p x -n 2
grep_err 64 'stores bf16 weights: --weights q8' "qstore: tf-eval --weights q8 of a bf16 file exits 64" \
  $TF_BIN/tf-eval -i "$Q/bf16.tfz" --weights q8 --data "$Q/valid.txt"

# for inference only: training, growing, exporting and quantizing again refuse it, with why
WHY='q8\.tfz: stores q8 weights \(tf-convert --quantize q8\): such a checkpoint is for inference only'
grep_err 65 "$WHY" "qstore: tf-train refuses a q8 file" \
  $TF_BIN/tf-train -c configs/tiny.yaml -i "$Q/q8.tfz" -o "$Q/x.tfz" --steps 1 \
  --set train.data=data/tiny-train.txt --set train.valid= -q
grep_err 65 "$WHY" "qstore: tf-grow refuses a q8 file" \
  $TF_BIN/tf-grow --ffn +8 -i "$Q/q8.tfz" -o "$Q/x.tfz"
grep_err 65 "$WHY" "qstore: tf-convert --to-official refuses a q8 file" \
  $TF_BIN/tf-convert --to-official "$Q/q8.tfz" -o "$Q/x.bin"
grep_err 65 "$WHY" "qstore: tf-convert --to-safetensors refuses a q8 file" \
  $TF_BIN/tf-convert --to-safetensors "$Q/q8.tfz" -o "$Q/x.safetensors"
grep_err 65 "bf16\.tfz: stores bf16 weights" "qstore: tf-convert --quantize refuses a bf16 file" \
  $TF_BIN/tf-convert --quantize q8 -i "$Q/bf16.tfz" -o "$Q/x.tfz"
check "qstore: and wrote nothing" test ! -e "$Q/x.tfz"
fails 64 "qstore: tf-convert --quantize f32 exits 64" \
  $TF_BIN/tf-convert --quantize f32 -i "$Q/f32.tfz" -o "$Q/x.tfz"
grep_err 64 'json and -o - both want stdout' "qstore: tf-convert --json -o - exits 64" \
  $TF_BIN/tf-convert --quantize q8 -i "$Q/f32.tfz" -o - --json
fails 64 "qstore: tf-convert --quantize without -i exits 64" \
  $TF_BIN/tf-convert --quantize q8 -o "$Q/x.tfz"

# hostile files: every one exits 65 naming the tensor, loading and verifying
K=layers.0.mlp.key_param_tokens
while read -r src edit pattern; do
  $FORGE "$Q/$src.tfz" "$Q/forged.tfz" "$edit"
  grep_err 65 "forged\.tfz: tensor $pattern" "qstore: $src with $edit: tf-generate exits 65" \
    $TF_BIN/tf-generate -i "$Q/forged.tfz" -p x -n 1
  grep_err 65 "forged\.tfz: tensor $pattern" "qstore: $src with $edit: tf-eval exits 65" \
    $TF_BIN/tf-eval -i "$Q/forged.tfz" --data "$Q/valid.txt"
  grep_err 65 "forged\.tfz: tensor $pattern" "qstore: $src with $edit: --verify exits 65" \
    $TF_BIN/tf-inspect --verify "$Q/forged.tfz"
done << EOF2
q8 $K:U8 $K: dtype U8, expected I8
bf16 $K:F16 $K: dtype F16, expected BF16
q8 -$K.scales $K\.scales: missing \(the block scales of q8 tensor $K\)
q8 $K.scales~ $K\.scales: shape \[63, 1\], config says \[64, 1\]
q8 $K.scales=nan $K\.scales: (holds nan|[0-9]+ NaN)
q8 $K.scales=-1 $K\.scales: holds -1, expected q8 scales finite, >= 0
q8 $K.scales=1e37 $K\.scales: holds 1e\+37, expected q8 scales finite
q8 $K=-128 $K: holds -128, expected q8 values in \[-127, 127\]
bf16 $K=inf $K: (holds inf|0 NaN, min inf)
EOF2

# metadata weights: a format no reader knows, or one the tensors or a training state deny
$FORGE "$Q/q8.tfz" "$Q/forged.tfz" @weights=q4
grep_err 65 'forged\.tfz: metadata weights "q4": expected "bf16" or "q8"' \
  "qstore: metadata weights q4 exits 65" $TF_BIN/tf-generate -i "$Q/forged.tfz" -p x -n 1
$FORGE "$Q/f32.tfz" "$Q/forged.tfz" @weights=q8
grep_err 65 'forged\.tfz: tensor embed\.weight: dtype F32, expected I8' \
  "qstore: an f32 file that says q8 exits 65" $TF_BIN/tf-inspect --verify "$Q/forged.tfz"
$TF_BIN/tf-train -q -c configs/tiny.yaml -i "$Q/f32.tfz" -o "$Q/trained.tfz" --steps 1 \
  --set train.data=data/tiny-train.txt --set train.valid=
$FORGE "$Q/trained.tfz" "$Q/forged.tfz" @weights=bf16
grep_err 65 'metadata weights is "bf16", but the file holds a training state' \
  "qstore: a training checkpoint that says bf16 exits 65" \
  $TF_BIN/tf-generate -i "$Q/forged.tfz" -p x -n 1

# memory: a stored q8 model is read at its own size, never through an fp32 copy; converting at
# load peaks at the fp32 size plus the converted one (a model of 4.4M parameters, 17 MiB in f32)
if unsanitized "qstore: peak memory" && [ -x /usr/bin/time ]; then
  $TF_BIN/tf-init -q -c configs/tiny.yaml --set model.d_model=256 --set model.ffn_tokens=4096 \
    -o "$Q/big.tfz"
  $TF_BIN/tf-convert -q --quantize q8 -i "$Q/big.tfz" -o "$Q/big-q8.tfz"
  peak_kb() { /usr/bin/time -f %M "$@" -p x -n 1 --threads 1 2>&1 > /dev/null | tail -1; }
  f32_kb=$(($($TF_BIN/tf-inspect --json "$Q/big.tfz" |
    sed -n 's/^ *"total": \([0-9]*\).*/\1/p' | head -1) * 4 / 1024))
  at_load=$(peak_kb $TF_BIN/tf-generate -i "$Q/big.tfz" --weights q8)
  stored=$(peak_kb $TF_BIN/tf-generate -i "$Q/big-q8.tfz")
  check "qstore: reading stored q8 peaks an fp32 copy lower ($at_load KB at load, $stored KB stored, f32 $f32_kb KB)" \
    test $((at_load - stored)) -gt $((f32_kb * 3 / 4))
fi
