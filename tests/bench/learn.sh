#!/bin/sh
# learn.sh BIN [--set S.K=V]...: the learning benchmark of README "Training" — configs/small.yaml
# trained from scratch on the KJV corpus for its whole schedule, then scored by tf-eval on the
# whole valid split. Prints the training seconds (without the in-run evaluations), the
# seconds with them and tf-eval's bits per byte. Extra arguments go to tf-init and tf-train
# (e.g. --set init.std=0.02 for the released models' embedding scale). Output in build/learn/.
set -eu
bin=${1:-build/bin}
shift || true
out=build/learn
mkdir -p "$out"
rm -f "$out/s1.jsonl" # tf-train appends to its log
"$bin/tf-init" -q -c configs/small.yaml "$@" -o "$out/s0.tfz"
"$bin/tf-train" -q -c configs/small.yaml "$@" -i "$out/s0.tfz" -o "$out/s1.tfz" --log "$out/s1.jsonl"
"$bin/tf-eval" --json -i "$out/s1.tfz" --data data/kjv-valid.txt > "$out/eval.json"
python3 - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
rows = [json.loads(l) for l in open(out + "/s1.jsonl")]
steps = [r for r in rows if "loss" in r]
gaps = [b["elapsed"] - a["elapsed"] for a, b in zip(steps, steps[1:])]
median = statistics.median(gaps)
train = steps[0]["elapsed"] + sum(g for g in gaps if g <= 2 * median)  # evaluations left out
for r in rows:
    if "valid_bits_per_byte" in r:
        print("step %5d  in-run valid %.4f bits per byte" % (r["step"], r["valid_bits_per_byte"]))
e = json.load(open(out + "/eval.json"))
print("learn: %d steps, %.0f s of training (%.0f s with evaluations); tf-eval on %s: "
      "%.4f bits per byte" % (steps[-1]["step"], train, steps[-1]["elapsed"], e["data"],
                              e["bits_per_byte"]))
PY
