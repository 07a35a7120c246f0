"""tokenformer_ref.py: a PyTorch reference of docs/model.md §1-§2 (Pattention, the network, the loss)
and of the checkpoint format (a gzip stream of a safetensors file). Written from the spec, for
clarity and float64 checks, not for speed (tests/reference/bench_ref.py is the fast peer).

Dimensions: B = batch, T = sequence, V = vocab, d = d_model, H = heads, d_h = d / H,
n = parameter tokens of one Pattention, L = layers.

Needs only the standard library and torch (run with /usr/bin/python3 on Debian 12).
"""

import gzip
import json
import math
import struct
import sys

import torch
import torch.nn.functional as F

NORMS = ("l2_norm_gelu", "gelu_l2_norm", "softmax")
KINDS = ("qkv", "proj", "ffn")
# The config JSON object of a checkpoint has exactly these keys.
INT_KEYS = ("vocab_size", "d_model", "n_layers", "n_heads", "seq_len",
            "qkv_tokens", "proj_tokens", "ffn_tokens",
            "qkv_ref_tokens", "proj_ref_tokens", "ffn_ref_tokens")
CONFIG_KEYS = INT_KEYS + ("norm", "rotary_pct", "rotary_base")
PATTN_EPS = 1e-5  # max(|row|, eps) in the L2 normalisations
LN_EPS = 1e-5     # block and final LayerNorm

# ---------------------------------------------------------------------------- config


def make_config(**kw):
    """A model config dict; ref token counts default to the token counts (a fresh model)."""
    cfg = dict(vocab_size=256, d_model=32, n_layers=2, n_heads=4, seq_len=16,
               qkv_tokens=32, proj_tokens=32, ffn_tokens=128, norm="l2_norm_gelu",
               rotary_pct=0.25, rotary_base=10000.0)
    cfg.update(kw)
    for k in KINDS:
        cfg.setdefault(k + "_ref_tokens", cfg[k + "_tokens"])
    cfg["rotary_pct"] = float(cfg["rotary_pct"])
    cfg["rotary_base"] = float(cfg["rotary_base"])
    check_config(cfg)
    return {k: cfg[k] for k in CONFIG_KEYS}


def check_config(cfg):
    """Raises ValueError unless cfg has exactly the config keys with sane values."""
    if set(cfg) != set(CONFIG_KEYS):
        raise ValueError("config keys: got %s, want %s" % (sorted(cfg), sorted(CONFIG_KEYS)))
    for k in INT_KEYS:
        if not isinstance(cfg[k], int) or isinstance(cfg[k], bool) or cfg[k] < 1:
            raise ValueError("config %s: want a positive integer, got %r" % (k, cfg[k]))
    if cfg["norm"] not in NORMS:
        raise ValueError("config norm: want one of %s, got %r" % (NORMS, cfg["norm"]))
    if cfg["d_model"] % cfg["n_heads"]:
        raise ValueError("config: d_model %d not a multiple of n_heads %d"
                         % (cfg["d_model"], cfg["n_heads"]))
    if not 0.0 <= cfg["rotary_pct"] <= 1.0 or rotary_dims(cfg) % 2:
        raise ValueError("config rotary_pct %r: want 0..1 and an even rotary width"
                         % cfg["rotary_pct"])
    if not cfg["rotary_base"] > 0:
        raise ValueError("config rotary_base: want > 0")


def rotary_dims(cfg):
    """r = int(d_h * rotary_pct): RoPE acts on the first r channels of each head."""
    return int(cfg["d_model"] // cfg["n_heads"] * cfg["rotary_pct"])


def slot_kind(slot):
    """query/key/value use the qkv counts, proj the proj counts, mlp the ffn counts."""
    return {"query": "qkv", "key": "qkv", "value": "qkv", "proj": "proj", "mlp": "ffn"}[slot]


def slot_prefix(layer, slot):
    if slot == "mlp":
        return "layers.%d.mlp" % layer
    return "layers.%d.attention.%s" % (layer, slot)


SLOTS = ("query", "key", "value", "proj", "mlp")


def param_shapes(cfg):
    """[(name, shape)] of every parameter, in block order (embed, layers, final norm)."""
    d = cfg["d_model"]
    out = [("embed.weight", (cfg["vocab_size"], d))]
    for l in range(cfg["n_layers"]):
        for s in SLOTS:
            n = cfg[slot_kind(s) + "_tokens"]
            out.append((slot_prefix(l, s) + ".key_param_tokens", (n, d)))
            out.append((slot_prefix(l, s) + ".value_param_tokens", (n, d)))
    out += [("final_norm.weight", (d,)), ("final_norm.bias", (d,))]
    return out


def init_params(cfg, gen, key_std=0.5, value_std=0.2, embed_std=0.5, norm_std=0.1):
    """Random float32 parameters: keys N(0, key_std), values N(0, value_std), embedding
    N(0, embed_std), final norm weight 1 + N(0, norm_std), bias N(0, norm_std)."""
    p = {}
    for name, shape in param_shapes(cfg):
        if name == "embed.weight":
            std, mean = embed_std, 0.0
        elif name.endswith("key_param_tokens"):
            std, mean = key_std, 0.0
        elif name.endswith("value_param_tokens"):
            std, mean = value_std, 0.0
        else:
            std, mean = norm_std, 1.0 if name.endswith("weight") else 0.0
        t = torch.randn(shape, generator=gen, dtype=torch.float64) * std + mean
        p[name] = t.to(torch.float32)
    return p

# ---------------------------------------------------------------------------- layers


def pattention(x, keys, values, norm, n_ref):
    """Pattention, docs/model.md §1.2: A = X K^T (T x n); S = Theta(A) row-wise; O = S V.
    l2_norm_gelu: S = GELU(sqrt(n_ref) A / max(|A_i|, eps))
    gelu_l2_norm: S = sqrt(n_ref) g / max(|g_i|, eps),  g = GELU(A)
    softmax:      S = n_ref softmax(A)
    GELU is the exact erf form; n_ref is the config's ref token count (n for a fresh model)."""
    a = x @ keys.t()
    tau = math.sqrt(n_ref)
    if norm == "l2_norm_gelu":
        r = a.norm(dim=-1, keepdim=True).clamp_min(PATTN_EPS)
        s = F.gelu(tau * a / r)
    elif norm == "gelu_l2_norm":
        g = F.gelu(a)
        s = tau * g / g.norm(dim=-1, keepdim=True).clamp_min(PATTN_EPS)
    elif norm == "softmax":
        s = n_ref * torch.softmax(a, dim=-1)
    else:
        raise ValueError("unknown norm %r" % norm)
    return s @ values


def layer_norm(x, weight=None, bias=None):
    """y = (x - mean) / sqrt(var + 1e-5) over the last axis (biased variance), then
    y * weight + bias when given (the final norm); the block norms have no parameters."""
    return F.layer_norm(x, (x.shape[-1],), weight, bias, eps=LN_EPS)


def rope(x, r, base):
    """GPT-NeoX rotate-half RoPE on the first r channels of each head; x is (B, T, H, d_h).
    theta_m = base^(-2m/r); for m < r/2 at position p:
      x'_m = x_m cos(p theta_m) - x_{m+r/2} sin(p theta_m)
      x'_{m+r/2} = x_{m+r/2} cos(p theta_m) + x_m sin(p theta_m)
    Tables are computed in float64, then cast to x's dtype."""
    if r == 0:
        return x
    T = x.shape[1]
    half = r // 2
    theta = base ** (-2.0 * torch.arange(half, dtype=torch.float64) / r)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * theta[None, :]  # (T, r/2)
    cos = torch.cos(ang).to(x.dtype)[None, :, None, :]
    sin = torch.sin(ang).to(x.dtype)[None, :, None, :]
    x1, x2, rest = x[..., :half], x[..., half:r], x[..., r:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin, rest], dim=-1)


def causal_attention(q, k, v):
    """Per head: softmax(q k^T / sqrt(d_h) + causal mask) v; q, k, v are (B, T, H, d_h)."""
    B, T, H, dh = q.shape
    q, k, v = (t.permute(0, 2, 1, 3) for t in (q, k, v))  # (B, H, T, d_h)
    att = (q @ k.transpose(-1, -2)) / math.sqrt(dh)      # (B, H, T, T)
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    att = att.masked_fill(future, float("-inf")).softmax(dim=-1)
    return (att @ v).permute(0, 2, 1, 3).reshape(B, T, H * dh)


def block(x, params, cfg, l):
    """One pre-norm layer, docs/model.md §2.1: x += Proj(Attn(RoPE(Q(h), K(h)), V(h))), h = LN0(x);
    then x += FFN(LN0(x)). Every projection is a Pattention."""
    B, T, d = x.shape
    H = cfg["n_heads"]

    def pa(slot, inp):
        pre = slot_prefix(l, slot)
        kind = slot_kind(slot)
        return pattention(inp, params[pre + ".key_param_tokens"],
                          params[pre + ".value_param_tokens"], cfg["norm"],
                          cfg[kind + "_ref_tokens"])

    h = layer_norm(x)
    q, k, v = (pa(s, h).view(B, T, H, d // H) for s in ("query", "key", "value"))
    r = rotary_dims(cfg)
    q, k = rope(q, r, cfg["rotary_base"]), rope(k, r, cfg["rotary_base"])
    x = x + pa("proj", causal_attention(q, k, v))
    return x + pa("mlp", layer_norm(x))


def forward(params, cfg, tokens):
    """logits (B, T, V) = LN_final(layers(E[tokens])) E^T; tokens (B, T) int64."""
    x = params["embed.weight"][tokens]
    for l in range(cfg["n_layers"]):
        x = block(x, params, cfg, l)
    y = layer_norm(x, params["final_norm.weight"], params["final_norm.bias"])
    return y @ params["embed.weight"].t()


def loss_fn(logits, targets):
    """Mean cross-entropy over all B*T predicted tokens."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

def eval_text(params, cfg, data):
    """tf-eval's definition: mean loss over all N-1 predicted bytes of data, the bytes cut into
    consecutive windows of S = seq_len starting at 0, S, 2S, ...; the window at s feeds
    t_s..t_{s+S-1} and is scored on t_{s+1}..t_{s+S}; the last window is shorter.
    Returns (predicted bytes, mean loss in nats)."""
    S = cfg["seq_len"]
    t = torch.tensor(list(data), dtype=torch.int64)
    total, count = 0.0, 0
    for s in range(0, len(data) - 1, S):
        n = min(S, len(data) - 1 - s)
        logits = forward(params, cfg, t[s:s + n].unsqueeze(0))
        total += F.cross_entropy(logits[0], t[s + 1:s + 1 + n], reduction="sum").item()
        count += n
    return count, total / count

# ---------------------------------------------------------------------------- safetensors

# safetensors dtype name -> (torch dtype, bytes per element)
DTYPES = {
    "F64": (torch.float64, 8), "I64": (torch.int64, 8), "F32": (torch.float32, 4),
    "I32": (torch.int32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2),
    "U8": (torch.uint8, 1),
}
# U64 has no torch dtype in 1.13; it is read as raw int64 bits.
DTYPES["U64"] = (torch.int64, 8)
TORCH_TO_NAME = {v[0]: k for k, v in DTYPES.items() if k != "U64"}
MAX_HEADER = 100 << 20
if sys.byteorder != "little":
    raise RuntimeError("tokenformer_ref.py assumes a little-endian host")


def encode_safetensors(tensors, metadata=None):
    """bytes of a safetensors file. tensors: {name: torch tensor} (or {name: (dtype_name,
    tensor)} to force a name such as U64); metadata: {str: str}. Tensors are laid out by
    dtype size descending, then by name; the JSON header is space-padded so that 8 + N is a
    multiple of 8."""
    items = []
    for name, t in tensors.items():
        dname, t = t if isinstance(t, tuple) else (TORCH_TO_NAME[t.dtype], t)
        items.append((-DTYPES[dname][1], name, dname, t.detach().cpu().contiguous()))
    items.sort(key=lambda it: (it[0], it[1]))
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for _, name, dname, t in items:
        raw = t.numpy().tobytes()  # host order, checked little-endian above
        header[name] = {"dtype": dname, "shape": list(t.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    js = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode()
    js += b" " * (-(8 + len(js)) % 8)
    return struct.pack("<Q", len(js)) + js + b"".join(blobs)


def decode_safetensors(blob, what="safetensors"):
    """(tensors {name: torch tensor}, metadata {str: str}, order [names in data order]) from
    the bytes of a safetensors file; every rule is checked, errors raise ValueError."""
    if len(blob) < 8:
        raise ValueError("%s: shorter than the 8-byte header length" % what)
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER or 8 + n > len(blob):
        raise ValueError("%s: header length %d does not fit the file" % (what, n))
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise ValueError("%s: __metadata__ must map strings to strings" % what)
    data = memoryview(blob)[8 + n:]
    spans = []
    for name, e in header.items():
        if set(e) != {"dtype", "shape", "data_offsets"} or e["dtype"] not in DTYPES:
            raise ValueError("%s: tensor %s: bad entry %r" % (what, name, e))
        numel = math.prod(e["shape"])
        b, end = e["data_offsets"]
        if min(e["shape"], default=0) < 0 or end - b != numel * DTYPES[e["dtype"]][1]:
            raise ValueError("%s: tensor %s: offsets %r do not match shape %r"
                             % (what, name, e["data_offsets"], e["shape"]))
        spans.append((b, end, name))
    spans.sort()
    pos = 0
    for b, end, name in spans:
        if b != pos:
            raise ValueError("%s: tensor %s starts at %d, want %d" % (what, name, b, pos))
        pos = end
    if pos != len(data):
        raise ValueError("%s: data region is %d bytes, tensors cover %d" % (what, len(data), pos))
    tensors = {}
    for b, end, name in spans:
        e = header[name]
        dt = DTYPES[e["dtype"]][0]
        raw = bytearray(data[b:end])
        t = torch.frombuffer(raw, dtype=dt) if raw else torch.empty(0, dtype=dt)
        tensors[name] = t.reshape(e["shape"])
    return tensors, meta, [name for _, _, name in spans]


def write_file(path, tensors, metadata=None, compress=None):
    """Writes a safetensors file, gzip-compressed when compress (default: path ends in
    .tfz). mtime 0 keeps the bytes reproducible."""
    blob = encode_safetensors(tensors, metadata)
    if compress is None:
        compress = path.endswith(".tfz")
    if compress:
        blob = gzip.compress(blob, compresslevel=9, mtime=0)
    with open(path, "wb") as f:
        f.write(blob)


def read_file(path):
    """(tensors, metadata, order) of a safetensors file, plain or gzip-compressed (detected
    from the first two bytes, 1f 8b)."""
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:2] == b"\x1f\x8b":
        blob = gzip.decompress(blob)  # checks the CRC and length
    return decode_safetensors(blob, path)

# ---------------------------------------------------------------------------- checkpoints


def config_json(cfg):
    """The config as one compact JSON object (the checkpoint's metadata "config")."""
    check_config(cfg)
    return json.dumps({k: cfg[k] for k in CONFIG_KEYS}, separators=(",", ":"))


def save_checkpoint(path, cfg, params, history=None, created_by=None):
    """Writes a tokenformer checkpoint: float32 parameters plus the metadata of docs/checkpoint.md."""
    want = dict(param_shapes(cfg))
    if set(params) != set(want):
        raise ValueError("parameters do not match the config")
    tensors = {}
    for name, shape in want.items():
        t = params[name].detach().to(torch.float32)
        if tuple(t.shape) != shape:
            raise ValueError("%s: shape %s, config says %s" % (name, tuple(t.shape), shape))
        tensors[name] = t
    meta = {
        "format": "tokenformer", "format_version": "1", "config": config_json(cfg),
        "tokenizer": "bytes", "history": json.dumps(history or [], separators=(",", ":")),
        "created_by": created_by or "tokenformer_ref.py (torch %s)" % torch.__version__,
    }
    write_file(path, tensors, meta)


def load_checkpoint(path):
    """(cfg, params {name: float32 tensor}, metadata) of a checkpoint. Extra tensors (optimizer
    moments, train.*) are ignored; every parameter is checked against the config."""
    tensors, meta, _ = read_file(path)
    if meta.get("format") != "tokenformer" or meta.get("format_version") != "1":
        raise ValueError("%s: not a tokenformer checkpoint (format %r, version %r)"
                         % (path, meta.get("format"), meta.get("format_version")))
    cfg = json.loads(meta["config"])
    check_config(cfg)
    params = {}
    for name, shape in param_shapes(cfg):
        t = tensors.get(name)
        if t is None or t.dtype != torch.float32 or tuple(t.shape) != shape:
            raise ValueError("%s: tensor %s: want F32 %s, got %s" % (
                path, name, list(shape), None if t is None else (t.dtype, list(t.shape))))
        params[name] = t
    return cfg, params, meta
