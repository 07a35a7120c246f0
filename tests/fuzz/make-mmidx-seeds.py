#!/usr/bin/env python3
"""make-mmidx-seeds.py: (re)writes tests/fuzz/corpus/mmidx, the seeds of fuzz_mmidx.c: each is
a 2-byte little-endian length L, L bytes of .idx and the .bin. Valid datasets (uint16, int32,
several sequences per document, no documents) and damaged ones: magic, version, dtype, counts,
sizes, pointers, document index, a .bin too short or too long. Python 3 standard library only;
run from the top of the tree.
"""
import os
import shutil
import struct

OUT = "tests/fuzz/corpus/mmidx"


def index(sizes, itemsize=2, doc_idx=None, code=8, version=1, magic=b"MMIDIDX\x00\x00",
          pointers=None):
    if doc_idx is None:
        doc_idx = list(range(len(sizes) + 1))
    if pointers is None:
        pointers, at = [], 0
        for s in sizes:
            pointers.append(at)
            at += s * itemsize
    return (magic + struct.pack("<QBQQ", version, code, len(sizes), len(doc_idx)) +
            struct.pack("<%di" % len(sizes), *sizes) + struct.pack("<%dq" % len(sizes), *pointers) +
            struct.pack("<%dq" % len(doc_idx), *doc_idx))


def seed(idx, bin_):
    return struct.pack("<H", len(idx)) + idx + bin_


def u16(ids):
    return struct.pack("<%dH" % len(ids), *ids)


def main():
    s = {}
    s["valid-u16"] = seed(index([3, 1, 4]), u16([5, 6, 0, 7, 8, 9, 10, 0]))
    s["valid-i32"] = seed(index([2, 2], 4, code=4), struct.pack("<4i", 1, 70000, 65535, 0))
    s["valid-u8"] = seed(index([5], 1, code=1), b"hello")
    s["valid-i64-negative"] = seed(index([2], 8, code=5), struct.pack("<2q", -1, 1 << 40))
    s["multi-sequence-doc"] = seed(index([1, 2, 1], doc_idx=[0, 2, 3]), u16([1, 2, 3, 4]))
    s["no-sequences"] = seed(index([]), b"")
    s["bad-magic"] = seed(index([1], magic=b"TNTIDX\x00\x00\x00"), u16([1]))
    s["bad-version"] = seed(index([1], version=2), u16([1]))
    s["float-dtype"] = seed(index([1], 4, code=6), b"\0\0\x80\x3f")
    s["unknown-dtype"] = seed(index([1], code=9), u16([1]))
    s["bin-too-short"] = seed(index([4]), u16([1, 2, 3]))
    s["bin-too-long"] = seed(index([1]), u16([1, 2]))
    s["negative-size"] = seed(index([-1, 2]), u16([1, 2]))
    s["pointer-gap"] = seed(index([1, 1], pointers=[0, 4]), u16([1, 2, 3]))
    s["pointer-back"] = seed(index([1, 1], pointers=[2, 0]), u16([1, 2]))
    s["doc-idx-decreasing"] = seed(index([1, 1], doc_idx=[0, 2, 1, 2]), u16([1, 2]))
    s["doc-idx-short-end"] = seed(index([1, 1], doc_idx=[0, 1]), u16([1, 2]))
    s["doc-idx-empty"] = seed(index([1], doc_idx=[]), u16([1]))
    s["huge-count"] = seed(index([1])[:18] + struct.pack("<Q", 1 << 61) + index([1])[26:], u16([1]))
    s["truncated-header"] = seed(index([1])[:20], u16([1]))
    s["trailing-bytes"] = seed(index([1]) + b"\x01", u16([1]))
    s["no-input"] = b""
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    for name, data in sorted(s.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("mmidx: %d seeds, %d bytes" % (len(s), sum(map(len, s.values()))))


if __name__ == "__main__":
    main()
