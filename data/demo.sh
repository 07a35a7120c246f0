#!/bin/sh
# demo.sh BIN: the demo pipeline, printing what each step does. Grows with the toolkit:
# today it creates the small model and inspects it.
set -eu
bin=${1:-build/bin}
out=${DEMO_DIR:-demo}
mkdir -p "$out"
step() { printf '\n== %s\n$ %s\n' "$1" "$2"; }

step "create the small model (configs/small.yaml)" "tf-init -c configs/small.yaml -o $out/s0.tfz"
"$bin/tf-init" -c configs/small.yaml -o "$out/s0.tfz"

step "look at it" "tf-inspect $out/s0.tfz"
"$bin/tf-inspect" "$out/s0.tfz"

step "verify every byte and the CRC" "tf-inspect --verify $out/s0.tfz"
"$bin/tf-inspect" --verify "$out/s0.tfz"
