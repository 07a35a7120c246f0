"""make_official.py: fixtures of the released TokenFormer checkpoint layout (tests/fixtures/official).

Small models written exactly as the official code's files are: torch.save of the GPT-NeoX
"sequential" state dict (plain fp32 as zero_to_fp32 writes it, fp16, nested under "module"
with DeepSpeed's other entries, and tensors stored as strided and offset views), their
config.json and a GPT-NeoX YAML config; the official forward's logits in float64 for a few
token sequences; and hostile files the reader must refuse. The forward below is written from
the official model's description (tf-convert(1)), independently of tokenformer_ref.py:
scores x K^T divided by their L2 norm over the n tokens (no epsilon) times sqrt(n), exact
GELU, times V; parameter-free pre-LayerNorm (eps 1e-5); causal attention with 1/sqrt(d_h);
rotate-half RoPE on the first rotary_pct of each head; final LayerNorm with weight and bias;
logits against the embedding.

Usage: /usr/bin/python3 tests/reference/make_official.py --out tests/fixtures/official
"""

import argparse
import collections
import io
import json
import math
import os
import struct
import sys
import zipfile

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenformer_ref as ref  # noqa: E402  (its safetensors writer only)

CONFIG = collections.OrderedDict(
    num_layers=2, hidden_size=32, num_attention_heads=2, qkv_slot_num=24, proj_slot_num=20,
    ffn_slot_num=40, seq_length=16, max_position_embeddings=16, rotary_pct=0.25,
    rotary_emb_base=10000, norm_activation_type="l2_norm_gelu", norm="layernorm_nonparam",
    final_norm="layernorm", pos_emb="rotary", no_weight_tying=False)
VOCAB = 96
B, T = 3, 12


def official_names(cfg):
    """[(name, shape)] in the order of the official module."""
    L, d = cfg["num_layers"], cfg["hidden_size"]
    out = [("sequential.0.word_embeddings.weight", (VOCAB, d))]
    for l in range(L):
        for slot, kind in (("attention.query", "qkv"), ("attention.key", "qkv"),
                           ("attention.value", "qkv"), ("attention.proj", "proj"),
                           ("mlp", "ffn")):
            n = cfg[kind + "_slot_num"]
            for part in ("key", "value"):
                out.append(("sequential.%d.%s.%s_param_tokens" % (l + 2, slot, part), (n, d)))
    out += [("sequential.%d.norm.weight" % (L + 3), (d,)),
            ("sequential.%d.norm.bias" % (L + 3), (d,))]
    return out


def make_params(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    for name, shape in official_names(cfg):
        std, mean = 0.2, 0.0
        if "word_embeddings" in name:
            std = 0.5
        elif name.endswith("key_param_tokens"):
            std = 1.0 / math.sqrt(cfg["hidden_size"])
        elif ".norm." in name:
            std, mean = 0.1, (1.0 if name.endswith("weight") else 0.0)
        t = torch.randn(shape, generator=g, dtype=torch.float64) * std + mean
        sd[name] = t.to(torch.float32)
    return sd

# ---------------------------------------------------------------------------- official forward


def pattention(x, keys, values):
    a = x @ keys.t()
    n = a.shape[-1]
    a = a / torch.norm(a, p=2, dim=-1, keepdim=True) * math.sqrt(n)
    return F.gelu(a) @ values


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rotary(x, rot, base):
    """x (B, T, H, d_h): RoPE on the first rot channels, GPT-NeoX's rotate-half form."""
    if rot == 0:
        return x
    inv_freq = 1.0 / (base ** (torch.arange(0, rot, 2, dtype=torch.float64) / rot))
    t = torch.arange(x.shape[1], dtype=torch.float64)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)[None, :, None, :]
    xr, xp = x[..., :rot], x[..., rot:]
    return torch.cat((xr * emb.cos() + rotate_half(xr) * emb.sin(), xp), dim=-1)


def official_forward(sd, cfg, ids):
    p = {k: v.to(torch.float64) for k, v in sd.items()}
    L, d, H = cfg["num_layers"], cfg["hidden_size"], cfg["num_attention_heads"]
    dh = d // H
    rot = int(dh * cfg["rotary_pct"])
    emb = p["sequential.0.word_embeddings.weight"]
    x = emb[ids]
    Bn, Tn = ids.shape
    mask = torch.ones(Tn, Tn, dtype=torch.bool).triu(1)
    for l in range(L):
        pre = "sequential.%d." % (l + 2)

        def pa(slot, inp):
            return pattention(inp, p[pre + slot + ".key_param_tokens"],
                              p[pre + slot + ".value_param_tokens"])

        h = F.layer_norm(x, (d,), eps=1e-5)
        q, k, v = (pa("attention." + s, h).view(Bn, Tn, H, dh)
                   for s in ("query", "key", "value"))
        q = rotary(q, rot, cfg["rotary_emb_base"]).permute(0, 2, 1, 3)
        k = rotary(k, rot, cfg["rotary_emb_base"]).permute(0, 2, 1, 3)
        v = v.permute(0, 2, 1, 3)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(dh)
        att = att.masked_fill(mask, float("-inf")).softmax(-1)
        o = (att @ v).permute(0, 2, 1, 3).reshape(Bn, Tn, d)
        x = x + pa("attention.proj", o)
        x = x + pa("mlp", F.layer_norm(x, (d,), eps=1e-5))
    fin = "sequential.%d.norm." % (L + 3)
    y = F.layer_norm(x, (d,), p[fin + "weight"], p[fin + "bias"], eps=1e-5)
    return y @ emb.t()

# ---------------------------------------------------------------------------- file variants


def as_views(sd):
    """The same values stored as views: key tokens as transposes of contiguous (d, n) storage
    (strided), everything else as slices of one shared storage (offsets)."""
    flat_parts, out = [], collections.OrderedDict()
    for name, t in sd.items():
        if not name.endswith("key_param_tokens"):
            flat_parts.append(t.flatten())
    flat = torch.cat(flat_parts)
    off = 0
    for name, t in sd.items():
        if name.endswith("key_param_tokens"):
            out[name] = t.t().contiguous().t()
            assert not out[name].is_contiguous()
        else:
            out[name] = flat[off:off + t.numel()].view(t.shape)
            off += t.numel()
    return out


def deepspeed_state(sd):
    """A DeepSpeed mp_rank_00_model_states.pt: fp16 module tensors as views of one flat
    buffer, a rotary buffer, and the bookkeeping entries DeepSpeed saves beside them."""
    flat = torch.cat([t.flatten() for t in sd.values()]).half()
    module, off = collections.OrderedDict(), 0
    for name, t in sd.items():
        module[name] = flat[off:off + t.numel()].view(t.shape)
        off += t.numel()
    module["sequential.2.attention.rotary_emb.inv_freq"] = torch.ones(4)
    shapes = collections.OrderedDict((k, v.shape) for k, v in sd.items())
    return {"module": module, "buffer_names": ["sequential.2.attention.rotary_emb.inv_freq"],
            "optimizer": None, "param_shapes": [shapes], "lr_scheduler": {"last_epoch": 7},
            "sparse_tensor_module_names": set(), "skipped_steps": 0, "global_steps": 7,
            "global_samples": 56, "dp_world_size": 1, "mp_world_size": 1,
            "ds_config": {"train_batch_size": 8, "fp16": {"enabled": True}},
            "ds_version": "0.10.0"}


def neox_yaml(cfg):
    lines = ["# GPT-NeoX training config (the official repository's layout: JSON-like YAML)", "{"]
    for k, v in cfg.items():
        val = json.dumps(v) if not isinstance(v, bool) else ("True" if v else "False")
        lines.append('  "%s": %s,%s' % (k, val, "  # see configs/neox_arguments.md"
                                        if k == "norm_activation_type" else ""))
    lines += ['  "train_micro_batch_size_per_gpu": 8,', '  "tokenizer-type": "HFTokenizer",',
              '  "use_wandb": False,', "}"]
    return "\n".join(lines) + "\n"


def rezip(src, dst, mutate=None, compress=zipfile.ZIP_STORED):
    """Copies a torch.save zip entry by entry, mutate(name, bytes) -> bytes applied."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compress) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if mutate:
                data = mutate(info.filename, data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = compress  # a fixed date: the same bytes every time
            zout.writestr(fixed, data)


def write_hostile(out):
    """Files the reader must refuse, each made from a valid two-tensor torch.save file."""
    bad = os.path.join(out, "bad")
    os.makedirs(bad, exist_ok=True)
    plain = os.path.join(bad, "valid.bin")
    torch.save(collections.OrderedDict(a=torch.arange(6.0).reshape(2, 3), b=torch.ones(4)),
               plain)
    rezip(plain, os.path.join(bad, "compressed.bin"), compress=zipfile.ZIP_DEFLATED)
    evil = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R."
    rezip(plain, os.path.join(bad, "os_system.bin"),
          lambda n, d: evil if n.endswith("data.pkl") else d)
    unknown = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n)R."
    rezip(plain, os.path.join(bad, "unknown_global.bin"),
          lambda n, d: unknown if n.endswith("data.pkl") else d)
    rezip(plain, os.path.join(bad, "short_storage.bin"),
          lambda n, d: d[:-4] if n.endswith("data/1") else d)

    def far_offset(n, d):
        if not n.endswith("data.pkl"):
            return d
        i = d.index(b"QK\x00")  # the first tensor's storage offset, 0
        return d[:i] + b"QJ\x00\x00\x01\x00" + d[i + 3:]
    rezip(plain, os.path.join(bad, "offset_past_end.bin"), far_offset)
    sd = torch.load(plain)
    torch.save(sd, os.path.join(bad, "legacy.pt"), _use_new_zipfile_serialization=False)
    with open(os.path.join(bad, "bare.pkl"), "wb") as f:
        import pickle
        pickle.dump({"a": 1}, f, protocol=2)
    open(os.path.join(bad, "empty.bin"), "wb").close()


def write_fuzz_seeds(seeds, out):
    """The seed corpus of tests/fuzz/fuzz_torch.c: the hostile files, a DeepSpeed-like nested
    file with views, fp16 and bf16 storages, and the bare pickles of both."""
    import shutil
    os.makedirs(seeds, exist_ok=True)
    bad = os.path.join(out, "bad")
    for name in sorted(os.listdir(bad)):
        if name != "empty.bin":
            shutil.copy(os.path.join(bad, name), os.path.join(seeds, name))
    with zipfile.ZipFile(os.path.join(bad, "valid.bin")) as z:
        with open(os.path.join(seeds, "valid.pkl"), "wb") as f:
            f.write(z.read("valid/data.pkl"))
    base = torch.arange(12.0).half()
    sd = collections.OrderedDict(a=base[2:8].view(2, 3), b=base[::2],
                                 c=torch.ones(2, dtype=torch.bfloat16))
    nested = os.path.join(seeds, "nested.pt")
    torch.save({"module": sd, "param_shapes": [collections.OrderedDict(a=torch.Size([2, 3]))],
                "s": set(), "f": 1.5, "n": None}, nested)
    with zipfile.ZipFile(nested) as z:
        with open(os.path.join(seeds, "nested.pkl"), "wb") as f:
            f.write(z.read("nested/data.pkl"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", help="also write the fuzz seed corpus there")
    args = ap.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    cfg = CONFIG
    sd = make_params(cfg, 19)
    plain = os.path.join(out, "plain.bin")
    torch.save(sd, plain)
    half = collections.OrderedDict((k, v.half()) for k, v in sd.items())
    torch.save(half, os.path.join(out, "fp16.bin"))
    bf16 = collections.OrderedDict((k, v.bfloat16()) for k, v in sd.items())
    torch.save(bf16, os.path.join(out, "bf16.bin"))
    torch.save(as_views(sd), os.path.join(out, "views.bin"))
    torch.save(deepspeed_state(sd), os.path.join(out, "deepspeed.pt"))
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "neox.yml"), "w") as f:
        f.write(neox_yaml(cfg))
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(0, VOCAB, (B, T + 1), generator=g)
    logits = official_forward(sd, cfg, ids[:, :T])
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
    expect = collections.OrderedDict()
    for k, v in sd.items():
        expect[k] = v
        expect["half." + k] = v.half().float()
        expect["bf16." + k] = v.bfloat16().float()
    expect["ids"] = ids.to(torch.int64)
    expect["logits"] = logits
    expect["loss"] = loss.reshape(())
    ref.write_file(os.path.join(out, "expected.safetensors"), expect,
                   {"about": "official layout fixtures (tests/reference/make_official.py)"})
    write_hostile(out)
    if args.seeds:
        write_fuzz_seeds(args.seeds, out)
    # self-checks: what torch reads back is what was written
    for name in ("plain.bin", "views.bin"):
        back = torch.load(os.path.join(out, name))
        assert all(torch.equal(back[k], sd[k]) for k in sd), name
    ds = torch.load(os.path.join(out, "deepspeed.pt"))["module"]
    assert all(torch.equal(ds[k].float(), half[k].float()) for k in sd)
    print("official fixtures: %d tensors, loss %.10f, in %s" % (len(sd), loss.item(), out))


if __name__ == "__main__":
    main()
