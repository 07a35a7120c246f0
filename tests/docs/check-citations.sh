#!/bin/sh
# check-citations.sh [ROOT]: every citation of the project's own docs in the tree at ROOT
# (default: this repository) points at something that exists, and nothing cites notes that are
# not in the repository (docs/design.md §8).
#
# A citation is
#   docs/<page>.md           a page of docs/ (inside docs/, <page>.md alone too);
#   docs/<page>.md §<n>      a numbered section of it, <n> as "2" or "2.3": a heading "## 2",
#                            "### 2.3" ... of that page; a range §<n>-§<m> (or §<n>-<m>)
#                            checks both ends; a bare §<n> later on the same line cites the
#                            page named last on that line, and in docs/ with no page named
#                            before it, the current page;
#   tf-<name>(<s>), tokenformer(<s>), tokenformer-<name>(<s>)
#                            a man page man/man<s>/<name>.<s>.
# Broken: a page, section or man page that does not exist, a "§" with no page to refer to
# outside docs/, and any citation of the old notes that are not in the repository (their
# names spelled in capitals, as the pattern below builds them). Files checked: those git
# tracks or would track under ROOT (every file below ROOT when it is not a git tree), except
# binary files, fuzz inputs, data (data/*.txt, data/*.json: corpora, a tokenizer's
# vocabulary) and tests/docs/, whose test cites pages of the trees it makes.
# Prints each broken citation as FILE:LINE: message, then "docs: N passed, M failed" (N the
# citations that resolve, M the broken ones); exits 1 when M > 0.
set -eu
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
export LC_ALL=C

list=$(mktemp)
anchors=$(mktemp)
trap 'rm -f "$list" "$anchors"' EXIT

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files --cached --others --exclude-standard
else
  find . -type f ! -path './.git/*' | sed 's|^\./||'
fi | grep -Ev '^(tests/fuzz/corpus|tests/fuzz/regress|tests/docs|build)/|^data/.*\.(txt|json)$' | sort -u |
  while IFS= read -r f; do
    [ -f "$f" ] && grep -Iq . "$f" 2>/dev/null && printf '%s\n' "$f"
  done > "$list"

# Anchors: each page's path, and the path, a space and "§" and the number of each numbered
# heading.
for page in docs/*.md; do
  [ -f "$page" ] || continue
  echo "$page"
  awk -v page="$page" '/^#+[ \t]+[0-9]+(\.[0-9]+)*\.?([ \t]|$)/ {
      n = $2; sub(/\.$/, "", n); print page " §" n }' "$page"
done > "$anchors"

# The man pages that exist, as "<name>(<s>)".
man_pages=$(for m in man/man[1-9]/*.[1-9]; do
  [ -f "$m" ] || continue
  b=${m##*/}
  echo "${b%.*}(${b##*.})"
done)

awk -v list="$list" -v anchors="$anchors" -v man_pages="$man_pages" '
  BEGIN {
    while ((getline a < anchors) > 0) have[a] = 1
    nm = split(man_pages, mp, "\n")
    for (i = 1; i <= nm; i++) man[mp[i]] = 1
    old = "(^|[^A-Za-z0-9_])(SPE" "C|DESIG" "N)([^A-Za-z0-9_]|$)"
    cite = "docs/[A-Za-z0-9_.-]+\\.md|§[0-9]+(\\.[0-9]+)*(-(§)?[0-9]+(\\.[0-9]+)*)?|" \
           "(tf-[a-z0-9-]+|tokenformer(-[a-z0-9]+)?)\\([1-9]\\)"
    while ((getline file < list) > 0) {
      fnr = 0
      while ((getline line < file) > 0) scan(file, ++fnr, line)
      close(file)
    }
    printf "docs: %d passed, %d failed\n", passed, failed
    exit failed > 0
  }
  function broken(file, fnr, msg) {
    printf "%s:%d: %s\n", file, fnr, msg
    failed++
  }
  function check(file, fnr, target) {
    if (target in have) passed++
    else broken(file, fnr, "cites " target ", which does not exist")
  }
  # One line: its citations in line order; a bare section cites the page named last.
  function scan(file, fnr, line,    in_docs, page, re, tok, before, parts, k, i) {
    if (line ~ old) {
      match(line, /SPE[C](\.md)?|DESIG[N](\.md)?/)
      broken(file, fnr, "cites " substr(line, RSTART, RLENGTH) ", notes that are not in the repository")
    }
    in_docs = file ~ /^docs\/[^\/]*\.md$/
    page = in_docs ? file : ""
    re = in_docs ? cite "|[A-Za-z0-9_-]+\\.md" : cite
    while (match(line, re)) {
      tok = substr(line, RSTART, RLENGTH)
      before = RSTART > 1 ? substr(line, RSTART - 1, 1) : ""
      line = substr(line, RSTART + RLENGTH)
      if (tok ~ /^§/) {
        if (page == "") { broken(file, fnr, "cites " tok " without naming a docs/ page"); continue }
        gsub(/§/, "", tok)
        k = split(tok, parts, "-")
        for (i = 1; i <= k; i++) check(file, fnr, page " §" parts[i])
      } else if (tok ~ /\)$/) {
        if (tok in man) passed++
        else broken(file, fnr, "cites the man page " tok ", which is not in man/")
      } else if (tok ~ /^docs\//) {
        page = tok
        check(file, fnr, page)
      } else if (before != "/" && before != "." && tok !~ /^[A-Z]+\.md$/) {
        page = "docs/" tok # a page named inside docs/ by its file name alone
        check(file, fnr, page)
      }
    }
  }'
