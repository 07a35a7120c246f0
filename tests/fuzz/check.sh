#!/bin/sh
# check.sh DIR NAME...: `make check-fuzz`. Runs DIR/fuzz_NAME (a harness linked with
# tests/fuzz/driver.c, no libFuzzer) over the committed corpus tests/fuzz/corpus/NAME and the
# regressions tests/fuzz/regress/NAME. A harness that fails shows the end of its log (the
# last "input" line names the input it died on). The last line is the summary; the exit
# status is 1 when any harness failed.
dir=$1
shift
total=0
failed=0
harnesses=0
for name in "$@"; do
  dirs=
  for src in corpus regress; do
    [ -d "tests/fuzz/$src/$name" ] && dirs="$dirs tests/fuzz/$src/$name"
  done
  log=$dir/$name.log
  out=$(OMP_NUM_THREADS=1 "$dir/fuzz_$name" $dirs 2>"$log")
  rc=$?
  n=$(echo "$out" | sed -n 's/.*: \([0-9]*\) inputs ran.*/\1/p')
  total=$((total + ${n:-0}))
  harnesses=$((harnesses + 1))
  if [ $rc -ne 0 ] || [ -z "$n" ]; then
    failed=$((failed + 1))
    echo "fuzz $name: FAILED (exit $rc); the end of $log:"
    tail -n 30 "$log"
  else
    echo "fuzz $name: $n inputs, no crash"
  fi
done
echo "check-fuzz: $harnesses harnesses, $total inputs, $failed failed"
[ $failed -eq 0 ]
