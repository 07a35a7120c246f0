# test_failure.sh: failure injection (sourced by run.sh). A full disk (ulimit -f, an LD_PRELOAD
# library that fails write() with ENOSPC, a real tmpfs), a failing fsync, an output directory
# that cannot be written, SIGKILL in the middle of a save, a stale temporary file. Each save
# that fails exits 74 or 73 naming the file and the reason; the checkpoint that was at the
# output path stays byte-identical and valid, and no temporary file is left beside it.
F=$TMP/fail
mkdir -p "$F"
$TF_BIN/tf-init -q -c configs/tiny.yaml -o "$F/t0.tfz"
cp "$F/t0.tfz" "$F/good.tfz"

# the three commands that write checkpoints, each followed by its output
INIT="$TF_BIN/tf-init -q -c configs/tiny.yaml --seed 2 -o"
TRAIN="$TF_BIN/tf-train -q --threads 2 -c configs/tiny.yaml -i $F/t0.tfz --steps 2 -o"
GROW="$TF_BIN/tf-grow -q -i $F/t0.tfz --ffn +8 -o"

# fresh DIR: a new directory holding old.tfz, a copy of good.tfz
fresh() { rm -rf "$1" && mkdir -p "$1" && cp "$F/good.tfz" "$1/old.tfz"; }
# kept DIR: DIR/old.tfz is still good.tfz and verifies; no temporary file in DIR
kept() {
  cmp "$F/good.tfz" "$1/old.tfz" && $TF_BIN/tf-inspect --verify "$1/old.tfz" > /dev/null &&
    ! ls -A "$1" | grep '\.tmp\.' >&2
}

# The fault library; without a compiler the tests that need it are skipped, and said so.
SHIM=$F/faults.so
${CC:-cc} -shared -fPIC -O2 -o "$SHIM" tests/cli/faults.c 2> /dev/null || SHIM=
# runs a command behind it; ASan (make SANITIZE=1) would refuse to start behind another library
SHIM_ENV="env LD_PRELOAD=$SHIM ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
# full disk, three ways: the file size limit (EFBIG; the commands ignore SIGXFSZ; 100 blocks
# of 512 or 1024 bytes are under any checkpoint here), ENOSPC on the unnamed temporary file,
# ENOSPC on the named one of filesystems without O_TMPFILE
fsize() { (ulimit -f 100 && "$@"); }
enospc() { $SHIM_ENV TF_FAULT_DISK_BYTES=50000 "$@"; }
enospc_named() { $SHIM_ENV TF_FAULT_DISK_BYTES=50000 TF_FAULT_NO_TMPFILE=1 "$@"; }

for c in INIT TRAIN GROW; do
  eval "cmd=\$$c"
  for how in fsize enospc enospc_named; do
    [ "$how" = fsize ] || [ -n "$SHIM" ] || continue
    D=$F/$c-$how
    fresh "$D"
    grep_err 74 "$D/old\.tfz: write failed: (File too large|No space left on device)" \
      "failure: $c on a full disk ($how) exits 74 naming the file and the reason" \
      $how $cmd "$D/old.tfz"
    check "failure: $c on a full disk ($how) keeps the old checkpoint, no temporary file" \
      kept "$D"
  done
done
[ -n "$SHIM" ] || echo "cli: test_failure.sh: skipped the ENOSPC and fsync tests: no C compiler"

if [ -n "$SHIM" ]; then
  fresh "$F/fsync"
  grep_err 74 "old\.tfz: fsync failed: Input/output error" "failure: a failing fsync exits 74" \
    $SHIM_ENV TF_FAULT_FSYNC=1 $INIT "$F/fsync/old.tfz"
  check "failure: a failing fsync keeps the old checkpoint" kept "$F/fsync"
  fresh "$F/named"
  ok "failure: without O_TMPFILE the save goes through a named temporary file" \
    $SHIM_ENV TF_FAULT_NO_TMPFILE=1 $INIT "$F/named/new.tfz"
  check "failure: and that file is gone after the rename" sh -c \
    "$TF_BIN/tf-inspect --verify '$F/named/new.tfz' && ! ls -A '$F/named' | grep '\.tmp\.'"
fi

# A real full disk: a tmpfs of 192 KiB holding the old checkpoint (121 KiB) in a mount
# namespace of our own. The whole case runs inside it; exit 99 says what was not kept.
small_disk() { # DIR CMD... (CMD's output is DIR/old.tfz)
  d=$1
  shift
  unshare -m sh -c '
    d=$1 good=$2 verify=$3; shift 3
    mount -t tmpfs -o size=192k tf-test "$d" && cp "$good" "$d/old.tfz" || exit 98
    "$@" "$d/old.tfz"; rc=$?
    cmp "$good" "$d/old.tfz" >&2 && "$verify" --verify "$d/old.tfz" > /dev/null &&
      ! ls -A "$d" | grep "\.tmp\." >&2 || exit 99
    exit $rc' sh "$d" "$F/good.tfz" "$TF_BIN/tf-inspect" "$@"
}
mkdir -p "$F/probe"
if unshare -m sh -c "mount -t tmpfs -o size=4k tf-test '$F/probe'" 2> /dev/null; then
  for c in INIT TRAIN GROW; do
    eval "cmd=\$$c"
    mkdir -p "$F/tmpfs-$c"
    grep_err 74 "old\.tfz: write failed: No space left on device" \
      "failure: $c on a full tmpfs exits 74, old checkpoint kept, no temporary file" \
      small_disk "$F/tmpfs-$c" $cmd
  done
else
  echo "cli: test_failure.sh: skipped the tmpfs tests: cannot mount (needs CAP_SYS_ADMIN)"
fi

# An output directory that cannot be written: exit 73 naming the file, nothing created.
: > "$F/file"
for c in INIT TRAIN GROW; do
  eval "cmd=\$$c"
  grep_err 73 "$F/file/x\.tfz: cannot create a temporary file in $F/file: Not a directory" \
    "failure: $c to a path under a regular file exits 73" $cmd "$F/file/x.tfz"
  grep_err 73 "nodir/x\.tfz: cannot create a temporary file in .*nodir: No such file or dir" \
    "failure: $c into a missing directory exits 73" $cmd "$F/nodir/x.tfz"
done
# A read-only directory: root writes anyway, so as root the command runs as nobody.
mkdir -p "$F/ro"
cp "$F/good.tfz" "$F/ro/old.tfz"
chmod 555 "$F/ro"
chmod o+x "$TMP" "$F"
chmod a+r "$F/t0.tfz"
[ "$NOBODY" != none ] || echo "cli: test_failure.sh: skipped the read-only directory tests: no setpriv (util-linux)"
if [ "$NOBODY" != none ]; then
  for c in INIT TRAIN GROW; do
    eval "cmd=\$$c"
    grep_err 73 "ro/old\.tfz: cannot create a temporary file in .*ro: Permission denied" \
      "failure: $c into a read-only directory exits 73" $NOBODY $cmd "$F/ro/old.tfz"
  done
  check "failure: the read-only directory is as it was" sh -c \
    "cmp '$F/good.tfz' '$F/ro/old.tfz' && test \"\$(ls -A '$F/ro')\" = old.tfz"
fi
chmod 755 "$F/ro"

# SIGKILL in the middle of a save: a 17M-parameter model written with --compress best takes
# seconds; the kill comes once the file it writes in the output directory passes 1 MB.
BIG="--set model.d_model=1024 --set model.n_heads=8 --set model.qkv_tokens=512
     --set model.proj_tokens=512 --set model.ffn_tokens=2048 --compress best"
written() { # PID DIR: the file offset of each file PID has open in DIR
  for fd in /proc/$1/fd/*; do
    case $(readlink "$fd" 2> /dev/null) in
    "$2"/*) sed -n 's/^pos:[[:space:]]*//p' "/proc/$1/fdinfo/${fd##*/}" 2> /dev/null ;;
    esac
  done
}
kill_mid_save() { # DIR [env VAR=VALUE...]: kill -9 a save to DIR/old.tfz
  d=$1
  shift
  "$@" $TF_BIN/tf-init -q -c configs/tiny.yaml $BIG -o "$d/old.tfz" &
  pid=$!
  i=0
  until [ "$(written $pid "$d")" -gt 1000000 ] 2> /dev/null; do
    i=$((i + 1))
    [ $i -lt 3000 ] || { kill -9 $pid; echo "no 1 MB written in $d in 30 s" >&2; return 1; }
    sleep 0.01
  done
  kill -9 $pid
  wait $pid
  rc=$?
  [ $rc = 137 ] || { echo "exit $rc, expected 137 (SIGKILL)" >&2; return 1; }
}
fresh "$F/kill"
check "failure: SIGKILL in the middle of a save" kill_mid_save "$F/kill"
if python3 -c "import os, sys; os.close(os.open(sys.argv[1], os.O_TMPFILE | os.O_WRONLY))" \
  "$F/kill" 2> /dev/null; then
  check "failure: after SIGKILL the old checkpoint is kept and nothing is left behind" \
    kept "$F/kill"
else
  echo "cli: test_failure.sh: no O_TMPFILE on $TMP: a killed save may leave a temporary file"
  check "failure: after SIGKILL the old checkpoint is kept" \
    sh -c "cmp '$F/good.tfz' '$F/kill/old.tfz' && $TF_BIN/tf-inspect --verify '$F/kill/old.tfz'"
fi
if [ -n "$SHIM" ]; then
  # without O_TMPFILE the killed save leaves its named temporary file: the next save to the
  # same path is not disturbed by it
  fresh "$F/stale"
  check "failure: SIGKILL in the middle of a save through a named temporary file" \
    kill_mid_save "$F/stale" $SHIM_ENV TF_FAULT_NO_TMPFILE=1
  check "failure: the old checkpoint is kept, the stale temporary file is there" sh -c \
    "cmp '$F/good.tfz' '$F/stale/old.tfz' && ls -A '$F/stale' | grep -q '^\.old\.tfz\.tmp\.'"
  ls -A "$F/stale" > "$F/stale.before"
  ok "failure: the next save to the same path succeeds beside the stale file" \
    $INIT "$F/stale/old.tfz"
  check "failure: its result is valid and the directory holds nothing new" sh -c \
    "$TF_BIN/tf-inspect --verify '$F/stale/old.tfz' &&
     ls -A '$F/stale' | cmp -s - '$F/stale.before'"
fi
