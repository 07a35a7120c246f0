#!/bin/sh
# run.sh MAKE CC: `make install` into a temporary prefix (and again under DESTDIR), then builds
# tests/install/prog.c against the installed library with
# `pkg-config --cflags --libs --static tokenformer` and runs it, runs an installed command, and
# checks that `make uninstall` leaves no file behind. Called by `make check-install`.
set -eu
make=$1
cc=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tf-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "check-install: $*" >&2
  exit 1
}
$make --no-print-directory -s install PREFIX="$tmp/usr" > "$tmp/log" 2>&1 ||
  { cat "$tmp/log"; fail "make install PREFIX=$tmp/usr failed"; }
for f in bin/tf-train lib/libtokenformer.a include/tokenformer.h lib/pkgconfig/tokenformer.pc \
  share/man/man1/tf-train.1 share/man/man5/tokenformer-config.5 share/man/man7/tokenformer.7; do
  [ -f "$tmp/usr/$f" ] || fail "make install did not install $f"
done
# every installed command (tools/plot-log too) has its man page installed
[ -x "$tmp/usr/bin/plot-log" ] || fail "make install did not install bin/plot-log"
for c in "$tmp"/usr/bin/*; do
  [ -f "$tmp/usr/share/man/man1/${c##*/}.1" ] || fail "${c##*/} is installed without its man page"
done
"$tmp/usr/bin/plot-log" --help | grep -q '^Usage: plot-log' || fail "the installed plot-log --help"
export PKG_CONFIG_PATH="$tmp/usr/lib/pkgconfig"
flags=$(pkg-config --cflags --libs --static tokenformer) || fail "pkg-config refuses tokenformer.pc"
# shellcheck disable=SC2086 # the flags are words
$cc -std=c11 -o "$tmp/prog" tests/install/prog.c $flags || fail "prog.c does not build: $flags"
out=$("$tmp/prog" "$tmp/m.tfz") || fail "prog failed"
echo "$out" | grep -q "parameters, logit" || fail "prog printed: $out"
"$tmp/usr/bin/tf-inspect" "$tmp/m.tfz" > /dev/null || fail "the installed tf-inspect failed"
$make --no-print-directory -s uninstall PREFIX="$tmp/usr" > "$tmp/log" 2>&1 ||
  { cat "$tmp/log"; fail "make uninstall failed"; }
left=$(find "$tmp/usr" -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
# DESTDIR stages the same tree under another root, the paths inside naming PREFIX
$make --no-print-directory -s install DESTDIR="$tmp/stage" PREFIX=/opt/tf > "$tmp/log" 2>&1 ||
  { cat "$tmp/log"; fail "make install DESTDIR=... failed"; }
grep -q '^prefix=/opt/tf$' "$tmp/stage/opt/tf/lib/pkgconfig/tokenformer.pc" ||
  fail "DESTDIR: tokenformer.pc does not name PREFIX /opt/tf"
$make --no-print-directory -s uninstall DESTDIR="$tmp/stage" PREFIX=/opt/tf > "$tmp/log" 2>&1 ||
  { cat "$tmp/log"; fail "make uninstall DESTDIR=... failed"; }
left=$(find "$tmp/stage" -type f)
[ -z "$left" ] || fail "make uninstall DESTDIR=... left: $left"
echo "$out"
echo "check-install: 1 passed, 0 failed"
