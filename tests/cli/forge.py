#!/usr/bin/env python3
"""forge.py IN OUT NAME=VALUE...: a copy of checkpoint IN (gzip or plain) with every element of
each tensor NAME set to VALUE (a number, nan or inf), written as a gzip checkpoint OUT with a
correct CRC: what the loaders' value checks see, not a damaged file. For tests/cli."""
import gzip
import json
import struct
import sys

FORMATS = {"F32": "f", "F64": "d", "I64": "q", "U64": "Q", "I32": "i", "U8": "B"}


def main():
    src, dst, sets = sys.argv[1], sys.argv[2], sys.argv[3:]
    raw = open(src, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = bytearray(raw[8 + n:])
    for s in sets:
        name, value = s.split("=", 1)
        t = header[name]
        code = FORMATS[t["dtype"]]
        v = float(value) if code in "fd" else int(value)
        begin, end = t["data_offsets"]
        size = struct.calcsize(code)
        for off in range(begin, end, size):
            struct.pack_into("<" + code, data, off, v)
    with open(dst, "wb") as f:
        f.write(gzip.compress(raw[:8 + n] + bytes(data), compresslevel=1, mtime=0))


main()
