# test_badinput.sh: no input crashes a command (sourced by run.sh). For every command: option
# values that are not numbers, negative, out of range, empty, with leading blanks or trailing
# garbage, or overflowing; an unknown option, a missing value, a stray operand, an empty file name; input
# files that are missing, unreadable, a directory, empty, random bytes, a checkpoint cut
# short at several points; configs with wrong types; texts that are missing, unreadable, empty,
# a directory or too short; and sizes that cannot fit in memory, refused with exit 71 and the
# figures before anything large is allocated. Each case checks the exit status and that the
# message names the option or the file and what was wrong. Cases the other test_*.sh scripts
# already have are left out. Under make check SANITIZE=1 a crash or a leak fails the case.
B=$TMP/bad
mkdir -p "$B"
M=$B/m.tfz
$TF_BIN/tf-init -q -c configs/tiny.yaml -o "$M"

# ---------------------------------------------------------------- option values
# Each row: the command with what it needs, the option, the name its messages use, and a
# value out of its range. Every option gets that value and the six below; all exit 64 with
# "NAME: expected ..., got 'VALUE'".
while read -r cmd opt label out; do
  for v in abc -1 '' 7x ' 1' 99999999999999999999 "$out"; do
    case "$cmd $opt $v" in # the same cases in other scripts
    "tf-generate "*" -1" | "tf-train --stop-at -1" | "tf-grow --qkv -1") continue ;;
    esac
    grep_err 64 "$label: expected .+, got '$v'" "badinput: $cmd $opt '$v' exits 64" \
      $TF_BIN/$cmd $opt "$v"
  done
done << EOF
tf-init --seed --seed 18446744073709551616
tf-init --threads --threads 1025
tf-train --steps --steps 1099511627777
tf-train --stop-at --stop-at 1099511627777
tf-grow --qkv --qkv 16777217
tf-grow --proj --proj 16777217
tf-grow --ffn --ffn 16777217
tf-grow --seed --seed 18446744073709551616
tf-eval --max-bytes --max-bytes 1
tf-eval --batch --batch 4097
tf-eval --threads --threads 0
tf-generate -n --tokens 9223372036854775808
tf-generate -t --temperature inf
tf-generate --top-k --top-k 2147483648
tf-generate --top-p --top-p nan
tf-generate --seed --seed 18446744073709551616
tf-tokenize --threads --threads 0
EOF

# an unknown option, an option without its value, a stray operand, an empty file name
while read -r cmd args; do
  case $cmd in tf-init | tf-inspect) ;; *) # test_init.sh and test_inspect.sh have it
    grep_err 64 "unrecognized option '--frobnicate'" "badinput: $cmd: an unknown option exits 64" \
      $TF_BIN/$cmd $args --frobnicate ;;
  esac
  case $cmd in tf-inspect) valued=--tensor ;; *) valued=--threads ;; esac
  grep_err 64 "requires an argument" "badinput: $cmd: an option without its value exits 64" \
    $TF_BIN/$cmd $args $valued
done << EOF
tf-init -c configs/tiny.yaml -o $B/x.tfz
tf-train -c configs/tiny.yaml -i $M -o $B/x.tfz
tf-grow -i $M -o $B/x.tfz --ffn +1
tf-eval -i $M
tf-generate -i $M -p x
tf-inspect $M $M
EOF
while read -r cmd args; do
  grep_err 64 "unexpected argument 'stray'" "badinput: $cmd: a stray operand exits 64" \
    $TF_BIN/$cmd $args stray
done << EOF
tf-init -c configs/tiny.yaml -o $B/x.tfz
tf-train -c configs/tiny.yaml -i $M -o $B/x.tfz
tf-grow -i $M -o $B/x.tfz --ffn +1
tf-eval -i $M
tf-inspect $M $M
EOF
# the empty name is the last argument of each row
while read -r cmd label args; do
  grep_err 64 "$label: the file name is empty" "badinput: $cmd: an empty $label exits 64" \
    $TF_BIN/$cmd $args ''
done << EOF
tf-init --config -o $B/x.tfz -c
tf-init --output -c configs/tiny.yaml -o
tf-train --input -c configs/tiny.yaml -o $B/x.tfz -i
tf-train --output -c configs/tiny.yaml -i $M -o
tf-grow --input --ffn +1 -o $B/x.tfz -i
tf-grow --output --ffn +1 -i $M -o
tf-eval --input -i
tf-eval --data -i $M -d
tf-generate --input -p x -i
tf-generate --file -i $M -f
tf-inspect checkpoint
tf-inspect --diff $M --diff
EOF
check "badinput: no output was created by any of the above" test ! -e "$B/x.tfz"

# ---------------------------------------------------------------- checkpoints
# Bad checkpoints given to each reader: missing, a directory, empty, random bytes, gzip of
# random bytes, cut inside the gzip header, inside the safetensors header (gzip and plain),
# inside the tensor data (gzip and plain). The random bytes come from a fixed seed.
python3 -c "
import gzip, random, sys
random.seed(7)
junk = bytes(random.getrandbits(8) for _ in range(4096))
open(sys.argv[1] + '/random.bin', 'wb').write(junk)
open(sys.argv[1] + '/random.gz', 'wb').write(gzip.compress(junk, mtime=0))
" "$B"
mkdir -p "$B/dir"
: > "$B/empty"
gunzip -c "$M" > "$B/m.safetensors"
head -c 5 "$M" > "$B/cut-gzip-header.tfz"
head -c 500 "$M" > "$B/cut-st-header.tfz"
head -c 60000 "$M" > "$B/cut-data.tfz"
head -c 500 "$B/m.safetensors" > "$B/cut-st-header.safetensors"
head -c 60000 "$B/m.safetensors" > "$B/cut-data.safetensors"
# Each row: file, exit status, message after "FILE: ".
BAD_CKPTS="missing.tfz 66 No such file or directory
dir 66 is a directory
empty 65 empty file
random.bin 65 not a checkpoint: looks like unrecognized binary data
random.gz 65 not a checkpoint: looks like gzip'd unrecognized binary data
cut-gzip-header.tfz 65 truncated.*inside the 8-byte header length
cut-st-header.tfz 65 truncated.*the header ends at byte [0-9]+, its length says
cut-st-header.safetensors 65 truncated or not a checkpoint: header length [0-9]+ runs past
cut-data.tfz 65 truncated.*data region ends at byte [0-9]+, header says
cut-data.safetensors 65 truncated: data region ends at byte [0-9]+, header says"
while read -r cmd args; do
  while read -r f st msg; do
    case "$cmd $args $f" in
    "tf-inspect  cut-data.tfz") continue ;; # the summary reads the header alone
    tf-[tgi]*" missing.tfz") continue ;;    # test_train, test_grow, test_generate, test_inspect
    esac
    grep_err $st "$B/$f: $msg" "badinput: $cmd $args reads $f: exit $st" \
      $TF_BIN/$cmd $args "$B/$f"
  done << LIST
$BAD_CKPTS
LIST
done << EOF
tf-train -c configs/tiny.yaml -o $B/x.tfz --steps 1 -i
tf-grow -o $B/x.tfz --ffn +1 -i
tf-eval -d data/tiny-valid.txt -i
tf-generate -p x -i
tf-inspect
tf-inspect --verify
EOF
grep_err 65 "<stdin>: empty file" "badinput: tf-inspect of an empty stdin exits 65" \
  $TF_BIN/tf-inspect -

# ---------------------------------------------------------------- configs
# Wrong types, an unknown key, a negative size, a directory, random bytes: exit 78 (66 for a
# directory) naming FILE:LINE:COL, the key and what it expects, for each command with -c.
printf 'model:\n  d_model: thirty-two\n' > "$B/string.yaml"
printf 'model:\n  - d_model\n  - 32\n' > "$B/list.yaml"
printf 'train:\n  batch: [4, 8]\n' > "$B/list-value.yaml"
printf 'grow:\n  init: exact\n  speed: 11\n' > "$B/unknown.yaml"
printf 'model:\n  seq_len: -32\n' > "$B/negative.yaml"
printf 'train:\n  lr: {value: 1}\n' > "$B/map-value.yaml"
BAD_CONFIGS="string.yaml 78 string.yaml:2:12: model.d_model: expected an integer in \[1, 65536\], got \"thirty-two\"
list.yaml 78 list.yaml:2:3: model: expected a mapping of keys, got a sequence
list-value.yaml 78 list-value.yaml:2:10: train.batch: expected an integer in \[1, 65536\], got a sequence
unknown.yaml 78 unknown.yaml:3:3: grow.speed: unknown key; valid keys of grow:
negative.yaml 78 negative.yaml:2:12: model.seq_len: expected an integer in \[1, 1048576\], got \"-32\"
map-value.yaml 78 map-value.yaml:2:7: train.lr: expected a number in \(0, 10\], got a mapping
dir 66 dir: cannot open: Is a directory
random.bin 78 random.bin: byte [0-9]+: "
while read -r cmd args; do
  while read -r f st msg; do
    grep_err $st "$msg" "badinput: $cmd -c $f: exit $st" $TF_BIN/$cmd $args -c "$B/$f"
  done << LIST
$BAD_CONFIGS
LIST
done << EOF
tf-init -o $B/x.tfz
tf-train -i $M -o $B/x.tfz
tf-grow -i $M -o $B/x.tfz --ffn +1
EOF

# ---------------------------------------------------------------- texts
# tf-eval's text and tf-train's validation text (tf-train's training text: test_train.sh).
printf 'x' > "$B/one.txt"
grep_err 65 "$B/empty: empty file, expected text" "badinput: tf-eval of an empty text exits 65" \
  $TF_BIN/tf-eval -i "$M" -d "$B/empty"
grep_err 66 "$B/dir: is a directory, expected a text file" \
  "badinput: tf-eval of a directory exits 66" $TF_BIN/tf-eval -i "$M" -d "$B/dir"
TV="$TF_BIN/tf-train -q -c configs/tiny.yaml -i $M -o $B/x.tfz --steps 1 --set train.eval_every=1"
grep_err 66 "$B/missing.txt: cannot open: No such file" \
  "badinput: tf-train with a missing validation text exits 66" \
  $TV --set train.valid="$B/missing.txt"
grep_err 65 "$B/empty: empty file" "badinput: tf-train with an empty validation text exits 65" \
  $TV --set train.valid="$B/empty"
grep_err 66 "$B/dir: is a directory" \
  "badinput: tf-train with a directory as validation text exits 66" $TV --set train.valid="$B/dir"
grep_err 65 "$B/one.txt: 1 byte, nothing to predict" \
  "badinput: tf-train with a one-byte validation text exits 65 (not a loss of 0)" \
  $TV --set train.valid="$B/one.txt"
check "badinput: no output was created by the failures above" test ! -e "$B/x.tfz"
ok "badinput: train.eval_batches 0 means no evaluation: the validation text is not read" \
  $TV --set train.valid="$B/one.txt" --set train.eval_batches=0
rm -f "$B/x.tfz"
grep_err 73 "$B/dir: cannot open the log: Is a directory" "badinput: tf-train --log DIR exits 73" \
  $TF_BIN/tf-train -q -c configs/tiny.yaml -i "$M" -o "$B/x.tfz" --steps 1 --log "$B/dir"

# Unreadable files: as root, whom permissions do not stop, the command runs as nobody.
cp "$M" "$B/unreadable.tfz"
cp configs/tiny.yaml "$B/unreadable.yaml"
printf 'some text to read\n' > "$B/unreadable.txt"
chmod 000 "$B/unreadable.tfz" "$B/unreadable.yaml" "$B/unreadable.txt"
chmod o+x "$TMP" "$B"
chmod a+r "$M"
mkdir -p "$B/w" && chmod 777 "$B/w" # outputs nobody can create: checked before the inputs
[ "$NOBODY" != none ] || echo "cli: test_badinput.sh: skipped the unreadable-file tests: no setpriv (util-linux)"
[ "$NOBODY" = none ] || while read -r f cmd args; do
  grep_err 66 "$B/$f: (cannot open: )?Permission denied" "badinput: $cmd, unreadable $f: exit 66" \
    $NOBODY $TF_BIN/$cmd $args "$B/$f"
done << EOF
unreadable.tfz tf-train -c configs/tiny.yaml -o $B/w/x.tfz -i
unreadable.tfz tf-grow --ffn +1 -o $B/w/x.tfz -i
unreadable.tfz tf-eval -d data/tiny-valid.txt -i
unreadable.tfz tf-generate -p x -i
unreadable.tfz tf-inspect --verify
unreadable.yaml tf-init -o $B/x.tfz -c
unreadable.txt tf-eval -i $M -d
unreadable.txt tf-generate -i $M -f
EOF
[ "$NOBODY" = none ] || grep_err 66 "$B/unreadable.txt: cannot open: Permission denied" \
  "badinput: tf-train, unreadable training text: exit 66" $NOBODY $TF_BIN/tf-train \
  -c configs/tiny.yaml -i "$M" -o "$B/w/x.tfz" --set train.data="$B/unreadable.txt"
chmod 644 "$B/unreadable.tfz" "$B/unreadable.yaml" "$B/unreadable.txt"

# ---------------------------------------------------------------- limits before allocation
# Sizes that cannot fit are refused with exit 71 and the figures, needed against the
# machine's memory, before anything large is allocated (the runs take milliseconds).
grep_err 71 "a model of 4398096973824 parameters: needs [0-9.e+]+ GiB in all \(parameters [0-9.e+]+ GiB\), held at once; the machine has [0-9.e+]+ GiB" \
  "badinput: tf-init of a model of 4.4e12 parameters exits 71 with the figures" \
  $TF_BIN/tf-init -c configs/tiny.yaml --set model.d_model=65536 --set model.ffn_tokens=16777216 \
  -o "$B/x.tfz"
# A header that claims enormous shapes; with `train`, a training state whose AdamW moments
# would not fit beside parameters that would (0.6 of the memory). Generated from the tiny
# checkpoint: its config and shapes changed, the data cut short. A regular file that small is
# refused as truncated when opened (gzip holds at most about 1032 times its size); through a
# pipe no size is known, and the model's size is what refuses it.
huge() { # OUT KEY=VALUE... [train]
  python3 -c "
import gzip, json, os, struct, sys
out, sets = sys.argv[1], sys.argv[2:]
src = '$M'
if 'train' in sets:
    src = '$B/trained.tfz'
    sets.remove('train')
    phys = os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    for d in (4096, 65536):  # d_model and vocab_size so that the parameters take 0.6 of it
        v = int(0.6 * phys / 4 / d)
        if v <= 1 << 24: break
    sets += ['d_model=%d' % d, 'vocab_size=%d' % v, 'n_heads=32']
b = gzip.decompress(open(src, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
meta = h.pop('__metadata__')
cfg = json.loads(meta['config'])
for kv in sets:
    k, v = kv.split('=')
    cfg[k] = int(v)
meta['config'] = json.dumps(cfg)
V, d = cfg['vocab_size'], cfg['d_model']
def shape(name, old):
    base = name[8:] if name.startswith(('optim.m.', 'optim.v.')) else name
    if base == 'embed.weight': return [V, d]
    if base.startswith('final_norm.'): return [d]
    if base.startswith('layers.'):
        kind = 'ffn' if '.mlp.' in base else 'proj' if '.proj.' in base else 'qkv'
        return [cfg[kind + '_tokens'], d]
    return old
off = 0
for name, t in sorted(h.items(), key=lambda kv: kv[1]['data_offsets'][0]):
    t['shape'] = shape(name, t['shape'])
    size = {'F32': 4, 'F64': 8, 'I64': 8, 'U64': 8}[t['dtype']]
    for x in t['shape']: size *= x
    t['data_offsets'] = [off, off + size]
    off += size
h['__metadata__'] = meta
j = json.dumps(h).encode()
j += b' ' * (-len(j) % 8)
open(out, 'wb').write(gzip.compress(struct.pack('<Q', len(j)) + j + b[8 + n:8 + n + 4096], mtime=0))
" "$@"
}
$TF_BIN/tf-train -q -c configs/tiny.yaml -i "$M" -o "$B/trained.tfz" --steps 1
huge "$B/huge.tfz" vocab_size=16777216 d_model=65536
huge "$B/huge-state.tfz" train
pipe_from() { f=$1 && shift && cat "$f" | "$@"; }
for cmd in "tf-train -c configs/tiny.yaml -o $B/x.tfz -i" "tf-grow --ffn +1 -o $B/x.tfz -i" \
  "tf-eval -d data/tiny-valid.txt -i" "tf-generate -p x -i"; do
  grep_err 71 "a model of 1099562090496 parameters: needs [0-9.e+]+ GiB in all \(parameters [0-9.e+]+ GiB\), held at once; the machine has" \
    "badinput: ${cmd%% *} of a header claiming 1.1e12 parameters exits 71 with the figures" \
    pipe_from "$B/huge.tfz" $TF_BIN/$cmd -
done
grep_out "^  total +1,099,562,090,496$" \
  "badinput: tf-inspect reads that header without allocating the model" \
  pipe_from "$B/huge.tfz" $TF_BIN/tf-inspect -
grep_err 65 "huge\.tfz: truncated or not a checkpoint: the header says [0-9]+ bytes of content" \
  "badinput: as a file, tf-eval refuses that header when it opens it" \
  $TF_BIN/tf-eval -i "$B/huge.tfz" -d data/tiny-valid.txt
grep_err 71 "a training checkpoint of [0-9]+ parameters: needs [0-9.e+]+ GiB in all \(parameters [0-9.e+]+ GiB, AdamW moments [0-9.e+]+ GiB\), held at once; the machine" \
  "badinput: tf-train of a training checkpoint whose moments do not fit exits 71" \
  pipe_from "$B/huge-state.tfz" $TF_BIN/tf-train -c configs/tiny.yaml -o "$B/x.tfz" -i -
# tf-eval keeps only the parameters (which fit): it reads on and finds the stream cut short
grep_err 65 "truncated" "badinput: tf-eval does not keep the moments of a training checkpoint" \
  pipe_from "$B/huge-state.tfz" $TF_BIN/tf-eval -d data/tiny-valid.txt -i -
# tf-grow builds the grown model beside the input: 2^24 tokens of every kind at d_model 512
# are 1.7e11 parameters, and three times that with the AdamW moments of a trained input.
$TF_BIN/tf-init -q -c configs/tiny.yaml --set model.d_model=512 -o "$B/d512.tfz"
$TF_BIN/tf-train -q -c configs/tiny.yaml -i "$B/d512.tfz" -o "$B/d512-trained.tfz" --steps 1
for f in d512 d512-trained; do
  moments=
  [ $f = d512 ] || moments=", AdamW moments [0-9.e+]+ GiB"
  grep_err 71 "grown model of 171798823936 parameters beside the input's 525312: needs [0-9.e+]+ GiB in all \(parameters [0-9.e+]+ GiB$moments\), held" \
    "badinput: tf-grow of $f.tfz to 2^24 tokens of every kind exits 71 with the figures" \
    $TF_BIN/tf-grow -i "$B/$f.tfz" -o "$B/x.tfz" --qkv 16777216 --proj 16777216 --ffn 16777216
done
# Activations and KV caches: a model of 65536-byte context and d_model 4096 (4 x 65536 rows
# of 4096-wide activations, a few dozen per layer), and one of 2^20 bytes of context, d_model
# 16384 and 16384 heads (KV cache: 2 x 4 x 2^20 x 16384 floats). (Sizes that overflow 64 bits
# are refused too; no model that tf-init can write reaches them: test_net.c checks that.)
$TF_BIN/tf-init -q -c configs/tiny.yaml --set model.seq_len=65536 --set model.d_model=4096 \
  --set model.n_heads=32 --set model.rotary_pct=0 -o "$B/long.tfz"
for i in 1 2 3; do cat data/tiny-train.txt; done > "$B/long.txt"
grep_err 71 "training with batch 4 x length 65536: needs [0-9.e+]+ GiB in all \(parameters [0-9.e+]+ GiB, gradients [0-9.e+]+ GiB, AdamW moments [0-9.e+]+ GiB, activations [0-9.e+]+ GiB\), held at once; the machine has" \
  "badinput: tf-train with activations that do not fit exits 71 with the figures" \
  $TF_BIN/tf-train -q -c configs/tiny.yaml -i "$B/long.tfz" -o "$B/x.tfz" \
  --set train.data="$B/long.txt" --steps 1
unsanitized "badinput: tf-eval under ulimit -v" &&
grep_err 71 "activations for batch 8 x length 65536: needs [0-9.e+]+ GiB in all \(parameters [0-9.e+]+ GiB, activations [0-9.e+]+ GiB\), held at once; the machine has" \
  "badinput: tf-eval with activations that do not fit even for one window exits 71 with the figures" \
  sh -c "ulimit -v 2000000 && exec $TF_BIN/tf-eval -i '$B/long.tfz' -d '$B/long.txt'"
$TF_BIN/tf-init -q -c configs/tiny.yaml --set model.seq_len=1048576 --set model.d_model=16384 \
  --set model.n_heads=16384 --set model.rotary_pct=0 --set model.n_layers=4 \
  --set model.qkv_tokens=1 --set model.proj_tokens=1 --set model.ffn_tokens=1 -o "$B/context.tfz"
grep_err 71 "decoder for 1048576 positions: needs [0-9.e+]+ GiB in all \(parameters [0-9.e+]+ GiB, KV cache [0-9.e+]+ GiB\), held at once; the machine has" \
  "badinput: tf-generate with a KV cache that does not fit exits 71 with the figures" \
  $TF_BIN/tf-generate -i "$B/context.tfz" -p x
grep_err 71 "batch 4096 x length 1048576 is 4294967296 positions, the limit is 2\^31 - 1" \
  "badinput: tf-eval with 2^32 positions per pass exits 71 (before allocating its buffers)" \
  $TF_BIN/tf-eval -i "$B/context.tfz" -d "$B/long.txt" --batch 4096
grep_err 71 "activations for batch 2047 x length 1048576: needs [0-9.e+]+ GiB in all \(parameters [0-9.e+]+ GiB, activations [0-9.e+]+ GiB\), held at once; the machine has" \
  "badinput: tf-eval with 2^31 - 2^20 positions of 16384-wide activations exits 71" \
  $TF_BIN/tf-eval -i "$B/context.tfz" -d "$B/long.txt" --batch 2047
grep_err 71 "--json keeps the whole text: -n 1000000000000000 needs [0-9.e+]+ GiB, the machine" \
  "badinput: tf-generate --json with a huge -n exits 71 before generating" \
  $TF_BIN/tf-generate --json -i "$M" -p x -n 1000000000000000
