#!/usr/bin/env python3
"""report.py OUT SEEDS: the growth study's table (markdown, stdout) and plot data (OUT/*.dat)
from what run.sh leaves in OUT/seed1 .. OUT/seedSEEDS.

Final figures are tf-eval's bits per byte on the valid sample; curves are the valid bits per
byte tf-train logged against lifetime FLOPs, averaged over the seeds point by point (every seed
evaluates at the same steps). Spread is the sample standard deviation over the seeds, with the
range beside it."""
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scaling"))
from report import flops_to_reach  # noqa: E402  (make scaling's definition)

ARMS = [("exact", "exact growth, re-warmup"), ("random", "random growth, re-warmup"),
        ("duplicate", "duplicate growth, re-warmup"),
        ("aware", "exact growth, growth-aware schedule"),
        ("frozen", "exact growth, old tokens frozen"),
        ("scratch", "grown size from scratch, same FLOPs")]


def curve(path):
    rows = [json.loads(line) for line in open(path)]
    return [(r["lifetime_flops"], r["valid_bits_per_byte"]) for r in rows
            if "valid_bits_per_byte" in r]


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd, min(xs), max(xs), len(xs)


def fmt(st, digits=4, sci=False):
    if st is None:
        return "not reached"
    m, sd, lo, hi, n = st
    f = (lambda v: "%.3g" % v) if sci else (lambda v: "%.*f" % (digits, v))
    return "%s ± %s (%s–%s, n=%d)" % (f(m), f(sd), f(lo), f(hi), n)


# Student's t at 97.5% for 1..10 degrees of freedom: a mean difference counts as clear when it
# is more than t(n - 1) standard errors from 0 (a two-sided 95% interval that excludes 0).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]


def clear(st):
    m, sd, _, _, n = st
    if n < 2:
        return False
    t = T975[min(n - 1, len(T975)) - 1]
    return abs(m) > t * sd / math.sqrt(n)


def mean_curve(curves):
    n = min(len(c) for c in curves)
    return [(sum(c[i][0] for c in curves) / len(curves), sum(c[i][1] for c in curves) / len(curves))
            for i in range(n)]


def main():
    out, seeds = sys.argv[1], int(sys.argv[2])
    dirs = [os.path.join(out, "seed%d" % s) for s in range(1, seeds + 1)]
    ev = lambda d, f: json.load(open(os.path.join(d, f + ".eval.json")))["bits_per_byte"]
    log = lambda d, f: curve(os.path.join(d, f + ".jsonl"))
    settings = open(os.path.join(out, "settings.txt")).read().strip()
    print("Growth study (make growth-study), %s; bits per byte from tf-eval on the valid "
          "sample. Mean ± sample standard deviation over seeds (range, number of seeds)." % settings)
    print()
    print("| arm | valid bits per byte at equal FLOPs | FLOPs to reach scratch's final loss |")
    print("|---|---|---|")
    target = {d: log(d, "scratch")[-1][1] for d in dirs}
    finals = {}
    for arm, label in ARMS:
        finals[arm] = [ev(d, arm) for d in dirs]
        reach = [flops_to_reach(log(d, "g1") + log(d, arm), target[d]) for d in dirs]
        missed = sum(r is None for r in reach)
        cell = fmt(stats(reach), sci=True) + ("; %d of %d never" % (missed, seeds) if missed and missed < seeds else "")
        print("| %s | %s | %s |" % (label, fmt(stats(finals[arm])), cell))
    for arm, label in [("shrink", "shrunk back to the small size, retrained"),
                       ("small", "small size from scratch, the retraining's FLOPs")]:
        finals[arm] = [ev(d, arm) for d in dirs]
        print("| %s | %s | |" % (label, fmt(stats(finals[arm]))))
    sh = [json.load(open(os.path.join(d, "shrink.grow.json")))["sample"] for d in dirs]
    print()
    print("Shrinking the exact arm's model back: sample bits per byte %s before, %s after "
          "(before retraining)." % (fmt(stats([x["bits_per_byte"][0] for x in sh])),
                                    fmt(stats([x["bits_per_byte"][1] for x in sh]))))
    print()
    print("Differences against the exact arm, mean ± spread over seeds (negative: lower loss "
          "than exact); 'within the spread' when a 95% t interval of the mean includes 0:")
    print()
    for arm, label in ARMS[1:]:
        diffs = [a - b for a, b in zip(finals[arm], finals["exact"])]
        st = stats(diffs)
        print("- %s: %s%s" % (label, fmt(st), "" if clear(st) else " — within the spread"))
    st = stats([a - b for a, b in zip(finals["shrink"], finals["small"])])
    print("- shrunk and retrained minus small from scratch: %s%s" % (
        fmt(st), "" if clear(st) else " — within the spread"))
    for name, arms in [("curves", [a for a, _ in ARMS]), ("shrink", ["shrink", "small"])]:
        with open(os.path.join(out, name + ".dat"), "w") as f:
            for arm in arms:
                pts = mean_curve([(log(d, "g1") if arm not in ("scratch", "shrink", "small") else [])
                                  + log(d, arm) for d in dirs])
                f.write("# %s: lifetime FLOPs, valid bits per byte (mean over seeds)\n" % arm)
                for x, y in pts:
                    f.write("%.6e %.6f\n" % (x, y))
                f.write("\n\n")


if __name__ == "__main__":
    main()
