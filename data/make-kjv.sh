#!/bin/sh
# make-kjv.sh [DIR]: the demo corpus, the King James Bible from Debian's bible-kjv packages,
# as plain UTF-8 text in one documented form, split into DIR/kjv-train.txt (the first 95 %)
# and DIR/kjv-valid.txt (the rest), at a line boundary.
#
# Form: each chapter starts with a heading line "BOOK CHAPTER" (e.g. "Genesis 1",
# "1 Samuel 3"), then one line per verse, "VERSE TEXT" (e.g. "1 In the beginning God created
# the heaven and the earth."), then one empty line.
set -eu
dir=${1:-data}
if ! command -v bible >/dev/null 2>&1; then
  echo "make-kjv.sh: the 'bible' program is missing: apt-get install bible-kjv bible-kjv-text" >&2
  exit 69
fi
tmp=$(mktemp "$dir/.kjv.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# bible prints: an empty line, the heading, an empty line, then verses as "  N text".
bible -l100000 Gen1:1-Rev22:21 | awk '
  /^$/ { next }
  /^ *[0-9]+ / { sub(/^ +/, ""); print; next }
  { if (started) print ""; print; started = 1 }
  END { print "" }' > "$tmp"
lines=$(wc -l < "$tmp")
bytes=$(wc -c < "$tmp")
# the first line at or after 95 % of the bytes starts the validation split
cut=$(awk -v limit=$((bytes * 95 / 100)) '{ n += length($0) + 1; if (n >= limit) { print NR; exit } }' "$tmp")
head -n "$cut" "$tmp" > "$dir/kjv-train.txt"
tail -n "+$((cut + 1))" "$tmp" > "$dir/kjv-valid.txt"
echo "make-kjv.sh: $bytes bytes, $lines lines: $(wc -c < "$dir/kjv-train.txt") in $dir/kjv-train.txt, $(wc -c < "$dir/kjv-valid.txt") in $dir/kjv-valid.txt"
