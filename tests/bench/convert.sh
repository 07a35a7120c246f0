#!/bin/sh
# convert.sh: `make bench-convert`: tf-convert's import speed and peak memory on a file of the
# released 150M model's shapes (607.6 MB, fp32), made here: tf-init with configs/150M.yaml,
# then tf-convert --to-official. A measurement, not a test; the machine should be quiet.
# Prints one JSON line per direction: MB/s of the official file over the wall time and over the
# processor time (user + system, the figure to compare on a machine that is not quiet), the
# seconds of both, peak RSS (MB) and its ratio to the model's fp32 size (the target is at most
# 1.2). BENCH_RUNS=N runs each direction N times (default 1), one line each.
#
# Usage: sh tests/bench/convert.sh [BINDIR]   (default build/bin; scratch in BENCH_TMP or /tmp)
set -eu
BIN=${1:-build/bin}
DIR=$(mktemp -d "${BENCH_TMP:-/tmp}/tf-bench-convert.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
"$BIN/tf-init" -q -c configs/150M.yaml --compress none -o "$DIR/m.tfz"
"$BIN/tf-convert" -q --to-official "$DIR/m.tfz" -o "$DIR/pytorch_model.bin"
bytes=$(stat -c %s "$DIR/pytorch_model.bin")
model=$((151881216 * 4))
cat "$DIR/pytorch_model.bin" > /dev/null # in the page cache: the figure is ours, not the disk's
# measure NAME CMD...: wall and processor seconds and peak RSS of CMD through /usr/bin/time
# (GNU time).
measure() {
  name=$1
  shift
  /usr/bin/time -f '%e %M %U %S' -o "$DIR/time" "$@"
  read -r secs kb user sys < "$DIR/time"
  awk -v n="$name" -v s="$secs" -v kb="$kb" -v u="$user" -v y="$sys" -v b="$bytes" -v m="$model" 'BEGIN {
    c = u + y
    printf "{\"bench\": \"convert\", \"direction\": \"%s\", \"seconds\": %.2f, \"MB_per_s\": %.0f, \"cpu_seconds\": %.2f, \"user\": %.2f, \"sys\": %.2f, \"MB_per_cpu_s\": %.0f, \"peak_MB\": %.0f, \"peak_over_model\": %.3f}\n",
      n, s, b / 1e6 / (s > 0 ? s : 1e-9), c, u, y, b / 1e6 / (c > 0 ? c : 1e-9), kb * 1024 / 1e6, kb * 1024 / m }'
}
mkdir "$DIR/again" # the same file name: torch.save names the archive after it
i=0
while [ "$i" -lt "${BENCH_RUNS:-1}" ]; do
  measure from-official "$BIN/tf-convert" -q --from-official "$DIR/pytorch_model.bin" \
    --compress none -o "$DIR/back.tfz"
  measure to-official "$BIN/tf-convert" -q --to-official "$DIR/back.tfz" \
    -o "$DIR/again/pytorch_model.bin"
  i=$((i + 1))
done
cmp -s "$DIR/pytorch_model.bin" "$DIR/again/pytorch_model.bin" || { echo "convert: round trip differs" >&2; exit 1; }
