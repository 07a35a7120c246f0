#!/bin/sh
# run.sh: `make bench`: tokenformer against its PyTorch peer (tests/reference/bench_ref.py),
# measured in the same run and printed as ratios, beside the machine's limits measured in the
# same run (tf_gemm at 1024^2, STREAM triad). A measurement, not a test: see README.md here.
#
# Usage: sh tests/bench/run.sh [BINDIR]   (default build/bin; programs in BINDIR/../bench)
# Knobs (environment of this script only; the measured programs never see it):
#   BENCH_RUNS=3        rounds; every figure is the median over rounds, with min-max
#   BENCH_ONE_THREAD=1  also the small config on one thread (0: skip, ~1.5 minutes less)
#   BENCH_CORETYPE=SkylakeX   OpenBLAS kernels PyTorch runs on (Cooperlake: the same speed)
set -eu

BIN=${1:-build/bin}
PROGS=$(dirname "$BIN")/bench
RUNS=${BENCH_RUNS:-3}
ONE_THREAD=${BENCH_ONE_THREAD:-1}
CORETYPE=${BENCH_CORETYPE:-SkylakeX}
PY=/usr/bin/python3 # Debian's torch is importable only from the system interpreter
REF=tests/reference/bench_ref.py
MULTIARCH=$(${CC:-cc} -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
OPENBLAS_OMP=/usr/lib/$MULTIARCH/openblas-openmp
TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736
RESULTS=$PROGS/results.txt

# The two shapes as config options (batch and steps are in bench_round).
SMALL_ARGS="-c configs/small.yaml"
BIG_ARGS="-c configs/150M.yaml --set model.seq_len=512"

note() { echo "bench: $*" >&2; }
die() {
  note "$*"
  exit 1
}

# Ours: no environment at all (PATH only); threads from --threads alone.
ours() { env -i PATH="$PATH" "$PROGS/bench_model" "$@"; }

# PyTorch at its best: Debian's OpenMP build of OpenBLAS (torch and BLAS share one thread
# pool), forced to its AVX-512 kernels, glibc malloc that keeps freed memory (no page faults
# per step). THREADS first.
theirs() {
  t=$1
  shift
  env -i PATH="$PATH" HOME="${HOME:-/tmp}" LD_LIBRARY_PATH="$OPENBLAS_OMP" \
    OPENBLAS_CORETYPE="$CORETYPE" GLIBC_TUNABLES="$TUNABLES" OMP_NUM_THREADS="$t" \
    "$PY" "$@"
}

# PyTorch importable, and the OpenMP OpenBLAS is what it actually maps (checked by effect).
check_peer() {
  [ -e "$OPENBLAS_OMP/libopenblas.so.0" ] ||
    die "$OPENBLAS_OMP/libopenblas.so.0 missing (libopenblas0-openmp): run make deps-bench"
  "$PY" -c 'import torch' 2>/dev/null ||
    die "python3-torch is missing ($PY cannot import torch): run make deps-bench"
  blas=$(theirs 1 -c 'import torch
torch.mm(torch.ones(64, 64), torch.ones(64, 64))
print(torch.__version__, [l.split()[-1] for l in open("/proc/self/maps") if "openblas" in l][0])')
  case $blas in
  *"$OPENBLAS_OMP"/*) note "PyTorch $blas, OPENBLAS_CORETYPE=$CORETYPE" ;;
  *) die "PyTorch does not run on $OPENBLAS_OMP (it maps: $blas)" ;;
  esac
}

# The programs (make bench builds them first); the decode rows (bench_decode) only once
# tf-generate exists (DECODE=yes).
build_progs() {
  DECODE=no
  progs="bench_model bench_stream bench_gemm"
  [ -x "$BIN/tf-generate" ] && DECODE=yes progs="$progs bench_decode"
  for p in $progs; do
    [ -x "$PROGS/$p" ] || make -s "$PROGS/$p" || die "cannot build $PROGS/$p"
  done
}

# record TAG CMD...: one measurement; each line it prints goes to RESULTS as "TAG ROUND LINE"
# (a failure as "TAG ROUND FAILED", and the run goes on).
record() {
  tag=$1
  shift
  t0=$(date +%s)
  if "$@" >"$TMP/out" 2>"$TMP/err"; then
    sed "s|^|$tag $round |" "$TMP/out" >>"$RESULTS"
    tps=$(sed -n 's/.*"tokens_per_s": \([0-9.e+]*\).*/\1/p' "$TMP/out")
    note "[$round/$RUNS] $tag${tps:+: $tps tokens/s} ($(($(date +%s) - t0)) s)"
  else
    echo "$tag $round FAILED" >>"$RESULTS"
    note "[$round/$RUNS] $tag FAILED: $(tail -n 3 "$TMP/err")"
  fi
}

# run_side KIND SIDE: one measurement of the current shape. Globals: t threads, mode,
# cfg_args (bench_model's config options), cfg (that config as JSON, for the peer), opts (the
# options both sides share), runs (decode: timed runs, bench_ref.py's --steps).
run_side() {
  case $1/$2 in
  model/ours) ours $cfg_args $opts ;;
  decode/ours) env -i PATH="$PATH" "$PROGS/bench_decode" $cfg_args $opts --runs "$runs" ;;
  model/pytorch) theirs "$t" "$REF" --config-json "$cfg" --mode "$mode" $opts ;;
  decode/pytorch) theirs "$t" "$REF" --config-json "$cfg" --mode decode $opts --steps "$runs" \
    --batch 1 ;;
  esac
}

# both KIND TAG: ours and PyTorch back to back, who goes first alternating by round.
both() {
  for side in $(if [ $((round % 2)) = 1 ]; then echo ours pytorch; else echo pytorch ours; fi); do
    record "$2/$side" run_side "$1" "$side"
  done
}

# shape CONFIG-OPTIONS...: sets cfg_args and cfg.
shape() {
  cfg_args=$*
  cfg=$(ours --print-config "$@") || die "bench_model $*: bad config"
}

# model NAME THREADS MODE BATCH STEPS WARMUP: forward+backward or a training step.
model() {
  t=$2 mode=$3
  opts="--threads $t --batch $4 --steps $5 --warmup $6"
  both model "$1/$t/$mode"
}

# decode NAME THREADS RUNS: greedy decoding with a KV cache (issue 6) of one sequence, 16
# prompt tokens prefilled, then 64 generated (63 positions timed per run).
decode() {
  t=$2 mode=decode runs=$3
  opts="--threads $t --prompt-len 16 --gen 64 --warmup 1"
  both decode "$1/$t/decode"
}

# One round of everything, limits first.
bench_round() {
  record stream env -i "$PROGS/bench_stream"
  record gemm env -i "$PROGS/bench_gemm"
  shape $SMALL_ARGS
  for mode in fwdbwd train; do
    model small 2 "$mode" 8 4 1
    [ "$ONE_THREAD" = 1 ] && model small 1 "$mode" 8 3 1
  done
  [ "$DECODE" = yes ] && decode small 2 3
  shape $BIG_ARGS
  for mode in fwdbwd train; do model 150M 2 "$mode" 4 1 1; done
  [ "$DECODE" = yes ] && decode 150M 2 3
  return 0
}

main() {
  build_progs
  check_peer
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  : >"$RESULTS"
  start=$(date +%s)
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  round=1
  while [ "$round" -le "$RUNS" ]; do
    bench_round
    round=$((round + 1))
  done
  load1=$(cut -d' ' -f1-3 /proc/loadavg)
  secs=$(($(date +%s) - start))
  "$PY" - "$RESULTS" "$RUNS" "$CORETYPE" "$load0" "$load1" "$secs" <<'EOF'
import json, re, statistics, sys

path, runs, coretype, load0, load1, secs = sys.argv[1:]
GOALS = {("small", "fwdbwd"): 1.5, ("small", "train"): 1.5,
         ("150M", "fwdbwd"): 1.2, ("150M", "train"): 1.2}
SHAPES = {"small": "small: L6 d256, B8 T256", "150M": "150M: L12 d768, B4 T512"}
MODES = {"fwdbwd": "fwd+bwd", "train": "train step"}
GEMM_GOAL = 180.0

rows, failed = {}, []  # tag -> list of (round, value)
for line in open(path):
    tag, rnd, rest = line.rstrip("\n").split(" ", 2)
    if rest == "FAILED":
        failed.append(tag)
        continue
    if rest.startswith("{"):
        rows.setdefault(tag, []).append((int(rnd), json.loads(rest)))
    else:  # bench_gemm's table: "shape ... g1 g2"
        m = re.match(r"(.*\S)\s+([\d.]+)\s+([\d.]+)$", rest)
        if m:
            rows.setdefault("gemm/" + m.group(1), []).append(
                (int(rnd), {"1": float(m.group(2)), "2": float(m.group(3))}))


def values(tag, key):
    return [(r, v[key]) for r, v in rows.get(tag, [])]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt(xs, digits=0):
    """median (min-max) of the values of xs"""
    if not xs:
        return "-"
    f = "{:,.%df}" % digits
    m = f.format(med(xs))
    return m if len(xs) == 1 else "%s (%s-%s)" % (m, f.format(min(xs)), f.format(max(xs)))


def stream_gbs(threads):
    return [v["gbs_best"] for r, v in rows.get("stream", []) if v["threads"] == threads]


def gemm_peak():
    return [v for r, v in values("gemm/square 1024", "2")]


def best_step(tag):
    """tokens/s of the fastest step of any round: what the machine gives when quiet."""
    return max(v["tokens_per_step"] / v["s_per_step_min"] for r, v in rows[tag])


def model_row(shape, t, mode):
    ours = dict(values("%s/%s/%s/ours" % (shape, t, mode), "tokens_per_s"))
    peer = dict(values("%s/%s/%s/pytorch" % (shape, t, mode), "tokens_per_s"))
    if not ours or not peer:
        return None
    gfl = [v for r, v in values("%s/%s/%s/ours" % (shape, t, mode), "gflops")]
    best = best_step("%s/%s/%s/ours" % (shape, t, mode)) / best_step(
        "%s/%s/%s/pytorch" % (shape, t, mode))
    ratios = [ours[r] / peer[r] for r in ours if r in peer]
    ratio = med(list(ours.values())) / med(list(peer.values()))
    goal = GOALS[(shape, mode)] if t == "2" else None
    verdict = "" if goal is None else (" ok" if ratio >= goal else " **below %.1fx**" % goal)
    peak = med(gemm_peak()) if t == "2" else med([v for r, v in values("gemm/square 1024", "1")])
    share = "%.0f%%" % (100 * med(gfl) / peak) if peak == peak else "-"  # NaN: no gemm figure
    return "| %s | %s | %s | %s | %s | **%.2fx** (%.2f-%.2f)%s | %.2fx | %s | %s |" % (
        SHAPES[shape], t, MODES[mode], fmt(list(ours.values())), fmt(list(peer.values())),
        ratio, min(ratios), max(ratios), verdict, best, fmt(gfl, 1), share)


def print_models():
    print("| shape | threads | step | tokenformer tokens/s | PyTorch tokens/s "
          "| ratio (per-round range) | best steps' ratio | our GFLOP/s | of gemm peak |")
    print("|---|---|---|---|---|---|---|---|---|")
    for shape in ("small", "150M"):
        for t in ("2", "1"):
            for mode in ("fwdbwd", "train"):
                row = model_row(shape, t, mode)
                if row:
                    print(row)


def print_limits():
    g1 = [v for r, v in values("gemm/square 1024", "1")]
    g2 = gemm_peak()
    ok = "ok" if g2 and med(g2) >= GEMM_GOAL else "**below %.0f**" % GEMM_GOAL
    print("| limit (same run) | 1 thread | 2 threads |")
    print("|---|---|---|")
    print("| tf_gemm sgemm 1024^2, GFLOP/s (goal >= %.0f on 2: %s) | %s | %s |"
          % (GEMM_GOAL, ok, fmt(g1, 1), fmt(g2, 1)))
    print("| STREAM triad, GB/s (best of 10 per run) | %s | %s |"
          % (fmt(stream_gbs(1), 1), fmt(stream_gbs(2), 1)))


def print_gemm_shapes():
    print("tf_gemm at the models' shapes, GFLOP/s, median of the runs (1 thread / 2 threads):")
    print("```")
    for tag in rows:
        if tag.startswith("gemm/") and tag != "gemm/square 1024":
            print("%-40s %7.1f %7.1f" % (tag[5:], med([v for r, v in values(tag, "1")]),
                                         med([v for r, v in values(tag, "2")])))
    print("```")


def print_decode():
    """Decode (issue 6) against the bandwidth limit: parameter bytes per token (every fp32
    parameter is read once per decoded token) over triad bytes/s, 2 threads."""
    gbs = med(stream_gbs(2))
    print("| decode, 2 threads | tokenformer tokens/s | PyTorch tokens/s | ratio (goal on 150M: "
          "2x) | fp32 parameter bytes/token | limit tokens/s (bytes / triad) | ours of limit "
          "(goal on 150M: 60%) |")
    print("|---|---|---|---|---|---|---|")
    for shape in ("small", "150M"):
        p = [v for r, v in values("%s/2/fwdbwd/ours" % shape, "params")]
        ours = [v for r, v in values("%s/2/decode/ours" % shape, "tokens_per_s")]
        peer = [v for r, v in values("%s/2/decode/pytorch" % shape, "tokens_per_s")]
        if not p:
            continue
        limit = gbs * 1e9 / (4.0 * p[0])
        ratio = "%.2fx" % (med(ours) / med(peer)) if ours and peer else "-"
        share = "%.0f%%" % (100 * med(ours) / limit) if ours else "-"
        if shape == "150M" and ours and peer:  # issue 6 sets its goals on the 150M shape
            ratio += " ok" if med(ours) >= 2 * med(peer) else " **below**"
            share += " ok" if med(ours) >= 0.6 * limit else " **below**"
        print("| %s | %s | %s | %s | %.1f MB | %.1f | %s |" % (
            SHAPES[shape].split(",")[0], fmt(ours, 1), fmt(peer, 1), ratio, 4e-6 * p[0],
            limit, share))
    if not any(t.endswith("/decode/ours") for t in rows):
        print("\ndecode: not built yet (no tf-generate in the bin directory)")


def first(suffix, key):
    """key of the first result whose tag ends with suffix, or "?"."""
    return next((v[key] for tag, vs in rows.items() if tag.endswith(suffix) for r, v in vs), "?")


print("\n## make bench: tokenformer vs PyTorch, same run\n")
print("Median of %s rounds (min-max over rounds; each round's figure is the median of its "
      "timed steps); ours and PyTorch interleaved, order alternating. Ours: %s, no environment "
      "variables. PyTorch %s: OpenMP OpenBLAS, OPENBLAS_CORETYPE=%s, malloc tunables. "
      "Load average %s at start, %s at end; %d min %d s.\n"
      % (runs, first("/fwdbwd/ours", "kernel"), first("/fwdbwd/pytorch", "torch"), coretype,
         load0, load1, int(secs) // 60, int(secs) % 60))
if float(load0.split()[0]) > 1.0:
    print("**The machine was busy when the run started (load %s): 2-thread figures of both "
          "sides suffer most; see the per-round ranges and the best steps' ratio, or rerun "
          "when it is quiet.**\n" % load0.split()[0])
print_models()
print()
print_limits()
print()
print_gemm_shapes()
print()
print_decode()
if failed:
    print("\nFAILED measurements: " + ", ".join(sorted(set(failed))))
    sys.exit(1)
EOF
}

main
