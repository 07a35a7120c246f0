#!/usr/bin/env python3
"""forge.py IN OUT EDIT...: a copy of checkpoint IN (gzip or plain), edited, written as a gzip
checkpoint OUT with a correct CRC and a consistent layout: what the loaders' checks see, not a
damaged file. For tests/cli. Each EDIT is one of
  NAME=VALUE   every element of tensor NAME set to VALUE (a number, nan or inf)
  NAME:DTYPE   tensor NAME relabelled as DTYPE, a dtype of the same size (its bytes kept)
  -NAME        tensor NAME removed
  NAME~        tensor NAME without its last row (a short tensor)
  @KEY=VALUE   metadata KEY set to the string VALUE"""
import gzip
import json
import struct
import sys

FORMATS = {"F32": "f", "F64": "d", "I64": "q", "U64": "Q", "I32": "i", "U8": "B", "I8": "b",
           "BF16": "bf16"}


def fill(data, t, value):
    code = FORMATS[t["dtype"]]
    begin, end = t["data_offsets"]
    if code == "bf16":  # the top half of the float's bits
        b = struct.pack("<f", float(value))[2:]
        for off in range(begin, end, 2):
            data[off:off + 2] = b
        return
    v = float(value) if code in "fd" else int(value)
    size = struct.calcsize(code)
    for off in range(begin, end, size):
        struct.pack_into("<" + code, data, off, v)


def main():
    src, dst, edits = sys.argv[1], sys.argv[2], sys.argv[3:]
    raw = open(src, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = bytearray(raw[8 + n:])
    for e in edits:
        if e.startswith("@"):
            key, value = e[1:].split("=", 1)
            header.setdefault("__metadata__", {})[key] = value
        elif e.startswith("-"):
            header[e[1:]]["drop"] = True
        elif e.endswith("~"):
            t = header[e[:-1]]
            t["shape"][0] -= 1
            begin, end = t["data_offsets"]
            rows = t["shape"][0] + 1
            t["data_offsets"] = [begin, end - (end - begin) // rows]
        elif "=" in e:
            name, value = e.split("=", 1)
            fill(data, header[name], value)
        else:
            name, dtype = e.rsplit(":", 1)
            header[name]["dtype"] = dtype
    out, meta, pos = bytearray(), header.pop("__metadata__", None), 0
    new = {"__metadata__": meta} if meta is not None else {}
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if t.get("drop"):
            continue
        begin, end = t["data_offsets"]
        out += data[begin:end]
        new[name] = {"dtype": t["dtype"], "shape": t["shape"], "data_offsets": [pos, pos + end - begin]}
        pos += end - begin
    text = json.dumps(new).encode()
    text += b" " * (-len(text) % 8)
    with open(dst, "wb") as f:
        f.write(gzip.compress(struct.pack("<Q", len(text)) + text + bytes(out), compresslevel=1,
                              mtime=0))


main()
