#!/bin/sh
# run.sh: every command under valgrind memcheck on tiny models: runs that work and runs that
# fail (missing, corrupt or bad input). A run passes when it exits as expected and memcheck saw
# no invalid access, no use of an uninitialised value and no definite or indirect leak.
# TF_BIN: commands built for valgrind (`make check-valgrind` builds build/vg: valgrind 3.19
# decodes no AVX-512). Ends with "valgrind: N passed, N failed"; non-zero if any failed.
set -u
TF_BIN=${TF_BIN:-build/vg/bin}
here=$(dirname "$0")
command -v valgrind >/dev/null || { echo "valgrind: not installed (make deps)"; exit 1; }
# valgrind's CPUID has no AVX-512, so BLIS would pick haswell itself: pinned all the same.
# Two threads run the OpenMP paths; valgrind serialises them anyway.
export OMP_NUM_THREADS=2 TF_BLAS_ARCH=haswell
VG="valgrind -q --error-exitcode=99 --track-origins=yes --num-callers=30
    --suppressions=$here/tokenformer.supp"
LEAKS="--leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect"
LAUNCH=   # a launcher before valgrind (mpirun)
IN=/dev/null
passed=0
failed=0
T=$(mktemp -d "${TMPDIR:-/tmp}/tf-vg.XXXXXX")
trap 'rm -rf "$T"' EXIT

vg() { # CODE NAME COMMAND ARG...: COMMAND (in TF_BIN) under memcheck exits CODE, no errors
  code=$1; name=$2; cmd=$3; shift 3
  rm -f "$T"/vg.*.log
  $LAUNCH $VG $LEAKS --log-file="$T/vg.%p.log" "$TF_BIN/$cmd" "$@" >"$T/out" 2>"$T/err" <"$IN"
  rc=$?
  if [ $rc = "$code" ] && [ -z "$(cat "$T"/vg.*.log)" ]; then passed=$((passed + 1)); return; fi
  failed=$((failed + 1))
  echo "FAIL: $name: exit $rc, expected $code$([ $rc = 99 ] && echo ', memcheck errors')"
  sed 's/^/  stderr: /' "$T/err" | head -5
  cat "$T"/vg.*.log | head -80
}

C="-c configs/tiny.yaml"
S="--set train.eval_every=2 --set train.eval_batches=1 --set train.save_every=2"
printf 'model:\n  d_model: 32\n  colour: red\n' > "$T/bad.yaml"
printf 'not a checkpoint\n' > "$T/junk.tfz"

vg 0  "init"                  tf-init -q $C -o "$T/a.tfz"
vg 0  "init: softmax, --json" tf-init --json $C --set model.norm=softmax -o "$T/sm.tfz"
vg 0  "train: 4 steps, eval, save, log" tf-train -q $C $S -i "$T/a.tfz" -o "$T/b.tfz" \
                              --steps 4 --log "$T/log.jsonl"
vg 0  "train: stop at 2"      tf-train -q $C $S -i "$T/a.tfz" -o "$T/h.tfz" --steps 4 --stop-at 2
IN=$T/h.tfz
vg 0  "train: resume, stdin to stdout" tf-train -q $C $S -i - -o - --steps 4
IN=/dev/null
vg 0  "train: a new stage"    tf-train -q $C $S -i "$T/h.tfz" -o "$T/c.tfz" --new-stage --steps 2
vg 0  "grow: exact"           tf-grow -q -i "$T/b.tfz" -o "$T/g.tfz" --qkv +5 --proj 33 --ffn +7
vg 0  "grow: duplicate, keep the optimizer" tf-grow -q -i "$T/b.tfz" -o "$T/d.tfz" \
                              --ffn +64 --init duplicate --keep-optimizer
vg 0  "eval --json"           tf-eval --json -i "$T/g.tfz" --data data/tiny-valid.txt --max-bytes 3000
vg 0  "eval --task, --per-example" tf-eval --json -i tests/fixtures/tasks_bytes.tfz --task piqa \
                              --data tests/fixtures/tasks/piqa.jsonl --limit 4 --per-example "$T/pe.jsonl"
vg 0  "generate: sampling, past the context" tf-generate -i "$T/g.tfz" -p "In the beginning" \
                              -n 40 --seed 1 --top-k 20 --top-p 0.9 -t 0.8
vg 0  "generate: greedy, --stop, --echo, softmax" tf-generate -i "$T/sm.tfz" -p abc -n 8 \
                              --greedy --stop zz --echo
vg 0  "generate: --weights bf16, past the context" tf-generate -i "$T/g.tfz" -p "In the" \
                              -n 40 --seed 1 --weights bf16
vg 0  "generate: --weights q8, softmax" tf-generate -i "$T/sm.tfz" -p abc -n 20 --weights q8
vg 0  "eval --weights q8"     tf-eval -i "$T/g.tfz" --data data/tiny-valid.txt --max-bytes 2000 \
                              --weights q8
vg 0  "convert: --quantize q8" tf-convert -q --quantize q8 -i "$T/g.tfz" -o "$T/q8.tfz"
vg 0  "generate: stored q8"   tf-generate -i "$T/q8.tfz" -p "In the" -n 20 --seed 1
vg 0  "eval: stored q8, in float" tf-eval -i "$T/q8.tfz" --data data/tiny-valid.txt \
                              --max-bytes 2000
vg 0  "inspect --verify: stored q8" tf-inspect --verify "$T/q8.tfz"
vg 65 "train: refuses stored q8" tf-train -q $C $S -i "$T/q8.tfz" -o "$T/x.tfz" --steps 1
vg 0  "inspect"               tf-inspect "$T/g.tfz"
vg 0  "inspect --verify"      tf-inspect --verify "$T/g.tfz"
vg 0  "inspect --json --stats" tf-inspect --json --stats "$T/g.tfz"
vg 0  "inspect --diff"        tf-inspect --diff "$T/b.tfz" "$T/g.tfz"
IN=$T/g.tfz
vg 0  "inspect --tensors, stdin" tf-inspect --tensors -
IN=/dev/null
O=tests/fixtures/official
vg 0  "convert: --from-official, DeepSpeed fp16" tf-convert --json --from-official $O/deepspeed.pt \
                              --config $O/neox.yml -o "$T/cv.tfz"
vg 0  "convert: --to-official" tf-convert -q --to-official "$T/cv.tfz" -o "$T/cv.bin" \
                              --config-out "$T/cv.json"
vg 0  "convert: --to-safetensors, import it" tf-convert -q --to-safetensors "$T/cv.tfz" \
                              -o "$T/cv.st"
vg 0  "convert: views, strided" tf-convert -q --from-official $O/views.bin --config "$T/cv.json" \
                              -o "$T/cv2.tfz"
vg 65 "convert: os.system"    tf-convert --from-official $O/bad/os_system.bin -o "$T/x.tfz"
vg 65 "convert: short storage" tf-convert --from-official $O/bad/short_storage.bin -o "$T/x.tfz"
# a NaN in the first tensor's data: the read fails while the source's hash runs on its thread,
# which is stopped and joined (lib/official.c)
python3 -c "import struct, sys; b = bytearray(open(sys.argv[1], 'rb').read())
h = 8 + struct.unpack('<Q', b[:8])[0]; b[h:h + 4] = struct.pack('<f', float('nan'))
open(sys.argv[2], 'wb').write(b)" "$T/cv.st" "$T/nan.st"
vg 65 "convert: a NaN partway" tf-convert --from-official "$T/nan.st" --config "$T/cv.json" \
                              -o "$T/x.tfz"
head -c 2000 "$T/g.tfz" > "$T/short.tfz"

vg 66 "init: missing config"  tf-init -c "$T/none.yaml" -o "$T/x.tfz"
vg 78 "init: unknown key"     tf-init -c "$T/bad.yaml" -o "$T/x.tfz"
vg 64 "init: unknown option"  tf-init --frobnicate
vg 66 "train: missing checkpoint" tf-train $C -i "$T/none.tfz" -o "$T/x.tfz"
vg 66 "train: missing corpus" tf-train $C -i "$T/a.tfz" -o "$T/x.tfz" --set train.data="$T/none.txt"
vg 65 "train: diverging"      tf-train -q $C -i "$T/a.tfz" -o "$T/x.tfz" --steps 12 \
  --set train.warmup=0 --set train.lr=10 --set train.min_lr=10 --set train.weight_decay=10
vg 66 "grow: missing checkpoint" tf-grow -i "$T/none.tfz" -o "$T/x.tfz" --qkv +1
vg 64 "grow: shrinking"       tf-grow -i "$T/b.tfz" -o "$T/x.tfz" --qkv 16
vg 66 "eval: missing text"    tf-eval -i "$T/g.tfz" --data "$T/none.txt"
vg 65 "eval: not a checkpoint" tf-eval -i "$T/junk.tfz" --data data/tiny-valid.txt
vg 65 "eval: a bad task file" tf-eval -i tests/fixtures/tasks_bytes.tfz --task winogrande \
                              --data tests/fixtures/tasks/piqa.jsonl
vg 66 "generate: missing checkpoint" tf-generate -i "$T/none.tfz" -p x
vg 65 "generate: truncated checkpoint" tf-generate -i "$T/short.tfz" -p x
vg 66 "inspect: missing file" tf-inspect "$T/none.tfz"
vg 65 "inspect --verify: truncated" tf-inspect --verify "$T/short.tfz"
vg 65 "inspect --stats: truncated" tf-inspect --stats "$T/short.tfz"
vg 0  "tokenize: a dataset"    tf-tokenize -q -i "$T/a.tfz" -o "$T/ds" data/tiny-valid.txt
printf '{"text": "ab"}\n{"text": 3}\n' > "$T/bad.jsonl"
vg 65 "tokenize: a bad JSON line" tf-tokenize -i "$T/a.tfz" -o "$T/bj" --jsonl "$T/bad.jsonl"
vg 0  "eval: a dataset"        tf-eval -i "$T/a.tfz" --data "$T/ds" --max-tokens 2000
vg 0  "train: on a dataset"    tf-train -q $C $S -i "$T/a.tfz" -o "$T/dt.tfz" --steps 2 \
                              --set train.data="$T/ds" --set train.valid="$T/ds.idx"
printf 'MMIDIDX\0\0\1' > "$T/bad.idx"
: > "$T/bad.bin"
vg 65 "eval: a damaged dataset" tf-eval -i "$T/a.tfz" --data "$T/bad"

# Two ranks under mpirun: the gradient allreduce and the checks across ranks. No leak check:
# Open MPI's MPI_Finalize leaves hundreds of blocks from components it has unloaded, whose
# stacks valgrind cannot name; dist.c allocates nothing, and the runs above check tf-train.
if command -v mpirun >/dev/null && "$TF_BIN/tf-train" --version | grep -q 'MPI$'; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
  LAUNCH="mpirun -np 2 -x OMP_NUM_THREADS=1 -x TF_BLAS_ARCH" LEAKS=--leak-check=no
  vg 0 "train: 2 MPI ranks"   tf-train -q $C $S -i "$T/a.tfz" -o "$T/m.tfz" --steps 4
else
  echo "valgrind: the MPI run skipped: no mpirun or a build without MPI"
fi

echo "valgrind: $passed passed, $failed failed"
[ $failed = 0 ]
