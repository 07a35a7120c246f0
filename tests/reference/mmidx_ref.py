"""mmidx_ref.py: reference indexed token datasets (tests/fixtures/mmidx_*), written the way the
GPT-NeoX / Megatron-LM tools write them (tokenformer-dataset(5)), with numpy only.

The writer follows the official builder's semantics: every document is added as one or more
sequences ("items") whose ids are stored back to back in the .bin as the dtype (uint16 for a
vocabulary under 65,500, else int32); ending a document appends the number of sequences so far
to the document index, which starts with 0. The .idx is the 9-byte magic, version 1 (u64), the
dtype code (u8), the number of sequences and of document index entries (u64 each), then the
int32 sizes, the int64 byte offsets of the sequences (running sums of size * itemsize) and the
int64 document index. The reader parses the same layout back, and every file written is read
back and compared before the script ends.

Files (in --out):
  mmidx_docs.txt        the documents of the cases below, one per line, ids separated by spaces
                        (an empty line is an empty document, which the official tools leave out)
  mmidx_u16.{bin,idx}   those documents, one sequence each, vocab 50,277 (uint16)
  mmidx_i32.{bin,idx}   mmidx_docs_i32.txt's documents, vocab 70,000 (int32)
  mmidx_multi.{bin,idx} three documents, the second of two sequences (uint16)

Usage: /usr/bin/python3 tests/reference/mmidx_ref.py --out tests/fixtures
"""

import argparse
import os
import struct

import numpy as np

MAGIC = b"MMIDIDX\x00\x00"
CODES = {np.uint8: 1, np.int8: 2, np.int16: 3, np.int32: 4, np.int64: 5, np.uint16: 8}
DTYPES = {code: t for t, code in CODES.items()}


def dtype_for(vocab):
    return np.uint16 if vocab < 65500 else np.int32


def write(prefix, docs, vocab):
    """docs: a list of documents, each a list of sequences (lists of ids)."""
    dtype = dtype_for(vocab)
    sizes, doc_idx = [], [0]
    with open(prefix + ".bin", "wb") as f:
        for doc in docs:
            if not any(doc):  # as the official preprocessing: empty documents are skipped
                continue
            for seq in doc:
                f.write(np.array(seq, dtype=dtype).tobytes(order="C"))
                sizes.append(len(seq))
            doc_idx.append(len(sizes))
    itemsize = np.dtype(dtype).itemsize
    pointers = np.concatenate([[0], np.cumsum(np.array(sizes, dtype=np.int64) * itemsize)[:-1]]) \
        if sizes else np.zeros(0, dtype=np.int64)
    with open(prefix + ".idx", "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<Q", 1))
        f.write(struct.pack("<B", CODES[dtype]))
        f.write(struct.pack("<Q", len(sizes)))
        f.write(struct.pack("<Q", len(doc_idx)))
        f.write(np.array(sizes, dtype=np.int32).tobytes(order="C"))
        f.write(np.array(pointers, dtype=np.int64).tobytes(order="C"))
        f.write(np.array(doc_idx, dtype=np.int64).tobytes(order="C"))


def read(prefix):
    """The documents of a dataset, each a list of sequences."""
    with open(prefix + ".idx", "rb") as f:
        raw = f.read()
    assert raw[:9] == MAGIC, "magic"
    (version,) = struct.unpack_from("<Q", raw, 9)
    assert version == 1, "version"
    dtype = DTYPES[raw[17]]
    n_seqs, n_doc_idx = struct.unpack_from("<QQ", raw, 18)
    off = 34
    sizes = np.frombuffer(raw, dtype=np.int32, count=n_seqs, offset=off)
    pointers = np.frombuffer(raw, dtype=np.int64, count=n_seqs, offset=off + sizes.nbytes)
    doc_idx = np.frombuffer(raw, dtype=np.int64, count=n_doc_idx,
                            offset=off + sizes.nbytes + pointers.nbytes)
    assert off + sizes.nbytes + pointers.nbytes + doc_idx.nbytes == len(raw), "length"
    data = np.fromfile(prefix + ".bin", dtype=dtype)
    itemsize = np.dtype(dtype).itemsize
    seqs = [data[p // itemsize:p // itemsize + s].tolist() for p, s in zip(pointers, sizes)]
    return [seqs[doc_idx[i]:doc_idx[i + 1]] for i in range(len(doc_idx) - 1)]


def documents(rng, vocab, eod, special):
    """Documents of varied lengths (1 to 300 ids), each ending with eod, an empty one, and ids
    at the edges of the vocabulary."""
    docs = []
    for n in [1, 7, 300, 0, 42, 2, 129]:
        if n == 0:
            docs.append([])
            continue
        ids = rng.integers(0, vocab, size=n - 1).tolist() + [eod]
        docs.append(ids)
    docs[2][:len(special)] = special
    return docs


def save_docs(path, docs):
    with open(path, "w") as f:
        for d in docs:
            f.write(" ".join(str(i) for i in d) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    out = ap.parse_args().out
    rng = np.random.default_rng(17)
    cases = [
        ("u16", 50277, documents(rng, 50277, 0, [50276, 1, 0, 255, 256, 65535 % 50277])),
        ("i32", 70000, documents(rng, 70000, 0, [69999, 65535, 65536, 65499, 65500])),
    ]
    for name, vocab, docs in cases:
        save_docs(os.path.join(out, "mmidx_docs.txt" if name == "u16" else "mmidx_docs_i32.txt"),
                  docs)
        prefix = os.path.join(out, "mmidx_" + name)
        write(prefix, [[d] for d in docs], vocab)
        back = read(prefix)
        assert back == [[d] for d in docs if d], name
        print(f"mmidx_{name}: {len(back)} documents, {sum(len(d[0]) for d in back)} tokens")
    multi = [[[5, 6, 7]], [[8, 9], [10, 11, 12, 0]], [[13]]]
    write(os.path.join(out, "mmidx_multi"), multi, 50277)
    assert read(os.path.join(out, "mmidx_multi")) == multi
    print("mmidx_multi: 3 documents, 4 sequences")


if __name__ == "__main__":
    main()
