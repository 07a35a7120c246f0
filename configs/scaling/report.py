#!/usr/bin/env python3
"""report.py OUT: the table (markdown, stdout) and the plot data (OUT/scaling.dat) of the
progressive-scaling experiment that run.sh leaves in OUT.

Curves are the valid bits per byte that tf-train logged (eval_batches windows of the valid
split) against lifetime training FLOPs; the table's final figures are tf-eval's on the whole
valid split."""
import json
import os
import subprocess
import sys


def log_curve(path):
    """(lifetime FLOPs, valid bits per byte) of every evaluation in a tf-train log."""
    rows = [json.loads(line) for line in open(path)]
    return [(r["lifetime_flops"], r["valid_bits_per_byte"]) for r in rows
            if "valid_bits_per_byte" in r]


def inspect(path):
    out = subprocess.run(["tf-inspect", "--json", path], check=True, capture_output=True)
    return json.loads(out.stdout)


def flops_to_reach(curve, target):
    """FLOPs at which a curve first reaches target (linear between evaluations), or None."""
    prev = None
    for x, y in curve:
        if y <= target:
            if prev is None or prev[1] == y:
                return x
            (x0, y0) = prev
            return x0 + (x - x0) * (y0 - target) / (y0 - y)
        prev = (x, y)
    return None


def main():
    out = sys.argv[1]
    runs = {"grown": ["g1", "g2", "g3"], "scratch-a": ["xa"], "scratch-b": ["xb"]}
    curves = {name: [p for f in files for p in log_curve(os.path.join(out, f + ".jsonl"))]
              for name, files in runs.items()}
    with open(os.path.join(out, "scaling.dat"), "w") as f:
        for name in runs:  # one gnuplot data block per run
            f.write("# %s: lifetime training FLOPs, valid bits per byte\n" % name)
            for x, y in curves[name]:
                f.write("%.6e %.6f\n" % (x, y))
            f.write("\n\n")

    print("| run | parameter tokens (qkv/proj/ffn) | parameters | training FLOPs | "
          "valid bits per byte (tf-eval) |")
    print("|---|---|---|---|---|")
    finals = {}
    for label, f in [("grown, stage 1", "g1"), ("grown, stage 2", "g2"),
                     ("grown, stage 3", "g3"), ("scratch-a (all stages' FLOPs)", "xa"),
                     ("scratch-b (last stage's FLOPs)", "xb")]:
        info = inspect(os.path.join(out, f + ".tfz"))
        ev = json.load(open(os.path.join(out, f + ".eval.json")))
        tok = info["tokens"]
        flops = [h for h in info["history"] if h.get("command") == "tf-train"][-1]["flops"]
        finals[f] = (flops, ev["bits_per_byte"])
        print("| %s | %d/%d/%d | %s | %.3g | %.4f |" % (
            label, tok["qkv"]["tokens"], tok["proj"]["tokens"], tok["ffn"]["tokens"],
            format(info["parameters"]["total"], ","), flops, ev["bits_per_byte"]))

    grown_flops, grown_bpb = finals["g3"]
    print()
    print("At equal cumulative FLOPs (%.3g): grown %.4f bits per byte, scratch-a %.4f." % (
        grown_flops, grown_bpb, finals["xa"][1]))
    print("With the last stage's FLOPs only (%.3g): scratch-b %.4f." % finals["xb"])
    if not curves["grown"] or not curves["scratch-a"]:
        print("No evaluations were logged (eval_every larger than the stages): no curves.")
        return
    target = curves["grown"][-1][1]
    need = flops_to_reach(curves["scratch-a"], target)
    if need is None:
        print("Scratch-a never reached the grown model's last logged %.4f bits per byte "
              "within %.3g FLOPs." % (target, curves["scratch-a"][-1][0]))
    else:
        print("Scratch-a reached the grown model's last logged %.4f bits per byte after "
              "%.3g FLOPs (%.2f x the grown run's)." % (target, need, need / grown_flops))


if __name__ == "__main__":
    main()
