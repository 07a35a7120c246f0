#!/usr/bin/env python3
"""seeds.py OUT SEEDS: make scaling SEEDS=N's table: every run's tf-eval bits per byte over the
seeds in OUT/seed1 .. OUT/seedN (mean ± sample standard deviation, range), and the grown model's
advantage over each scratch baseline per seed."""
import json
import math
import os
import sys

RUNS = [("grown, stage 1", "g1"), ("grown, stage 2", "g2"), ("grown, stage 3", "g3"),
        ("scratch-a (all stages' FLOPs)", "xa"), ("scratch-b (last stage's FLOPs)", "xb")]


def stats(xs):
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return "%.4f ± %.4f (%.4f–%.4f)" % (m, sd, min(xs), max(xs))


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    bpb = {f: [json.load(open(os.path.join(out, "seed%d" % s, f + ".eval.json")))["bits_per_byte"]
               for s in range(1, n + 1)] for _, f in RUNS}
    print("make scaling SEEDS=%d: valid bits per byte (tf-eval), mean ± sample standard "
          "deviation over %d seeds (range)." % (n, n))
    print()
    print("| run | bits per byte |")
    print("|---|---|")
    for label, f in RUNS:
        print("| %s | %s |" % (label, stats(bpb[f])))
    print()
    for f, label in [("xa", "scratch-a"), ("xb", "scratch-b")]:
        d = [b - a for a, b in zip(bpb["g3"], bpb[f])]
        print("%s minus grown, per seed: %s; %s" % (
            label, ", ".join("%.4f" % x for x in d), stats(d)))


if __name__ == "__main__":
    main()
