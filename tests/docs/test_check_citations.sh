#!/bin/sh
# test_check_citations.sh: check-citations.sh on small trees made here, one that must pass and
# one broken citation of each kind that must fail, naming its file and line.
here=$(cd "$(dirname "$0")" && pwd)
NAME=check-citations
. "$here/../selftest.sh"

# A tree whose citations all resolve: 2 pages, 6 page or section citations, 1 man page.
make_tree() {
  rm -rf "$tmp/t"
  mkdir -p "$tmp/t/docs" "$tmp/t/lib" "$tmp/t/man/man1"
  printf '# A\n\n## 1 One\n\n### 1.2 Two\n\nSee §1 and [b.md](b.md) §3.\n' > "$tmp/t/docs/a.md"
  printf '# B\n\n## 3. Three\n' > "$tmp/t/docs/b.md"
  printf '.Dd\n' > "$tmp/t/man/man1/tf-x.1"
  printf '/* docs/a.md §1.2 and §1; docs/b.md; tf-x(1) */\n' > "$tmp/t/lib/x.c"
}

# expect STATUS PATTERN: runs the checker on the tree, compares exit status and output.
expect() {
  expect_output "$1" "$2" "$3" sh "$here/check-citations.sh" "$tmp/t"
}

make_tree
expect 0 '^docs: 9 passed, 0 failed$' "a tree of good citations"

make_tree
printf 'x\n/* docs/a.md §1.3 */\n' >> "$tmp/t/lib/x.c"
expect 1 '^lib/x.c:3: cites docs/a.md §1.3, which does not exist$' "a missing section"

make_tree
printf '/* docs/c.md */\n' >> "$tmp/t/lib/x.c"
expect 1 '^lib/x.c:2: cites docs/c.md, which does not exist$' "a missing page"

make_tree
printf '/* docs/a.md §1-§2 */\n' >> "$tmp/t/lib/x.c"
expect 1 'cites docs/a.md §2, which does not exist' "a range whose end is missing"

make_tree
printf '# see §1.2\n' >> "$tmp/t/lib/x.c"
expect 1 '^lib/x.c:2: cites §1.2 without naming a docs/ page$' "a section without a page"

make_tree
old="SPE""C"
printf 'x: 1 # %s §1.2\n' "$old" > "$tmp/t/lib/y.yaml"
expect 1 "^lib/y.yaml:1: cites $old, notes that are not in the repository" "the old notes"

make_tree
printf 'see tf-y(1)\n' >> "$tmp/t/docs/b.md"
expect 1 '^docs/b.md:4: cites the man page tf-y(1), which is not in man/$' "a missing man page"

make_tree
printf 'See §2 here.\n' >> "$tmp/t/docs/b.md"
expect 1 '^docs/b.md:4: cites docs/b.md §2, which does not exist$' "a bare section in docs/"

selftest_end check-citations
