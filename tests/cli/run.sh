#!/bin/sh
# run.sh: the command-line tests. Sources every tests/cli/test_*.sh (or those named as
# arguments) with TF_BIN (the built commands), TMP (a fresh directory), NOBODY (below) and
# these helpers:
#   ok NAME CMD...                 CMD exits 0
#   fails CODE NAME CMD...         CMD exits CODE
#   grep_out PATTERN NAME CMD...   CMD exits 0 and its stdout matches grep -E PATTERN
#   grep_err CODE PATTERN NAME CMD...  CMD exits CODE and its stderr matches PATTERN
#   check NAME CMD...              like ok, for a test expressed as a shell condition
#   unsanitized NAME               true unless the build is ASan's (which cannot run under ulimit)
# Ends with the line "N passed, N failed" and exits non-zero if any failed.
set -u
TF_BIN=${TF_BIN:-build/bin}
case $TF_BIN in /*) ;; *) TF_BIN=$(pwd)/$TF_BIN ;; esac
export TF_BIN
passed=0
failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tf-cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
OUT=$TMP/.out
ERR=$TMP/.err

report() { # NAME STATUS DETAIL
  if [ "$2" = pass ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $1: $3"
    sed 's/^/  stderr: /' "$ERR" | head -5
  fi
}

run() { "$@" >"$OUT" 2>"$ERR" </dev/null; }
run_stdin() { "$@" >"$OUT" 2>"$ERR"; }

ok() {
  name=$1; shift
  run "$@"; rc=$?
  if [ $rc = 0 ]; then report "$name" pass; else report "$name" fail "exit $rc, expected 0"; fi
}

check() { ok "$@"; }

fails() {
  code=$1; name=$2; shift 2
  run "$@"; rc=$?
  if [ $rc = "$code" ]; then report "$name" pass; else report "$name" fail "exit $rc, expected $code"; fi
}

grep_out() {
  pat=$1; name=$2; shift 2
  run "$@"; rc=$?
  if [ $rc != 0 ]; then report "$name" fail "exit $rc, expected 0"
  elif grep -Eq -- "$pat" "$OUT"; then report "$name" pass
  else report "$name" fail "stdout does not match /$pat/: $(head -c 300 "$OUT")"; fi
}

grep_err() {
  code=$1; pat=$2; name=$3; shift 3
  run "$@"; rc=$?
  if [ $rc != "$code" ]; then report "$name" fail "exit $rc, expected $code"
  elif grep -Eq -- "$pat" "$ERR"; then report "$name" pass
  else report "$name" fail "stderr does not match /$pat/: $(head -c 300 "$ERR")"; fi
}

# SANITIZED: 1 when the commands are AddressSanitizer builds (make check SANITIZE=1). They
# reserve terabytes of address space when they start, so they cannot run under ulimit -v or
# -d, and they run slower and larger: tests of memory limits and of time and memory bounds
# skip those parts under them (unsanitized says so).
case $TF_BIN in */san/*) SANITIZED=1 ;; *) SANITIZED=0 ;; esac
# wait_for FILE PATTERN: waits (up to 120 s) until FILE has a line matching grep -E PATTERN, so
# that a test signals a process once it has reached a known point, however loaded the machine.
wait_for() {
  n=0
  until grep -Eq -- "$2" "$1" 2>/dev/null || [ $n -ge 1200 ]; do sleep 0.1; n=$((n + 1)); done
}
unsanitized() { # NAME: true for a plain build; under ASan says NAME is skipped
  [ $SANITIZED = 0 ] && return 0
  echo "cli: skipped under AddressSanitizer (a ulimit or a bound): $1"
  return 1
}

# NOBODY: the prefix that runs a command as an unprivileged user, for tests of permissions
# (which deny root nothing): empty when not root, setpriv as root, "none" without setpriv.
if [ "$(id -u)" != 0 ]; then
  NOBODY=
elif command -v setpriv > /dev/null 2>&1; then
  NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
else
  NOBODY=none
fi

here=$(dirname "$0")
if [ $# -gt 0 ]; then tests="$*"; else tests=$(ls "$here"/test_*.sh); fi
for t in $tests; do
  before=$failed
  . "$t"
  echo "cli: $(basename "$t"): done$( [ $failed -gt $before ] && echo ", $((failed - before)) failed")"
done
echo "cli: $passed passed, $failed failed"
[ $failed = 0 ]
