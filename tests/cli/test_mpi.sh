# test_mpi.sh: data parallelism under mpirun: 2 ranks of batch B equal 1 process of batch 2B;
# a signal to one rank saves and stops all; resume continues exactly. Skipped (and said so)
# when mpirun or an MPI build is missing.
if ! command -v mpirun >/dev/null 2>&1 || ! $TF_BIN/tf-train --version | grep -q 'MPI$'; then
  echo "cli: test_mpi.sh: skipped: no mpirun or a build without MPI"
else
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# Open MPI's own allocations outlive MPI_Finalize: leak reports under SANITIZE=1 are not ours
MPI="mpirun -np 2 -x OMP_NUM_THREADS=1 -x ASAN_OPTIONS=detect_leaks=0"
TR="$TF_BIN/tf-train -q --threads 1 -c configs/tiny.yaml --set train.eval_every=0"
$TF_BIN/tf-init -q -c configs/tiny.yaml -o "$TMP/m0.tfz"

# every tensor of A and B within rel of max |A| (per tensor)
close_params() {
  gunzip -c "$1" > "$TMP/a.st" && gunzip -c "$2" > "$TMP/b.st" && python3 -c "
import json, struct, sys
def load(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n]); h.pop('__metadata__', None)
    return {k: struct.unpack('<%df' % ((v['data_offsets'][1] - v['data_offsets'][0]) // 4),
                             b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]])
            for k, v in h.items() if v['dtype'] == 'F32' and not k.startswith('optim.')}
a, b = load('$TMP/a.st'), load('$TMP/b.st')
assert a.keys() == b.keys()
for k in a:
    scale = max(abs(x) for x in a[k]) or 1
    err = max(abs(x - y) for x, y in zip(a[k], b[k])) / scale
    assert err <= $3, (k, err)
"
}

ok "mpi: one process, batch 8, 20 steps" $TR -i "$TMP/m0.tfz" -o "$TMP/one.tfz" --steps 20 --set train.batch=8
ok "mpi: two ranks, batch 4 each, 20 steps" $MPI $TR -i "$TMP/m0.tfz" -o "$TMP/two.tfz" --steps 20 --set train.batch=4
# the same windows in the same order; only the summation order of the gradient differs
check "mpi: 2 ranks x batch 4 equal 1 process x batch 8 (1e-5 relative)" close_params "$TMP/one.tfz" "$TMP/two.tfz" 1e-5

mpi_signal() {
  $MPI $TR -i "$TMP/m0.tfz" -o "$TMP/sig.tfz" --steps 100000 --set train.batch=4 \
    --log "$TMP/msig.jsonl" >/dev/null 2>&1 &
  pid=$!
  wait_for "$TMP/msig.jsonl" '"loss"' # both ranks are training
  kill -TERM "$(pgrep -P $pid | tail -1)"
  wait $pid
}
fails 75 "mpi: SIGTERM to one rank saves and every rank exits 75" mpi_signal
check "mpi: the saved checkpoint verifies" $TF_BIN/tf-inspect --verify "$TMP/sig.tfz"
resume_exact() {
  s=$($TF_BIN/tf-inspect --tensor train.step "$TMP/sig.tfz") &&
    $MPI $TR -i "$TMP/sig.tfz" -o "$TMP/res.tfz" --steps 100000 --stop-at $((s + 10)) --set train.batch=4 &&
    $MPI $TR -i "$TMP/m0.tfz" -o "$TMP/ref.tfz" --steps 100000 --stop-at $((s + 10)) --set train.batch=4 &&
    close_params "$TMP/res.tfz" "$TMP/ref.tfz" 0
}
check "mpi: resume with 2 ranks continues exactly" resume_exact
fi
