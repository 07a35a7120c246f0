# selftest.sh: what the self-tests of the tree checkers share (tests/docs/test_check_citations.sh,
# tests/api/test_check_api.sh), sourced with NAME set: a temporary directory $tmp, removed on
# exit; pass and fail counts; expect_output, which runs a checker and compares its exit status
# and output; selftest_end, the summary and the exit status.
set -u
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$NAME.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# expect_output STATUS PATTERN WHAT CMD...: CMD exits STATUS and a line of its output (stdout
# and stderr) matches PATTERN (grep's basic syntax).
expect_output() {
  want=$1 pat=$2 what=$3
  shift 3
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" != "$want" ]; then
    fail "$what: exit $rc, expected $want: $out"
  elif ! printf '%s\n' "$out" | grep -q -- "$pat"; then
    fail "$what: no line matching '$pat' in: $out"
  else
    ok
  fi
}

# selftest_end LABEL: "LABEL: P passed, F failed"; exits 1 when any failed.
selftest_end() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" = 0 ]
}
