#!/bin/sh
# test_check_api.sh CC: check-api.sh on small trees made here, one that must pass and one
# offence of each kind that must fail, naming the symbol or the file and line.
here=$(cd "$(dirname "$0")" && pwd)
cc=${1:-cc}
NAME=check-api
. "$here/../selftest.sh"

# A tree that passes: an archive of tf_ symbols (a static one too), a command that includes
# the public header and its own, a public header without project includes.
make_tree() {
  rm -rf "$tmp/t"
  mkdir -p "$tmp/t/lib" "$tmp/t/cmd"
  printf '#include <stdio.h>\nint tf_x(void);\n' > "$tmp/t/lib/tokenformer.h"
  printf 'int tf_y(void);\n' > "$tmp/t/lib/model_internal.h"
  printf 'void cli_z(void);\n' > "$tmp/t/cmd/cli.h"
  printf '#include <stdio.h>\n#include "tokenformer.h"\n#include "cli.h"\n' > "$tmp/t/cmd/tf-a.c"
  printf 'static int helper(void) { return 1; }\nint tf_x(void) { return helper(); }\n' \
    > "$tmp/t/lib/x.c"
}
# archive: builds lib.a from lib/x.c
archive() {
  $cc -c -o "$tmp/t/x.o" "$tmp/t/lib/x.c" && ar rcs "$tmp/t/lib.a" "$tmp/t/x.o"
}
# expect STATUS PATTERN WHAT: check-api.sh on the tree
expect() {
  expect_output "$1" "$2" "$3" sh "$here/check-api.sh" "$tmp/t/lib.a" "$tmp/t"
}

make_tree && archive
expect 0 '^check-api: 3 passed, 0 failed$' "a clean tree"

make_tree
printf 'int tf_x(void) { return 1; }\nint model_place(void) { return 2; }\n' > "$tmp/t/lib/x.c"
archive
expect 1 'global symbol without tf_: model_place (x.o)' "an unprefixed global function"

make_tree
printf 'int tf_x(void) { return 1; }\nint counter = 3;\n' > "$tmp/t/lib/x.c"
archive
expect 1 'global symbol without tf_: counter (x.o)' "an unprefixed global variable"

make_tree && archive
printf '#include "tokenformer.h"\n#include "model_internal.h"\n' > "$tmp/t/cmd/tf-b.c"
expect 1 'cmd/tf-b.c:2: includes "model_internal.h"' "a command including an internal header"

make_tree && archive
printf '#include <model_internal.h>\n' > "$tmp/t/cmd/tf-b.c"
expect 1 'cmd/tf-b.c:1: includes <model_internal.h>' "the same through -I"

make_tree && archive
printf '#include "../lib/model_internal.h"\n' > "$tmp/t/cmd/tf-b.c"
expect 1 'cmd/tf-b.c:1: includes "../lib/model_internal.h"' "the same by path"

make_tree && archive
printf '#include "model_internal.h"\n' >> "$tmp/t/lib/tokenformer.h"
expect 1 'lib/tokenformer.h:3: includes a header of the project' "the public header"

selftest_end "check-api self-test"
