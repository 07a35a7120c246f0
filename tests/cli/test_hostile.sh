# test_hostile.sh: hostile settings and files (sourced by run.sh): hyper-parameters that break
# AdamW in float, forged training states, a save that would write a non-finite value, outputs
# that cannot be written, damaged streams read for values, small misbehaviours; configs and
# headers built to cost time or memory, bounded by /usr/bin/time -v where it is installed.
H=$TMP/hostile
mkdir -p "$H"
TINY=configs/tiny.yaml
TR="--set train.data=data/tiny-train.txt --set train.valid= --threads 1 -q"
FORGE="python3 tests/cli/forge.py"
$TF_BIN/tf-init -q -c $TINY -o "$H/t0.tfz"
$TF_BIN/tf-train -c $TINY -i "$H/t0.tfz" -o "$H/trained.tfz" --steps 3 $TR

# ---------------------------------------------------------------- never save a broken model
# AdamW's hyper-parameters are checked as the floats the update uses; the old file is kept
cp "$H/trained.tfz" "$H/v.tfz"
grep_err 78 'train\.beta2 \(0\.99999999999\) rounds to 1 as a float' \
  "hostile: beta2 that rounds to 1 in float exits 78" \
  $TF_BIN/tf-train -c $TINY -i "$H/v.tfz" -o "$H/v.tfz" --new-stage --steps 1 \
  --set train.beta2=0.99999999999 --set train.eps=1e-45 $TR
check "hostile: and the checkpoint is untouched" cmp "$H/trained.tfz" "$H/v.tfz"
while read -r set pattern; do
  grep_err 78 "$pattern" "hostile: --set $set exits 78" \
    $TF_BIN/tf-train -c $TINY -i "$H/v.tfz" -o "$H/v.tfz" --new-stage --steps 1 --set "$set" $TR
done << 'EOF2'
train.beta1=0.999999999999 train\.beta1 \(0\.999999999999\) rounds to 1 as a float
train.eps=1e-45 train\.eps \(1e-45\) is below the smallest normal float
train.lr=1e-40 train\.lr \(1e-40\) is below the smallest normal float
train.lr=0 train\.lr: expected a number in \(0, 10\], got "0"
EOF2

# training states no training writes: refused by every loader and by --verify, naming the tensor
while read -r set pattern; do
  $FORGE "$H/trained.tfz" "$H/forged.tfz" "$set"
  grep_err 65 "forged\.tfz: tensor $pattern" "hostile: a checkpoint with $set: tf-train exits 65" \
    $TF_BIN/tf-train -c $TINY -i "$H/forged.tfz" -o "$H/x.tfz" --steps 5 $TR
  grep_err 65 "forged\.tfz: tensor $pattern" "hostile: a checkpoint with $set: --verify exits 65" \
    $TF_BIN/tf-inspect --verify "$H/forged.tfz"
done << 'EOF2'
optim.step=-1 optim\.step: -1, expected a finite count of 0 or more
train.step=-1 train\.step: -1, expected a finite count of 0 or more
train.lifetime_steps=-5 train\.lifetime_steps: -5, expected
train.data_cursor=-1 train\.data_cursor: -1, expected
optim.v.embed.weight=-0.001 optim\.v\.embed\.weight: holds -0\.001: a second moment of AdamW is never negative
optim.step=0 optim\.m\.embed\.weight: nonzero, but optim\.step is 0
train.flops=nan train\.flops: (nan|1 NaN)
EOF2
$FORGE "$H/trained.tfz" "$H/forged.tfz" train.step=-1
grep_err 65 "tensor train\.step: -1" "hostile: tf-eval refuses a negative train.step too" \
  $TF_BIN/tf-eval -i "$H/forged.tfz" -d data/tiny-valid.txt
# a state the checks let through whose next update overflows: the save refuses, file kept
$FORGE "$H/trained.tfz" "$H/big.tfz" optim.m.embed.weight=3e38 optim.v.embed.weight=0
cp "$H/big.tfz" "$H/out.tfz"
grep_err 65 'out\.tfz: not saved \(step 4\): tensor embed\.weight: element 0 is -?inf' \
  "hostile: a save that would write inf exits 65 naming step and tensor" \
  $TF_BIN/tf-train -c $TINY -i "$H/big.tfz" -o "$H/out.tfz" --steps 4 $TR --reschedule
check "hostile: and the old file is untouched" cmp "$H/big.tfz" "$H/out.tfz"

# ---------------------------------------------------------------- outputs that cannot be written
# stdout on a full device: every command exits 74 naming stdout, never 0 with nothing written
full() { "$@" > /dev/full; }
while read -r cmd; do
  grep_err 74 '^tf-[a-z]+: stdout: (No space left on device|write error)$' \
    "hostile: $cmd > /dev/full exits 74" full $TF_BIN/$cmd
done << EOF2
tf-eval -i $H/trained.tfz -d data/tiny-valid.txt
tf-eval --json -i $H/trained.tfz -d data/tiny-valid.txt
tf-generate -i $H/trained.tfz -p x -n 5
tf-generate --json -i $H/trained.tfz -p x -n 5
tf-init -c $TINY --print-config
tf-init -q -c $TINY -o $H/full-init.tfz --json
tf-grow -q -i $H/trained.tfz --ffn +8 -o $H/full-grow.tfz --json
tf-inspect $H/trained.tfz
tf-inspect --json --stats $H/trained.tfz
tf-train --help
tf-init --version
tf-grow --help
tf-generate --version
tf-inspect --help
tf-eval --version
EOF2
# a log that cannot be written: said once, training goes on and saves, exit 74 at the end
rm -f "$H/logged.tfz"
grep_err 74 'tf-train: /dev/full: the log is incomplete: No space left on device' \
  "hostile: tf-train --log on a full device exits 74 at the end" \
  $TF_BIN/tf-train -c $TINY -i "$H/trained.tfz" -o "$H/logged.tfz" --steps 6 --log /dev/full $TR --reschedule
check "hostile: the log failure is reported once" \
  test "$(grep -c 'cannot write the log: No space left on device; training goes on' "$ERR")" = 1
check "hostile: and the checkpoint was still written" $TF_BIN/tf-inspect --verify "$H/logged.tfz"

# ---------------------------------------------------------------- readers check the whole stream
# a flipped bit in the gzip trailer, the last 1 to 9 bytes cut, garbage appended, two files
# concatenated: every reader of values finishes the stream and exits 65
python3 - "$H/trained.tfz" "$H" << 'EOF2'
import gzip, sys
src, d = sys.argv[1], sys.argv[2]
b = open(src, "rb").read()
crc = bytearray(b); crc[-6] ^= 1
open(d + "/dmg-crc.tfz", "wb").write(crc)
for k in (1, 4, 8, 9):
    open(d + "/dmg-cut%d.tfz" % k, "wb").write(b[:-k])
open(d + "/dmg-junk.tfz", "wb").write(b + b"garbage")
open(d + "/dmg-cat.tfz", "wb").write(b + b)
raw = gzip.decompress(b)  # a good file in two gzip members, as `cat a.gz b.gz` makes
half = len(raw) // 2
open(d + "/two-members.tfz", "wb").write(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
EOF2
for f in crc cut1 cut4 cut8 cut9 junk cat; do
  case $f in
  crc) why='corrupt gzip stream: incorrect data check' ;;
  junk) why='trailing bytes after the gzip member' ;;
  cat) why='trailing bytes after the last tensor' ;;
  *) why='truncated: the gzip stream ends before its trailer' ;;
  esac
  for o in --stats "--tensor embed.weight" "--json --stats" "--json --tensor train.step"; do
    grep_err 65 "dmg-$f\.tfz: $why" "hostile: tf-inspect $o on a damaged stream ($f) exits 65" \
      $TF_BIN/tf-inspect $o "$H/dmg-$f.tfz"
  done
done
grep_err 65 'the values printed above came from this damaged file' \
  "hostile: --tensor says that the values it printed came from a damaged file" \
  $TF_BIN/tf-inspect --tensor embed.weight "$H/dmg-crc.tfz"
grep_out '^data +not read: this summary is the header' \
  "hostile: the header-only summary says it did not read the data" $TF_BIN/tf-inspect "$H/dmg-crc.tfz"
grep_out '"data_checked": false' "hostile: and so does its JSON" \
  $TF_BIN/tf-inspect --json "$H/dmg-crc.tfz"
grep_out '"data_checked": true' "hostile: --stats --json read and checked it" \
  $TF_BIN/tf-inspect --json --stats "$H/trained.tfz"
# gzip's multi-member form (a checkpoint gzip'ed in two pieces) is a whole file, as gunzip says
grep_out ': ok$' "hostile: a checkpoint in two gzip members verifies" \
  $TF_BIN/tf-inspect --verify "$H/two-members.tfz"
ok "hostile: and loads" $TF_BIN/tf-eval -i "$H/two-members.tfz" -d data/tiny-valid.txt

# ---------------------------------------------------------------- smaller ones
# seeds up to 2^64 - 1 are recorded exactly (above 2^63 - 1 as a decimal string)
ok "hostile: tf-init --seed 2^63 works" \
  $TF_BIN/tf-init -q -c $TINY --seed 9223372036854775808 -o "$H/seed.tfz"
grep_out 'tf-init +seed=9223372036854775808 ' "hostile: and the history records it exactly" \
  $TF_BIN/tf-inspect "$H/seed.tfz"
grep_out '"seed": "18446744073709551615"' "hostile: tf-grow --seed 2^64-1 is recorded exactly" \
  $TF_BIN/tf-grow -q -i "$H/t0.tfz" --ffn +8 --seed 18446744073709551615 -o "$H/seed2.tfz" --json
printf x > "$H/one.txt"
grep_err 65 "^tf-eval: $H/one\.txt: 1 byte, nothing to predict" \
  "hostile: tf-eval on a 1-byte file names the file" \
  $TF_BIN/tf-eval -i "$H/t0.tfz" -d "$H/one.txt"
# the out-of-memory message keeps its figure (ulimit -d makes the allocation fail; the size
# check before it reads ulimit -v, not -d)
unsanitized "hostile: a failed allocation names the parameter count" &&
grep_err 71 'out of memory allocating 256788480 parameters' \
  "hostile: a failed allocation names the parameter count" \
  sh -c "ulimit -d 600000; exec $TF_BIN/tf-init -q -c $TINY --set model.vocab_size=250000 \
    --set model.d_model=1024 --set model.n_heads=8 -o $H/oom.tfz"
# a value too small for a double is refused, not read as 0
grep_err 78 'train\.lr: expected a number in \(0, 10\], got "1e-400" \(below the smallest normal double' \
  "hostile: --set train.lr=1e-400 exits 78" $TF_BIN/tf-init -c $TINY --set train.lr=1e-400 --print-config
printf 'train:\n  min_lr: 1e-310\n' > "$H/underflow.yaml"
grep_err 78 'underflow\.yaml:2:11: train\.min_lr: expected .*got "1e-310"' \
  "hostile: a denormal in a YAML file exits 78" $TF_BIN/tf-init -c "$H/underflow.yaml" --print-config
# the log is never one of the checkpoints
cp "$H/trained.tfz" "$H/in.tfz"
grep_err 64 '--log .*in\.tfz: that is the input checkpoint' "hostile: --log equal to -i exits 64" \
  $TF_BIN/tf-train -c $TINY -i "$H/in.tfz" -o "$H/o.tfz" --log "$H/in.tfz" $TR
grep_err 64 '--log .*o\.tfz: that is the output checkpoint' "hostile: --log equal to -o exits 64" \
  $TF_BIN/tf-train -c $TINY -i "$H/in.tfz" -o "$H/o.tfz" --log "$H/./o.tfz" $TR
check "hostile: and the input is untouched" cmp "$H/trained.tfz" "$H/in.tfz"
# a signal while tf-train is still loading (blocked opening its config, a FIFO): exit 75 after
# saving, and the hint gives the command that resumes (-i is the output, as -i and -o differ)
sig_while_loading() {
  rm -f "$H/cfg.fifo" "$H/sig.tfz"
  mkfifo "$H/cfg.fifo" || return 1
  $TF_BIN/tf-train -c "$H/cfg.fifo" -i "$H/trained.tfz" -o "$H/sig.tfz" --steps 50 $TR --reschedule \
    2> "$H/sig.err" &
  pid=$!
  sleep 0.5
  kill -TERM $pid
  sleep 0.2
  cat $TINY > "$H/cfg.fifo"
  wait $pid
  rc=$?
  cat "$H/sig.err" >&2
  [ $rc = 75 ] && $TF_BIN/tf-inspect --verify "$H/sig.tfz" > /dev/null &&
    grep -q "stopped by a signal at step 3 after saving $H/sig.tfz; resume with: tf-train -c $H/cfg.fifo -i $H/sig.tfz -o $H/sig.tfz --steps 50" "$H/sig.err"
}
check "hostile: a signal while loading exits 75 with the command that resumes" sig_while_loading
# a symbolic link as the output is written through: the file replaced, the link kept
mkdir -p "$H/real"
cp "$H/t0.tfz" "$H/real/target.tfz"
ln -sf real/target.tfz "$H/link.tfz"
ok "hostile: an output that is a symbolic link is written" \
  $TF_BIN/tf-init -q -c $TINY --seed 5 -o "$H/link.tfz"
check "hostile: through the link, which stays a link" \
  sh -c "test -L '$H/link.tfz' && ! cmp -s '$H/t0.tfz' '$H/real/target.tfz' && $TF_BIN/tf-inspect --verify '$H/link.tfz'"
# YAML tags: a value may carry one only when it names its key's type (rows: YAML|message)
while IFS='|' read -r yaml pattern; do
  printf "$yaml" > "$H/tag.yaml"
  grep_err 78 "tag\.yaml:$pattern" "hostile: a config with '$yaml' exits 78" \
    $TF_BIN/tf-init -c "$H/tag.yaml" --print-config
done << 'EOF2'
model:\n  d_model: !!str 64\n|2:12: model\.d_model: the tag !!str does not fit this key's type
train: !python/object\n  lr: 1\n|1:8: the tag !python/object: a config takes tags only on values
train:\n  data: !python/object:os.system x\n|2:9: train\.data: the tag !python/object:os\.system does not fit
model:\n  !!str d_model: 64\n|2:3: the tag !!str: a config takes tags only on values
!!map\nmodel:\n  d_model: 64\n|1:1: the tag !!map: a config takes tags only on values
EOF2
printf 'model:\n  d_model: !!int 64\n  norm: !!str softmax\ntrain:\n  lr: !!float 1e-3\n' > "$H/tag.yaml"
grep_out '^  d_model: 64 ' "hostile: tags that name their key's type are read" \
  $TF_BIN/tf-init -c "$H/tag.yaml" --print-config

# ---------------------------------------------------------------- bounded work for hostile input
# bounded SECONDS MB CODE PATTERN NAME CMD...: CMD exits CODE with PATTERN on stderr, within
# SECONDS of processor time (user + system: wall time on a shared machine measures the other
# jobs) and MB of peak resident memory, as /usr/bin/time -v measures them
bounded() {
  secs=$1 mb=$2 code=$3 pat=$4 name=$5
  shift 5
  if [ ! -x /usr/bin/time ] || [ $SANITIZED = 1 ]; then
    grep_err "$code" "$pat" "$name (bounds not measured: no /usr/bin/time, or ASan)" "$@"
    cp "$OUT" "$H/bounded.out"
    return
  fi
  grep_err "$code" "$pat" "$name" /usr/bin/time -v -o "$H/time.txt" "$@"
  cp "$OUT" "$H/bounded.out" # CMD's stdout, for the caller
  kb=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$H/time.txt")
  cpu=$(awk -F': ' '/^[[:space:]]*(User|System) time \(seconds\)/ { s += $2 } END { print s }' \
    "$H/time.txt")
  check "$name: within $secs s and $mb MB (took $cpu s, $((${kb:-0} / 1024)) MB)" \
    awk -v t="$cpu" -v k="${kb:-999999999}" -v s="$secs" -v m="$mb" \
    'BEGIN { exit !(t != "" && t <= s && k <= m * 1024) }'
}
# configs: nesting refused where it passes 64 levels, size refused past 1 MiB (a regular file
# before anything is read), the worst 1 MiB a loader still reads
python3 - "$H" << 'EOF2'
import sys
d = sys.argv[1]
open(d + "/deep-200k.yaml", "w").write("[" * 200000)
open(d + "/deep-2m.yaml", "w").write("[" * (2 << 20))
line = "- " + "[" * 62 + "]" * 62 + "\n"
open(d + "/wide-1m.yaml", "w").write(line * ((1 << 20) // len(line)))
EOF2
truncate -s 100M "$H/huge.yaml"
bounded 2 50 78 'deep-200k\.yaml:1:65: nested more than 64 levels deep' \
  "hostile: a 200 KB config of nested [ exits 78 at once" \
  $TF_BIN/tf-init -c "$H/deep-200k.yaml" --print-config
bounded 2 50 78 'deep-2m\.yaml: more than 1048576 bytes; a config is at most 1 MiB' \
  "hostile: a 2 MB config of nested [ exits 78 at once" \
  $TF_BIN/tf-init -c "$H/deep-2m.yaml" --print-config
bounded 2 50 78 'huge\.yaml: more than 1048576 bytes' "hostile: a 100 MB config exits 78 unread" \
  $TF_BIN/tf-train -c "$H/huge.yaml" -i "$H/t0.tfz" -o "$H/x.tfz"
bounded 2 50 78 '<stdin>: more than 1048576 bytes' "hostile: so does 2 MB of config on stdin" \
  sh -c "exec $TF_BIN/tf-init -c - --print-config < '$H/deep-2m.yaml'"
bounded 10 300 78 'wide-1m\.yaml:1:1: expected a mapping of sections' \
  "hostile: the costliest 1 MiB config (nesting 63, repeated) is read in bounded time" \
  $TF_BIN/tf-grow -c "$H/wide-1m.yaml" -i "$H/t0.tfz" -o "$H/x.tfz" --ffn +8
# checkpoint headers: a 100 MiB header (gzip'ed) of 200,000 empty tensors is refused by a count
# before any JSON is built; a header within that count but beyond what its config can hold is
# refused before any per-tensor work
python3 - "$H" "$H/t0.tfz" << 'EOF2'
import gzip, json, struct, sys
d, src = sys.argv[1], sys.argv[2]
entry = b',"t%06d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}'
hdr = b'{"__metadata__":{"format":"tokenformer"}' + b"".join(entry % i for i in range(200000)) + b"}"
hdr += b" " * ((100 << 20) - len(hdr))
open(d + "/cap-header.tfz", "wb").write(gzip.compress(struct.pack("<Q", len(hdr)) + hdr, 1, mtime=0))
raw = gzip.decompress(open(src, "rb").read())
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n])
end = max(v["data_offsets"][1] for k, v in h.items() if k != "__metadata__")
for i in range(60000):  # all empty, at the end of the data region: a valid tiling
    h["x%05d" % i] = {"dtype": "U8", "shape": [0], "data_offsets": [end, end]}
text = json.dumps(h, separators=(",", ":")).encode()
text += b" " * (-(8 + len(text)) % 8)
open(d + "/many-tensors.tfz", "wb").write(gzip.compress(struct.pack("<Q", len(text)) + text + raw[8 + n:], 1, mtime=0))
EOF2
bounded 10 400 65 'cap-header\.tfz: header holds 200001 entries, more than the limit of 65536 tensors' \
  "hostile: a 100 MiB header of 200,000 tensors: the header-only summary exits 65 in bounded time" \
  $TF_BIN/tf-inspect "$H/cap-header.tfz"
bounded 5 300 65 'many-tensors\.tfz: 60023 tensors, more than the 76 a checkpoint of its config can hold' \
  "hostile: 60,000 tensors more than the config holds: tf-inspect exits 65" \
  $TF_BIN/tf-inspect "$H/many-tensors.tfz"
bounded 5 300 65 'many-tensors\.tfz: 60023 tensors, more than the 76 a checkpoint of its config can hold' \
  "hostile: and tf-eval" $TF_BIN/tf-eval -i "$H/many-tensors.tfz" -d data/tiny-valid.txt

# ---------------------------------------------------------------- memory counted as a whole
# A model of 65,536 ids with a 1024 context: each window's logits take 256 MiB, so the default
# batch of 8 needs about 2 GiB. Under ulimit -v (which tf_machine_bytes honours) tf-eval
# shrinks its batch to what fits beside the model and says so; the loss is that of --batch 1.
# Where not even one window fits, the refusal counts the parameters with the activations.
$TF_BIN/tf-init -q -c $TINY --set model.vocab_size=65536 --set model.d_model=32 \
  --set model.n_layers=1 --set model.seq_len=1024 --set model.qkv_tokens=8 \
  --set model.proj_tokens=8 --set model.ffn_tokens=8 -o "$H/wide.tfz"
head -c 2000 data/tiny-valid.txt > "$H/v2k.txt"
$TF_BIN/tf-eval -i "$H/wide.tfz" -d "$H/v2k.txt" --threads 1 --batch 1 > "$H/batch1.out"
if unsanitized "hostile: tf-eval, tf-train under ulimit -v"; then
bounded 30 1000 0 '--batch 8 does not fit in memory beside the model; using --batch 3 instead' \
  "hostile: tf-eval under a 1 GB limit shrinks its batch and says so" \
  sh -c "ulimit -v 1000000 && exec $TF_BIN/tf-eval -i '$H/wide.tfz' -d '$H/v2k.txt' --threads 1"
check "hostile: and scores as --batch 1 does" \
  test "$(sed 's/, perplexity.*//' "$H/bounded.out")" = "$(sed 's/, perplexity.*//' "$H/batch1.out")"
grep_err 71 'activations for batch 8 x length 1024: needs 2\.02 GiB in all \(parameters 0\.00782 GiB, activations 2\.02 GiB\), held at once; the machine has 0\.238 GiB' \
  "hostile: where one window does not fit beside the model, exit 71 with every part" \
  sh -c "ulimit -v 250000 && exec $TF_BIN/tf-eval -i '$H/wide.tfz' -d '$H/v2k.txt' --threads 1"
grep_err 71 'training with batch 4 x length 1024: needs [0-9.]+ GiB in all \(parameters [0-9.]+ GiB, gradients [0-9.]+ GiB, AdamW moments [0-9.]+ GiB, activations [0-9.]+ GiB\), held at once' \
  "hostile: tf-train counts parameters, gradients, moments and activations together" \
  sh -c "ulimit -v 1080000 && exec $TF_BIN/tf-train -c $TINY -i '$H/wide.tfz' -o '$H/x.tfz' --steps 1 $TR"
fi
