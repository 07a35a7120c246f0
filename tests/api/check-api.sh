#!/bin/sh
# check-api.sh LIB [ROOT]: the library's public face (README "Using the library").
#   1. every global symbol that the archive LIB defines is tf_-prefixed (nm);
#   2. the commands (ROOT/cmd) include no internal header: a quoted #include names
#      tokenformer.h or a header of cmd/ (no directory part), and no header of ROOT/lib but
#      tokenformer.h is included with <>;
#   3. the public header ROOT/lib/tokenformer.h includes no header of ROOT/lib.
# Prints each offence (symbol and object, or file:line) and a summary; exit 1 on any.
set -u
lib=$1
root=${2:-.}
failed=0
passed=0
bad() {
  echo "check-api: $*"
  failed=$((failed + 1))
}

[ -f "$lib" ] || { echo "check-api: $lib: no such archive" >&2; exit 66; }
syms=$(nm -A -g --defined-only "$lib" 2>&1) || { echo "check-api: nm $lib: $syms" >&2; exit 65; }
n=0
# nm -A: "ARCHIVE:OBJECT: VALUE TYPE NAME" (weak and common symbols included)
# (ASan's __odr_asan.NAME marks a global variable NAME of ours)
out=$(printf '%s\n' "$syms" | awk 'NF >= 3 {
  name = $NF; sub(/^__odr_asan\./, "", name)
  if (name !~ /^tf_/) { split($1, p, ":"); print $NF " (" p[2] ")" } }')
if [ -n "$out" ]; then
  printf '%s\n' "$out" | while IFS= read -r l; do echo "check-api: global symbol without tf_: $l"; done
  failed=$((failed + $(printf '%s\n' "$out" | wc -l)))
else
  passed=$((passed + 1))
fi

internal=$(cd "$root/lib" && ls *.h 2>/dev/null | grep -vx 'tokenformer.h')
for f in "$root"/cmd/*.c "$root"/cmd/*.h; do
  [ -f "$f" ] || continue
  n=$((n + 1))
  lines=$(grep -n '^[[:space:]]*#[[:space:]]*include' "$f") || continue
  ok=1
  while IFS= read -r l; do
    name=$(printf '%s\n' "$l" | sed -n 's/.*include[[:space:]]*["<]\([^">]*\)[">].*/\1/p')
    base=${name##*/}
    case $l in
    *'"'*)
      if [ "$name" != tokenformer.h ] && { [ "$name" != "$base" ] || [ ! -f "$root/cmd/$name" ]; }; then
        bad "${f#"$root"/}:${l%%:*}: includes \"$name\": the commands use only tokenformer.h"
        ok=0
      fi ;;
    *)
      if printf '%s\n' "$internal" | grep -qx "$base"; then
        bad "${f#"$root"/}:${l%%:*}: includes <$name>, an internal header of lib/"
        ok=0
      fi ;;
    esac
  done <<LINES
$lines
LINES
  [ $ok = 1 ] && passed=$((passed + 1))
done
[ "$n" -gt 0 ] || bad "no file in $root/cmd"

pub="$root/lib/tokenformer.h"
if grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$pub" > /dev/null; then
  grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$pub" | while IFS= read -r l; do
    echo "check-api: lib/tokenformer.h:${l%%:*}: includes a header of the project"
  done
  failed=$((failed + 1))
else
  passed=$((passed + 1))
fi

echo "check-api: $passed passed, $failed failed"
[ "$failed" = 0 ]
