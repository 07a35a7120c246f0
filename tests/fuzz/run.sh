#!/bin/sh
# run.sh DIR SECONDS NAME...: `make fuzz`. Runs each libFuzzer harness DIR/fuzz_NAME for
# SECONDS, one at a time, from a fresh copy (DIR/NAME/corpus) of the committed corpus
# tests/fuzz/corpus/NAME and the regressions tests/fuzz/regress/NAME, with the dictionary
# tests/fuzz/NAME.dict when there is one. Prints one line per harness: time, executions,
# coverage (cov: edges, ft: features), corpus size, and what was found. A crash, leak,
# timeout or out-of-memory leaves its input in DIR/NAME/ and the log in DIR/NAME/fuzz.log,
# and makes the exit status 1.
dir=$1
secs=$2
shift 2
found=0
for name in "$@"; do
  work=$dir/$name
  rm -rf "$work/corpus"
  mkdir -p "$work/corpus"
  for src in corpus regress; do
    [ -d "tests/fuzz/$src/$name" ] || continue
    for f in "tests/fuzz/$src/$name"/*; do
      [ -f "$f" ] && cp "$f" "$work/corpus/$src-${f##*/}"
    done
  done
  dict=
  [ -f "tests/fuzz/$name.dict" ] && dict=-dict=tests/fuzz/$name.dict
  log=$work/fuzz.log
  start=$(date +%s)
  OMP_NUM_THREADS=1 "$dir/fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/" $dict "$work/corpus" >"$log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$last" | sed -n 's/.* corp: \([^ ]*\).*/\1/p')
  rate=$((${execs:-0} / (took > 0 ? took : 1)))
  what="nothing found"
  if [ $rc -ne 0 ]; then
    found=1
    unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    kind=$(grep -m 1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer): [a-z-]+|runtime error|fuzz: .*' "$log")
    what="FOUND (exit $rc) ${kind:-a failure}: input ${unit:-none written}, log $log"
  fi
  echo "fuzz $name: $took s, ${execs:-?} execs ($rate/s), cov ${cov:-?}, ft ${ft:-?}," \
    "corpus ${corp:-?}: $what"
done
exit $found
