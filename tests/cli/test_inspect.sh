# test_inspect.sh: tf-inspect summaries, tables, statistics, values, --verify, --diff, stdin,
# escaping and exit codes (sourced by run.sh).
I=$TF_BIN/tf-inspect
N=$TF_BIN/tf-init
T=$TMP/inspect
mkdir -p "$T"
ok "inspect: a tiny checkpoint to look at" $N -q -c configs/tiny.yaml -o "$T/t.tfz"
ok "inspect: the same with another seed" $N -q -c configs/tiny.yaml --seed 2 -o "$T/s2.tfz"
ok "inspect: the same with more qkv tokens" \
  $N -q -c configs/tiny.yaml --set model.qkv_tokens=64 -o "$T/g.tfz"

# the summary, from the header alone
grep_out '^  d_model +32$' "inspect: summary lists the config" $I "$T/t.tfz"
grep_out '^  qkv +32 +32 +12,288$' "inspect: summary has tokens, n_ref, parameters per kind" \
  $I "$T/t.tfz"
grep_out '^  total +32,832$' "inspect: summary total with thousands separators" $I "$T/t.tfz"
grep_out '^tensors +23$' "inspect: summary counts tensors" $I "$T/t.tfz"
grep_out '^size +[0-9,]+ bytes \(header [0-9,]+, payload 131,328\)$' \
  "inspect: summary has file and payload sizes" $I "$T/t.tfz"
grep_out '^  1 tf-init  seed=1' "inspect: summary has one line per history record" $I "$T/t.tfz"
grep_out '"command": "tf-init"' "inspect: --json carries the history" $I --json "$T/t.tfz"
check "inspect: the first megabyte of a 150M checkpoint" \
  sh -c "$N -q -c configs/150M.yaml -o - | head -c 1000000 > '$T/150m-head.tfz'"
grep_out '"total": 151881216' "inspect: 150M config has 151881216 parameters in --json" \
  $I --json "$T/150m-head.tfz"
grep_out '^  total +151,881,216$' "inspect: 150M total in text, from a truncated file's header" \
  $I "$T/150m-head.tfz"
grep_out '^  ffn +64 +64 +8,192$' "inspect: stdin input" sh -c "$I - < '$T/t.tfz'"

# tensors, statistics, values
grep_out '^F32 +\[256, 32\] +32,768  embed\.weight$' "inspect: --tensors table" \
  $I --tensors "$T/t.tfz"
grep_out ' 1  final_norm\.bias$' "inspect: --stats: final_norm.bias is all zeros" \
  $I --stats "$T/t.tfz"
grep_out '^ +1 +0 +1 +1 +5\.65685 +0  final_norm\.weight$' \
  "inspect: --stats: final_norm.weight has mean 1, std 0" $I --stats "$T/t.tfz"
check "inspect: --json --stats figures" sh -c "$I --json --stats '$T/t.tfz' | python3 -c '
import json, sys
s = {t[\"name\"]: t for t in json.load(sys.stdin)[\"stats\"]}
assert s[\"final_norm.bias\"][\"zero_fraction\"] == 1, s[\"final_norm.bias\"]
assert s[\"final_norm.weight\"][\"mean\"] == 1 and s[\"final_norm.weight\"][\"std\"] == 0
assert abs(s[\"embed.weight\"][\"std\"] - 0.02) < 0.002, s[\"embed.weight\"]
'"
check "inspect: --tensor prints a vector one value per line" sh -c \
  "$I --tensor final_norm.weight '$T/t.tfz' | awk '\$0 != 1 { exit 1 } END { exit NR != 32 }'"
check "inspect: --tensor prints a matrix one row per line" sh -c \
  "$I --tensor layers.0.mlp.key_param_tokens '$T/t.tfz' | awk 'NF != 32 { exit 1 } END { exit NR != 64 }'"
check "inspect: --json --tensor gives rows of values" sh -c "$I --json --tensor layers.1.mlp.value_param_tokens '$T/t.tfz' | python3 -c '
import json, sys
v = json.load(sys.stdin)[\"tensor\"][\"values\"]
assert len(v) == 64 and all(len(r) == 32 for r in v)
'"
grep_err 64 "no tensor named 'nope'" "inspect: --tensor of an absent tensor is a usage error" \
  $I --tensor nope "$T/t.tfz"

# --verify
grep_out 't\.tfz: ok$' "inspect: --verify a good checkpoint" $I --verify "$T/t.tfz"
gunzip -c "$T/t.tfz" > "$T/t.safetensors"
grep_out 't\.safetensors: ok$' "inspect: --verify a plain safetensors file" \
  $I --verify "$T/t.safetensors"
grep_out '^-: ok$' "inspect: --verify from stdin" sh -c "$I --verify - < '$T/t.tfz'"
cp "$T/t.tfz" "$T/bad.tfz"
printf 'XXXXXXXX' | dd of="$T/bad.tfz" bs=1 seek=60000 conv=notrunc 2>/dev/null
grep_err 65 'bad\.tfz' "inspect: --verify a corrupted copy exits 65 naming it" \
  $I --verify "$T/bad.tfz"
ok "inspect: the summary reads only the header, so the damage goes unseen" $I "$T/bad.tfz"
head -c 50000 "$T/t.tfz" > "$T/short.tfz"
grep_err 65 'short\.tfz' "inspect: --verify a truncated copy" $I --verify "$T/short.tfz"
grep_err 65 'short\.tfz' "inspect: --stats of a truncated copy" $I --stats "$T/short.tfz"
# a NaN and an infinity written into valid files: inspection shows them, --verify and every
# command that loads a model refuse them (exit 65, naming tensor and element)
poison() { # poison IN OUT TENSOR ELEMENT VALUE: OUT is IN with one float replaced
  python3 -c "
import json, struct, sys
src, dst, name, k, v = sys.argv[1:]
b = bytearray(open(src, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
at = 8 + n + json.loads(b[8:8 + n])[name]['data_offsets'][0] + 4 * int(k)
b[at:at + 4] = struct.pack('<f', float(v))
open(dst, 'wb').write(b)" "$@"
}
poison "$T/t.safetensors" "$T/nan.safetensors" embed.weight 3 nan
poison "$T/t.safetensors" "$T/inf.safetensors" layers.1.mlp.value_param_tokens 0 -inf
ok "inspect: the summary of a checkpoint holding a NaN" $I "$T/nan.safetensors"
ok "inspect: --stats of a checkpoint holding a NaN (left out of the figures)" \
  $I --stats "$T/nan.safetensors"
grep_err 65 'nan\.safetensors: tensor embed\.weight: 1 NaN' \
  "inspect: --verify refuses a NaN, naming file and tensor" $I --verify "$T/nan.safetensors"
grep_err 65 'tensor layers\.1\.mlp\.value_param_tokens: 0 NaN, min -inf' \
  "inspect: --verify refuses an infinity" $I --verify "$T/inf.safetensors"
grep_err 65 'nan\.safetensors: tensor embed\.weight: element 3 is nan, expected a finite value' \
  "eval: a checkpoint holding a NaN exits 65" \
  $TF_BIN/tf-eval -i "$T/nan.safetensors" --data data/tiny-valid.txt
grep_err 65 'tensor layers\.1\.mlp\.value_param_tokens: element 0 is -inf' \
  "generate: a checkpoint holding an infinity exits 65" \
  sh -c "echo hi | $TF_BIN/tf-generate -i '$T/inf.safetensors' -n 2"
grep_err 65 'element 3 is nan' "grow: a checkpoint holding a NaN exits 65" \
  $TF_BIN/tf-grow --ffn +32 -i "$T/nan.safetensors" -o "$T/never.tfz"
fails 1 "grow: nothing written when the input is refused" test -e "$T/never.tfz"
printf 'not a checkpoint at all\n' > "$T/junk.tfz"
grep_err 65 'junk\.tfz' "inspect: a file that is no checkpoint exits 65" $I "$T/junk.tfz"

# --diff
grep_out '^tensors: 2 same, 21 changed, 0 grown' "inspect: --diff of two seeds" \
  $I --diff "$T/s2.tfz" "$T/t.tfz"
grep_out '^tensors: 23 same, 0 changed, 0 grown, 0 shrunk, 0 incomparable, 0 only in A, 0 only in B$' \
  "inspect: --diff of a file with itself" $I --diff "$T/t.tfz" "$T/t.tfz"
grep_out '^config qkv_tokens: 32 -> 64$' "inspect: --diff reports config changes" \
  $I --diff "$T/g.tfz" "$T/t.tfz"
grep_out '^grown +layers\.0\.attention\.query\.key_param_tokens  F32 \[32, 32\] -> F32 \[64, 32\], old rows unchanged$' \
  "inspect: --diff sees growth that kept the old rows" $I --diff "$T/g.tfz" "$T/t.tfz"
check "inspect: --diff --json with one file on stdin" sh -c "$I --json --diff '$T/g.tfz' - < '$T/t.tfz' | python3 -c '
import json, sys
d = json.load(sys.stdin)
st = {t[\"name\"]: t for t in d[\"tensors\"]}
assert st[\"embed.weight\"][\"status\"] == \"same\"
q = st[\"layers.0.attention.query.key_param_tokens\"]
assert q[\"status\"] == \"grown\" and q[\"old_rows_unchanged\"] and q[\"shape_b\"] == [64, 32], q
assert d[\"config\"][\"qkv_tokens\"] == {\"a\": 32, \"b\": 64}
'"

# names from files are escaped on the terminal
python3 -c "
import json, struct
h = json.dumps({'evil\x1b[2J': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}).encode()
h += b' ' * (-len(h) % 8)
open('$T/evil.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h + b'\0\0\0\0')
"
grep_out 'evil\\x1b\[2J$' "inspect: tensor names are escaped" $I --tensors "$T/evil.safetensors"
check "inspect: no raw control character reaches the terminal" sh -c \
  "$I --tensors --stats '$T/evil.safetensors' | tr -d '\n' | LC_ALL=C grep -qv '[[:cntrl:]]'"
grep_err 65 'no config' "inspect: --verify wants a tokenformer checkpoint" \
  $I --verify "$T/evil.safetensors"

# escaped once: a name a message quotes shows as C writes it (not \\x01, \\x5c); a JSON value
# of the history text as JSON writes it
python3 -c "
import json, struct
h = json.dumps({'a\x01b\\\\c': {'dtype': 'Q9', 'shape': [1], 'data_offsets': [0, 4]}}).encode()
h += b' ' * (-len(h) % 8)
open('$T/escaped.safetensors', 'wb').write(struct.pack('<Q', len(h)) + h + b'\0\0\0\0')
"
grep_err 65 ': tensor a\\x01b\\\\c: unknown dtype "Q9"' \
  "inspect: a message shows a name from the file escaped once" $I "$T/escaped.safetensors"
ok "inspect: a checkpoint named with a quote and a backslash" \
  $N -q -c configs/tiny.yaml -o "$T/q\"b\\c.tfz"
grep_out '^  argv +\[.*,"-o","[^"]*/q\\"b\\\\c\.tfz"\]$' \
  "inspect: --history shows argv as JSON escapes it" $I --history "$T/q\"b\\c.tfz"

# usage and exit codes
grep_err 66 'nothere\.tfz' "inspect: missing file exits 66" $I "$T/nothere.tfz"
grep_err 64 'checkpoint is required' "inspect: no file is a usage error" $I
fails 64 "inspect: unknown option" $I --frobnicate "$T/t.tfz"
fails 64 "inspect: --verify takes no --stats" $I --verify --stats "$T/t.tfz"
fails 64 "inspect: two files on stdin" $I --diff - -
grep_out 'Usage: tf-inspect' "inspect: --help" $I --help
grep_out 'tokenformer' "inspect: --version" $I --version
