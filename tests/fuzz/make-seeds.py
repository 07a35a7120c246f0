#!/usr/bin/env python3
"""make-seeds.py [BIN]: (re)writes the seed corpus of the fuzz harnesses, tests/fuzz/corpus/.

Valid checkpoints come from the commands in BIN (default build/bin; run `make` first): a tiny
model (V 8, d 8, L 1, 2/2/4 parameter tokens: a few KB), trained two steps (AdamW moments and
training state), grown, in plain safetensors and gzip. The hostile ones are made from those
here: header lengths, shapes, offsets, names, dtypes, metadata and config, the training
state, gzip damage. Config seeds are the committed configs and hostile YAML; prompt seeds are
option bytes and prompts (tests/fuzz/fuzz_prompt.c). Python 3 standard library only.
Run from the top of the tree; the files are committed, so rerun only to change them.
"""
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

OUT = "tests/fuzz/corpus"
TINY = ["model.vocab_size=8", "model.d_model=8", "model.n_layers=1", "model.n_heads=1",
        "model.seq_len=4", "model.qkv_tokens=2", "model.proj_tokens=2", "model.ffn_tokens=4"]


def put(harness, name, data):
    path = os.path.join(OUT, harness, name)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def gz(b):
    return gzip.compress(b, compresslevel=6, mtime=0)


def st_bytes(header, data=b"", pad=True):
    """A safetensors file: header (dict, str or bytes) padded to 8, then data."""
    if isinstance(header, dict):
        header = json.dumps(header, separators=(",", ":"))
    if isinstance(header, str):
        header = header.encode()
    if pad:
        header += b" " * (-(8 + len(header)) % 8)
    return struct.pack("<Q", len(header)) + header + data


def st_split(b):
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]


def run(bin_dir, tmp, cmd, *args):
    subprocess.run([os.path.join(bin_dir, cmd), *args, "-q"], check=True, cwd=tmp)


def valid_files(bin_dir, tmp):
    """The valid checkpoints, made by the commands: name -> bytes."""
    sets = [a for s in TINY for a in ("--set", s)]
    cfg = os.path.abspath("configs/tiny.yaml")
    with open(os.path.join(tmp, "d.bin"), "wb") as f:
        f.write(bytes((i * 7 + 3) % 8 for i in range(200)))
    run(bin_dir, tmp, "tf-init", "-c", cfg, *sets, "-o", "init.safetensors")
    run(bin_dir, tmp, "tf-init", "-c", cfg, *sets, "-o", "init.tfz")
    run(bin_dir, tmp, "tf-init", "-c", cfg, *sets, "--set", "model.norm=softmax",
        "--set", "model.rotary_pct=1", "--compress", "none", "-o", "softmax.tfz")
    train = ["-c", cfg, *sets, "--set", "train.data=d.bin", "--set", "train.valid=",
             "--set", "train.batch=1", "--steps", "2", "-i", "init.safetensors"]
    run(bin_dir, tmp, "tf-train", *train, "-o", "train.safetensors")
    run(bin_dir, tmp, "tf-train", *train, "-o", "train.tfz")
    run(bin_dir, tmp, "tf-grow", "--ffn", "+4", "--keep-optimizer", "-i", "train.safetensors",
        "--compress", "best", "-o", "grown.tfz")
    for w in ("bf16", "q8"):
        run(bin_dir, tmp, "tf-convert", "--quantize", w, "-i", "init.tfz", "-o", w + ".safetensors")
    names = {"init.safetensors": "valid-init-plain", "init.tfz": "valid-init-gzip",
             "bf16.safetensors": "valid-bf16-plain", "q8.safetensors": "valid-q8-plain",
             "softmax.tfz": "valid-softmax-stored-gzip", "train.safetensors": "valid-train-plain",
             "train.tfz": "valid-train-gzip", "grown.tfz": "valid-grown-best-gzip"}
    out = {}
    for src, name in names.items():
        with open(os.path.join(tmp, src), "rb") as f:
            out[name] = f.read()
    return out


def retiled(h):
    """h with data_offsets laid out again, contiguously, in the order of its keys."""
    pos = 0
    sizes = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "F16": 2, "BF16": 2, "U8": 1}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        n = sizes.get(v["dtype"], 4)
        for d in v["shape"]:
            n *= d
        v["data_offsets"] = [pos, pos + n]
        pos += n
    return h, pos


def with_tensor(h, name, **changes):
    h = json.loads(json.dumps(h))
    h[name].update(changes)
    return h


def with_meta(h, **changes):
    h = json.loads(json.dumps(h))
    for k, v in changes.items():
        if v is None:
            h["__metadata__"].pop(k, None)
        else:
            h["__metadata__"][k] = v
    return h


def with_config(h, **changes):
    cfg = json.loads(h["__metadata__"]["config"])
    cfg.update(changes)
    return with_meta(h, config=json.dumps(cfg, separators=(",", ":")))


def header_seeds(h, d):
    """Hostile headers over the valid init model (header h, data d)."""
    emb = "embed.weight"
    s = {}
    s["hdrlen-u64-max"] = b"\xff" * 8 + b"{}"
    s["hdrlen-over-cap"] = struct.pack("<Q", (100 << 20) + 1) + b"{}      "
    s["hdrlen-at-cap-short"] = struct.pack("<Q", 100 << 20) + b'{"a":' + b" " * 64
    s["hdrlen-zero"] = struct.pack("<Q", 0) + b"{}      "
    s["hdrlen-past-end"] = struct.pack("<Q", 17) + b"{}      "
    full = st_bytes(h, d)
    n = struct.unpack("<Q", full[:8])[0]
    s["hdrlen-short-by-7"] = struct.pack("<Q", n - 7) + full[8:]
    s["hdrlen-long-by-8"] = struct.pack("<Q", n + 8) + full[8:]
    s["header-array"] = st_bytes("[1, 2, 3]")
    s["header-space-first"] = st_bytes(" {}")
    s["header-null"] = st_bytes("null")
    s["header-empty-object"] = st_bytes("{}")
    s["header-raw-nul"] = st_bytes(b'{"a\x00b": 1}')
    s["header-escaped-nul-name"] = st_bytes(
        '{"a\\u0000b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"x")
    s["header-trailing-garbage"] = st_bytes(b"{}\x00\x00\x00\x00\x00\x00", pad=False)
    s["header-tab-padding"] = st_bytes(b"{}\t\t\t\t\t\t", pad=False)
    s["shape-negative"] = st_bytes(with_tensor(h, emb, shape=[-8, 8]), d)
    s["shape-overflow"] = st_bytes(with_tensor(h, emb, shape=[1 << 62, 1 << 62]), d)
    s["shape-int64-max"] = st_bytes(with_tensor(h, emb, shape=[(1 << 63) - 1]), d)
    s["shape-uint64"] = st_bytes(with_tensor(h, emb, shape=[1 << 64]), d)
    s["shape-nine-dims"] = st_bytes(with_tensor(h, emb, shape=[1] * 9), d)
    s["shape-float"] = st_bytes(with_tensor(h, emb, shape=[8.0, 8]), d)
    s["shape-string"] = st_bytes(with_tensor(h, emb, shape="[8, 8]"), d)
    s["shape-transposed"] = st_bytes(with_tensor(h, emb, shape=[8, 4, 2]), d)
    last = max((v["data_offsets"][1], k) for k, v in h.items() if k != "__metadata__")[1]
    b, e = h[last]["data_offsets"]
    s["offsets-past-end"] = st_bytes(with_tensor(h, last, data_offsets=[b, e + 4]), d)
    s["offsets-overlap"] = st_bytes(with_tensor(h, last, data_offsets=[b - 4, e - 4]), d)
    s["offsets-hole"] = st_bytes(with_tensor(h, last, data_offsets=[b + 4, e + 4]), d + b"\0" * 4)
    s["offsets-reversed"] = st_bytes(with_tensor(h, emb, data_offsets=[256, 0]), d)
    s["offsets-negative"] = st_bytes(with_tensor(h, emb, data_offsets=[-256, 0]), d)
    s["offsets-three"] = st_bytes(with_tensor(h, emb, data_offsets=[0, 128, 256]), d)
    s["offsets-huge-u8"] = st_bytes(
        {"x": {"dtype": "U8", "shape": [(1 << 63) - 1], "data_offsets": [0, (1 << 63) - 1]}})
    s["offsets-empty-tensors-shared"] = st_bytes(
        {"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]},
         "b": {"dtype": "U8", "shape": [0, 3], "data_offsets": [0, 0]}})
    text = json.dumps(h, separators=(",", ":"))
    dup = '"final_norm.bias":' + json.dumps(h["final_norm.bias"], separators=(",", ":"))
    s["duplicate-tensor-name"] = st_bytes(text[:-1] + "," + dup + "}", d)
    s["duplicate-metadata"] = st_bytes(text.replace('"__metadata__":{', '"__metadata__":{'
                                                    '"format":"x",', 1), d)
    s["deep-nesting-meta"] = st_bytes('{"__metadata__":{"a":' + "[" * 2100 + "]" * 2100 + "}}")
    s["deep-nesting-tensor"] = st_bytes('{"t":{"shape":' + "[" * 2100 + "]" * 2100 + "}}")
    s["name-non-utf8"] = st_bytes(text.replace('"embed.weight"', '"embed.\xff\xfe"')
                                  .encode("latin-1"), d)
    s["name-control-chars"] = st_bytes(text.replace("embed.weight", "\\u001b[31membed"), d)
    s["name-metadata-tensor"] = st_bytes(text.replace('"__metadata__"', '"__metadata_"'), d)
    s["name-empty"] = st_bytes({"": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"x")
    s["dtype-unknown"] = st_bytes(with_tensor(h, emb, dtype="F33"), d)
    s["dtype-number"] = st_bytes(with_tensor(h, emb, dtype=4), d)
    s["dtype-f16-wrong"] = st_bytes(with_tensor(h, emb, dtype="F16", shape=[8, 16]), d)
    s["tensor-extra-member"] = st_bytes(with_tensor(h, emb, extra=1), d)
    s["tensor-not-object"] = st_bytes(text.replace(
        '"final_norm.bias":' + json.dumps(h["final_norm.bias"], separators=(",", ":")),
        '"final_norm.bias":[]'), d)
    s["all-dtypes"] = all_dtypes()
    s["trailing-bytes"] = full + b"\0"
    s["truncated-data"] = full[:-1]
    return s


def all_dtypes():
    h = {"__metadata__": {"k": "v"}}
    for i, t in enumerate(["F64", "I64", "U64", "F32", "I32", "BF16", "F16", "U8"]):
        h["t%d" % i] = {"dtype": t, "shape": [3], "data_offsets": [0, 0]}
    h["scalar"] = {"dtype": "F32", "shape": [], "data_offsets": [0, 0]}
    h, n = retiled(h)
    return st_bytes(h, bytes(range(256)) * (n // 256) + bytes(range(n % 256)))


def meta_seeds(h, d):
    """Metadata, config and tensor set of the model."""
    s = {}
    s["meta-not-object"] = st_bytes(with_meta(h) | {"__metadata__": ["format"]}, d)
    s["meta-value-number"] = st_bytes(with_meta(h, format_version=1), d)
    s["meta-format-wrong"] = st_bytes(with_meta(h, format="safetensors"), d)
    s["meta-format-missing"] = st_bytes(with_meta(h, format=None), d)
    s["meta-version-2"] = st_bytes(with_meta(h, format_version="2"), d)
    s["meta-config-missing"] = st_bytes(with_meta(h, config=None), d)
    s["meta-config-bad-json"] = st_bytes(with_meta(h, config='{"vocab_size":8,'), d)
    s["meta-config-deep"] = st_bytes(with_meta(h, config="[" * 2100 + "]" * 2100), d)
    s["meta-history-object"] = st_bytes(with_meta(h, history='{"command":"x"}'), d)
    s["meta-history-bad"] = st_bytes(with_meta(h, history="[{"), d)
    s["meta-tokenizer-bpe"] = st_bytes(with_meta(h, tokenizer="bpe\x1b[2J"), d)
    s["config-unknown-key"] = st_bytes(with_config(h, extra=1), d)
    s["config-wrong-type"] = st_bytes(with_config(h, d_model="8"), d)
    s["config-out-of-range"] = st_bytes(with_config(h, n_layers=257), d)
    s["config-heads-not-dividing"] = st_bytes(with_config(h, n_heads=3), d)
    s["config-odd-rope"] = st_bytes(with_config(h, rotary_pct=0.125), d)
    s["config-norm-unknown"] = st_bytes(with_config(h, norm="rms"), d)
    s["config-huge-float"] = st_bytes(with_config(h, rotary_base=1e400), d)
    s["config-d-disagrees"] = st_bytes(with_config(h, d_model=16), d)
    extra = json.loads(json.dumps(h))
    extra["foo"] = {"dtype": "F32", "shape": [1], "data_offsets": [0, 0]}
    extra, n = retiled(extra)
    s["tensor-unknown"] = st_bytes(extra, d + b"\0" * (n - len(d)))
    missing = json.loads(json.dumps(h))
    del missing["final_norm.bias"]
    missing, n = retiled(missing)
    s["tensor-missing"] = st_bytes(missing, d[:n])
    return s


def lying_model(vocab, d=32):
    """A header whose config and tensors agree on a model of vocab * d floats, and no data."""
    cfg = {"vocab_size": vocab, "d_model": d, "n_layers": 1, "n_heads": 1, "seq_len": 1,
           "qkv_tokens": 1, "proj_tokens": 1, "ffn_tokens": 1, "qkv_ref_tokens": 1,
           "proj_ref_tokens": 1, "ffn_ref_tokens": 1, "norm": "l2_norm_gelu",
           "rotary_pct": 0.25, "rotary_base": 10000.0}
    h = {"__metadata__": {"format": "tokenformer", "format_version": "1",
                          "config": json.dumps(cfg, separators=(",", ":"))}}
    h["embed.weight"] = {"dtype": "F32", "shape": [vocab, d]}
    for m in ["attention.query", "attention.key", "attention.value", "attention.proj", "mlp"]:
        for kind in ["key", "value"]:
            h["layers.0.%s.%s_param_tokens" % (m, kind)] = {"dtype": "F32", "shape": [1, d]}
    h["final_norm.weight"] = {"dtype": "F32", "shape": [d]}
    h["final_norm.bias"] = {"dtype": "F32", "shape": [d]}
    return st_bytes(retiled(h)[0])


def train_seeds(h, d):
    """The training state of the trained model: incomplete, or with bad rank counts."""
    s = {}
    no_rng = json.loads(json.dumps(h))
    del no_rng["train.rng"]
    no_rng, n = retiled(no_rng)
    s["train-no-rng"] = st_bytes(no_rng, d[:n])
    for name, ranks in [("train-cursor-empty", 0), ("train-cursor-4097", 4097)]:
        c = with_tensor(h, "train.data_cursor", shape=[ranks])
        c, n = retiled(c)
        s[name] = gz(st_bytes(c, (d + b"\0" * n)[:n]))
    step = with_tensor(h, "train.step", dtype="F64")
    s["train-step-f64"] = st_bytes(step, d)
    no_moment = json.loads(json.dumps(h))
    del no_moment["optim.m.embed.weight"]
    no_moment, n = retiled(no_moment)
    s["train-moment-missing"] = st_bytes(no_moment, d[:n])
    return s


def gzip_seeds(plain):
    """Damage to the gzip member of a valid checkpoint."""
    g = gz(plain)
    s = {}
    for frac, name in [(0.001, "gz-cut-in-header"), (0.5, "gz-cut-in-data"),
                       (None, "gz-cut-before-trailer")]:
        s[name] = g[:-8] if frac is None else g[:max(3, int(len(g) * frac))]
    s["gz-cut-in-trailer"] = g[:-3]
    bad_crc = bytearray(g)
    bad_crc[-8] ^= 1
    s["gz-bad-crc"] = bytes(bad_crc)
    bad_len = bytearray(g)
    bad_len[-4] ^= 1
    s["gz-bad-isize"] = bytes(bad_len)
    s["gz-trailing-garbage"] = g + b"garbage"
    s["gz-two-members"] = g + gz(b"more")
    s["gz-second-member-empty"] = g + gz(b"")
    bad_method = bytearray(g)
    bad_method[2] = 7
    s["gz-bad-method"] = bytes(bad_method)
    flip = bytearray(g)
    flip[len(g) // 2] ^= 0x10
    s["gz-bit-flip"] = bytes(flip)
    s["gz-with-name-and-comment"] = (b"\x1f\x8b\x08\x18" + g[4:10] + b"m.safetensors\0note\0" +
                                     g[10:])
    hcrc = b"\x1f\x8b\x08\x0a" + g[4:10] + b"m.safetensors\0"  # FHCRC | FNAME
    crc16 = struct.pack("<H", zlib.crc32(hcrc) & 0xFFFF)
    s["gz-header-crc"] = hcrc + crc16 + g[10:]
    s["gz-header-crc-wrong"] = hcrc + bytes([crc16[0] ^ 1, crc16[1]]) + g[10:]
    s["gz-magic-only"] = b"\x1f\x8b"
    s["gz-one-byte"] = b"\x1f"
    s["gz-empty-content"] = gz(b"")
    s["gz-bomb-zeros"] = gz(st_bytes({"z": {"dtype": "U8", "shape": [1 << 18],
                                            "data_offsets": [0, 1 << 18]}}, b"\0" * (1 << 18)))
    s["gz-lying-model-2g"] = gz(lying_model(1 << 24))
    s["gz-lying-model-64m"] = gz(lying_model(1 << 19))
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    s["gz-raw-deflate-no-wrapper"] = raw.compress(plain) + raw.flush()
    s["empty-file"] = b""
    s["seven-bytes"] = b"\x08\0\0\0\0\0\0"
    return s


def limit_seeds(h, d):
    """Headers past the reader's counting limits (tokenformer-checkpoint(5)): more top-level
    entries than TF_ST_MAX_TENSORS, more JSON values than TF_ST_MAX_TOKENS, and more tensors
    than a model of the stated config can hold. Stored gzip'ed: they repeat."""
    s = {}
    members = b"{" + b",".join(b'"t%05x":0' % i for i in range(65537)) + b"}"
    s["limit-members-gz"] = gz(st_bytes(members))
    values = b'{"t":{"dtype":"U8","shape":[' + b",".join([b"0"] * (1 << 21)) + b'],"data_offsets":[0,0]}}'
    s["limit-values-gz"] = gz(st_bytes(values))
    extra = json.loads(json.dumps(h))
    for i in range(40):
        extra["extra.%02d" % i] = {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}
    s["limit-config-tensors"] = st_bytes(retiled(extra)[0], d)
    return s


def ckpt_seeds(bin_dir):
    with tempfile.TemporaryDirectory() as tmp:
        valid = valid_files(bin_dir, tmp)
    seeds = dict(valid)
    h, d = st_split(valid["valid-init-plain"])
    th, td = st_split(valid["valid-train-plain"])
    seeds.update(header_seeds(h, d))
    seeds.update(meta_seeds(h, d))
    seeds.update(train_seeds(th, td))
    seeds.update(gzip_seeds(valid["valid-init-plain"]))
    seeds.update(limit_seeds(h, d))
    return seeds


def config_seeds():
    s = {}
    for root, _, files in os.walk("configs"):
        for f in sorted(files):
            if f.endswith(".yaml"):
                with open(os.path.join(root, f), "rb") as src:
                    s["valid-" + f[:-5].replace(".", "_")] = src.read()
    with open("configs/tiny.yaml", "rb") as src:
        tiny = src.read()
    s["tiny-with-sets"] = (tiny + b"\0model.d_model=64\0train.lr=1e-3\0grow.qkv_tokens=+8\0"
                           b"train.data=\0grow.rescale=true\0init.seed=18446744073709551615")
    s["sets-only"] = b"\0model.n_heads=4\0model.rotary_pct=0.5\0train.log=a b.jsonl"
    s["sets-bad"] = (b"\0nodot=1\0model.=1\0.x=1\0model.d_model\0model.d_model==3\0"
                     b"train.data=\xff\xfe\0model.norm=\0grow.ffn_tokens=-3\0bogus.key=1\0"
                     b"model.bogus=1\0model.vocab_size=0x10")
    s["wrong-types"] = (b"model:\n  d_model: \"32\"\n  n_layers: 2.5\n  n_heads: [1]\n"
                        b"  seq_len: {a: 1}\n  norm: 3\n")
    s["wrong-bool"] = b"grow:\n  rescale: yes\n  keep_optimizer: 1\n"
    s["wrong-negative-seed"] = b"init:\n  seed: -1\n"
    s["floats-special"] = b"train:\n  lr: .inf\n  min_lr: .nan\n  warmup: -0.0\n"
    s["huge-numbers"] = (b"model:\n  d_model: 99999999999999999999999\ntrain:\n  lr: 1e309\n"
                         b"  steps: 1e12\n  seed: 18446744073709551616\n")
    s["number-forms"] = b"model:\n  d_model: 0x20\n  n_layers: 0o2\n  seq_len: 1_000\n  n_heads: 010\n"
    s["growth-forms"] = b"grow:\n  qkv_tokens: \"+256\"\n  proj_tokens: +0\n  ffn_tokens: ++3\n"
    s["deep-flow"] = b"model: " + b"[" * 3000 + b"]" * 3000 + b"\n"
    s["deep-map"] = b"model: " + b"{a: " * 1000 + b"1" + b"}" * 1000 + b"\n"
    s["deep-block"] = b"model:\n" + b"".join(b"  " * i + b"k:\n" for i in range(1, 60))
    s["deep-flow-64"] = b"model: " + b"[" * 63 + b"]" * 63 + b"\n"  # at the nesting limit
    s["deep-flow-65"] = b"model: " + b"[" * 64 + b"]" * 64 + b"\n"  # one past it
    s["deep-flow-200k-open"] = b"[" * 200000  # the quadratic case, unclosed
    s["deep-block-70"] = b"".join(b"  " * i + b"k%d:\n" % i for i in range(70))
    s["tags-fitting"] = b"model:\n  d_model: !!int 32\n  norm: !!str softmax\ntrain:\n  lr: !!float 1e-3\n"
    s["tags-on-key"] = b"model:\n  !!str d_model: 32\n"
    s["tags-on-section"] = b"train: !python/object\n  lr: 1\n"
    s["tags-on-root"] = b"!!map\nmodel:\n  d_model: 32\n"
    s["underflow"] = b"train:\n  lr: 1e-400\n  min_lr: 1e-310\n"
    s["adamw-floats"] = b"train:\n  beta2: 0.99999999999\n  eps: 1e-45\n  lr: 1e-40\n"
    laughs = [b"a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]"]
    for i, c in enumerate("bcdefghi"):
        prev = "abcdefgh"[i]
        laughs.append(b"%s: &%s [%s]" % (c.encode(), c.encode(),
                                         b",".join([b"*" + prev.encode()] * 9)))
    s["billion-laughs"] = b"\n".join(laughs) + b"\n"
    s["billion-laughs-in-key"] = (b"x: &x [\"lol\",\"lol\",\"lol\"]\ny: &y [*x,*x,*x,*x]\n"
                                  b"model:\n  d_model: *y\n")
    s["alias-section"] = b"model: &m\n  d_model: 64\n  n_heads: 4\ninit: *m\n"
    s["alias-value"] = b"model:\n  d_model: &v 64\n  seq_len: *v\n"
    s["alias-undefined"] = b"model:\n  d_model: *nope\n"
    s["merge-key"] = b"base: &b {d_model: 64}\nmodel:\n  <<: *b\n"
    s["tags"] = b"model:\n  d_model: !!str 32\n  n_layers: !!int \"2\"\n  norm: !custom softmax\n"
    s["non-utf8"] = b"model:\n  norm: \xff\xfe\n"
    s["non-utf8-key"] = b"mod\xc3\x28l:\n  d_model: 8\n"
    s["utf16-bom"] = "model:\n  d_model: 8\n".encode("utf-16")
    s["utf8-bom"] = b"\xef\xbb\xbfmodel:\n  d_model: 8\n"
    s["two-documents"] = b"model:\n  d_model: 8\n---\nmodel:\n  d_model: 16\n"
    s["document-end"] = b"---\nmodel: {d_model: 8}\n...\n"
    s["empty"] = b""
    s["null-root"] = b"~\n"
    s["scalar-root"] = b"hello\n"
    s["sequence-root"] = b"- model\n- init\n"
    s["comments-only"] = b"# nothing\n# here\n"
    s["duplicate-key"] = b"model:\n  d_model: 8\n  d_model: 16\n"
    s["duplicate-section"] = b"model: {}\nmodel: {}\n"
    s["unknown-section"] = b"optim:\n  lr: 1\n"
    s["unknown-key"] = b"model:\n  width: 8\n"
    s["key-not-scalar"] = b"model:\n  [a, b]: 8\n"
    s["section-not-mapping"] = b"model: [1, 2]\n"
    s["string-escapes"] = (b"train:\n  data: \"a\\0b\"\n  valid: \"\\x1b[2J\\u0085\\uFFFE\"\n"
                           b"  log: 'it''s'\n")
    s["string-1023"] = b"train:\n  data: " + b"a" * 1023 + b"\n"
    s["string-1024"] = b"train:\n  data: " + b"a" * 1024 + b"\n"
    s["string-multiline"] = b"train:\n  data: |\n    line one\n    line two\n"
    s["syntax-error"] = b"model:\n  d_model: [8\n"
    s["tab-indent"] = b"model:\n\td_model: 8\n"
    s["json-model"] = (b'{"vocab_size":256,"d_model":32,"n_layers":2,"n_heads":2,"seq_len":32,'
                       b'"qkv_tokens":32,"proj_tokens":32,"ffn_tokens":64,"qkv_ref_tokens":32,'
                       b'"proj_ref_tokens":32,"ffn_ref_tokens":64,"norm":"l2_norm_gelu",'
                       b'"rotary_pct":0.25,"rotary_base":10000.0}')
    s["json-model-bad"] = (b'{"vocab_size":256,"d_model":-1,"n_layers":2,"n_heads":2,'
                           b'"seq_len":32,"norm":"softmax","rotary_pct":1e400}')
    s["min-lr-above-lr"] = b"train:\n  lr: 1.0e-4\n  min_lr: 1.0e-3\n"
    return s


def prompt_seeds():
    def opts(b0=0, temp=4, top_k=0, top_p=0, seed=1, n=8, chunk=0):
        return bytes([b0, temp, top_k, top_p, seed, n, chunk])
    s = {}
    s["plain-text"] = opts() + b"In the beginning God created the heaven and the earth."
    s["greedy-gelu-l2"] = opts(b0=0x81, n=40) + b"And God said, Let there be light"
    s["softmax-top-k"] = opts(b0=2, top_k=5, n=20) + b"hello"
    s["top-p-tiny"] = opts(b0=3, temp=5, top_p=5, n=12) + b"x" * 30
    s["top-k-over-v"] = opts(top_k=255, top_p=1, temp=7, n=33, chunk=1) + b"abc"
    s["temperature-tiny"] = opts(temp=1, top_p=7, n=17, chunk=3) + b"\n"
    s["temperature-zero"] = opts(temp=0, n=5) + b"zero"
    s["empty-prompt"] = opts(n=3)
    s["short-input"] = b"\x01"
    s["no-input"] = b""
    s["all-bytes"] = opts(b0=0x40, n=20, chunk=19) + bytes(range(256))
    s["invalid-utf8"] = opts(b0=1, n=2, chunk=5) + b"\xff\xfe\xc3\x28\xe2\x82\0\0\x80"
    s["long-prompt-whole"] = opts(b0=0x42, n=40, chunk=7) + b"0123456789" * 50
    return s


def tokenizer_seeds():
    """fuzz_tokenizer: first byte even: a tokenizer.json; odd: text for the GPT-NeoX tokenizer."""
    with open("tests/fixtures/tokenizer/small.json", "rb") as f:
        small = f.read()
    s = {}
    s["json-small"] = b"\0" + small
    s["json-small-strings"] = b"\0" + small.replace(b'[["a", "b"], ["\xc4\xa0", "ab"], '
                                                      b'["ab", "c"], ["\'", "s"]]',
                                                      b'["a b", "\xc4\xa0 ab", "ab c", "\' s"]')
    s["json-prefix-space"] = b"\0" + small.replace(b'"add_prefix_space": false',
                                                   b'"add_prefix_space": true')
    s["json-no-normalizer"] = b"\0" + small.replace(b'{"type": "NFC"}', b"null")
    s["json-no-regex"] = b"\0" + small.replace(b'"use_regex": true}, "post',
                                               b'"use_regex": false}, "post')
    s["json-truncated"] = b"\0" + small[: len(small) // 2]
    s["json-wordpiece"] = b"\0" + small.replace(b'"BPE"', b'"WordPiece"')
    s["json-unknown-merge"] = b"\0" + small.replace(b'["ab", "c"]', b'["ab", "q"]')
    s["json-duplicate-id"] = b"\0" + small.replace(b'"c": 5', b'"c": 4')
    s["json-empty"] = b"\0{}"
    texts = {
        "text-traps": "a  In<|endoftext|>hello 'S world\u2019s  x",
        "text-nfc": "cafe\u0301 \u1100\u1161\u11a8 \u212b",
        "text-spaces": "x" + " " * 30 + "y\t\t\n\r\n  z   ",
        "text-scripts": "\u6211\u7231 \u0645\u0631\u062d\u0628\u0627 \u0967\u0968 \U0001f600\U0001f44d\U0001f3fd",
        "text-empty": "",
    }
    for name, t in texts.items():
        s[name] = b"\1" + t.encode()
    s["text-all-bytes"] = b"\1" + bytes(range(256))
    s["text-invalid"] = b"\3" + b"ok \xe2\x82 \xf0\x80\x80 \xed\xa0\x80 \xc0\xaf \xff"
    return s


def main():
    bin_dir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build/bin")
    for harness, seeds in [("ckpt", ckpt_seeds(bin_dir)), ("config", config_seeds()),
                           ("prompt", prompt_seeds()), ("tokenizer", tokenizer_seeds())]:
        shutil.rmtree(os.path.join(OUT, harness), ignore_errors=True)
        os.makedirs(os.path.join(OUT, harness))
        for name, data in sorted(seeds.items()):
            put(harness, name, data)
        print("%s: %d seeds, %d bytes" % (harness, len(seeds), sum(map(len, seeds.values()))))


if __name__ == "__main__":
    main()
