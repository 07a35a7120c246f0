# test_gzheader.sh: a gzip'd checkpoint from elsewhere whose header carries a CRC-16 (FHCRC,
# RFC 1952; gzip and zlib's deflateSetHeader can write one): a wrong one is refused, exit 65
# naming the file; a right one loads (sourced by run.sh). lib/gzcheck.c checks it, since
# zlib's own checks are off.
G=$TMP/gzheader
mkdir -p "$G"
$TF_BIN/tf-init -q -c configs/tiny.yaml -o "$G/t0.tfz"
cat > "$G/rewrap.py" << 'PY'
import gzip, struct, sys, zlib
data = gzip.decompress(open(sys.argv[1], "rb").read())
head = b"\x1f\x8b\x08" + bytes([2 | 8]) + struct.pack("<I", 1234567) + b"\x00\x03"
head += b"t0.safetensors\x00"
crc16 = zlib.crc32(head) & 0xFFFF
if sys.argv[3] == "wrong":
    crc16 ^= 0x0100
z = zlib.compressobj(6, zlib.DEFLATED, -15)
body = z.compress(data) + z.flush()
trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
open(sys.argv[2], "wb").write(head + struct.pack("<H", crc16) + body + trailer)
PY
python3 "$G/rewrap.py" "$G/t0.tfz" "$G/right.tfz" right
python3 "$G/rewrap.py" "$G/t0.tfz" "$G/wrong.tfz" wrong
check "gzheader: the files are what gzip(1) says: the right one tests clean, the wrong one not" \
  sh -c "gzip -t '$G/right.tfz' && ! gzip -t '$G/wrong.tfz' 2> /dev/null"
grep_err 65 'wrong.tfz: corrupt gzip stream: header crc mismatch' \
  "gzheader: a wrong header CRC is refused, exit 65, naming the file" \
  $TF_BIN/tf-inspect --verify "$G/wrong.tfz"
grep_err 65 'wrong.tfz: corrupt gzip stream: header crc mismatch' \
  "gzheader: by tf-eval too" $TF_BIN/tf-eval -i "$G/wrong.tfz" --data data/tiny-valid.txt
ok "gzheader: a right header CRC loads" $TF_BIN/tf-inspect --verify "$G/right.tfz"
grep_out '"tokens":' "gzheader: and scores" \
  $TF_BIN/tf-eval --json -i "$G/right.tfz" --data data/tiny-valid.txt
