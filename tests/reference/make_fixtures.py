"""make_fixtures.py: regenerate tests/fixtures from the PyTorch reference (tokenformer_ref.py).

For each case: a model with seeded random float32 parameters (<case>.tfz, a real checkpoint)
and, computed in float64 from exactly those float32 values, the logits, the mean loss and the
gradient of the loss with respect to every parameter (<case>.safetensors). Before writing, the
reference checks itself (autograd against central finite differences; the Pattention
invariants of docs/model.md §1.3); after writing, every file is read back and checked.

Usage: /usr/bin/python3 tests/reference/make_fixtures.py --out tests/fixtures
"""

import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenformer_ref as ref  # noqa: E402

# name, what it pins down, config overrides, batch B, sequence T, seed.
# Every case has vocab 256 and 2 layers; sizes are kept tiny so the fixtures stay small.
CASES = [
    ("l2_norm_gelu", "default norm; 4 heads, d_h 16, RoPE on 4 of 16 channels (25%)",
     dict(d_model=64, n_heads=4, rotary_pct=0.25, qkv_tokens=16, proj_tokens=16,
          ffn_tokens=32), 2, 16, 1),
    ("l2_norm_gelu_rope_full", "1 head, RoPE on all 32 channels (rotary_pct 1.0)",
     dict(d_model=32, n_heads=1, rotary_pct=1.0, qkv_tokens=32, proj_tokens=32,
          ffn_tokens=64), 2, 16, 2),
    ("gelu_l2_norm", "norm gelu_l2_norm; 2 heads, RoPE 4 of 16",
     dict(d_model=32, n_heads=2, norm="gelu_l2_norm", qkv_tokens=32, proj_tokens=24,
          ffn_tokens=48), 2, 16, 3),
    ("softmax", "norm softmax (times n); 2 heads, RoPE 8 of 16",
     dict(d_model=32, n_heads=2, norm="softmax", rotary_pct=0.5, qkv_tokens=24,
          proj_tokens=32, ffn_tokens=64), 2, 16, 4),
    ("odd_seq", "T = seq_len = 13 (not a power of two), batch 3",
     dict(d_model=32, n_heads=4, rotary_pct=0.5, seq_len=13, qkv_tokens=32, proj_tokens=32,
          ffn_tokens=64), 3, 13, 5),
    ("grown", "l2_norm_gelu after growth: tokens 24/20/48, ref tokens 16/16/32 (tau = sqrt(ref))",
     dict(d_model=32, n_heads=2, qkv_tokens=24, qkv_ref_tokens=16, proj_tokens=20,
          proj_ref_tokens=16, ffn_tokens=48, ffn_ref_tokens=32), 2, 16, 6),
    ("grown_gelu_l2_norm", "gelu_l2_norm with ref tokens != tokens (tau = sqrt(ref))",
     dict(d_model=16, n_heads=2, rotary_pct=0.5, norm="gelu_l2_norm", qkv_tokens=20,
          qkv_ref_tokens=16, proj_tokens=24, proj_ref_tokens=16, ffn_tokens=40,
          ffn_ref_tokens=32), 2, 16, 7),
    ("grown_softmax", "softmax with ref tokens != tokens (factor n_ref, not n)",
     dict(d_model=16, n_heads=2, rotary_pct=0.5, norm="softmax", qkv_tokens=20,
          qkv_ref_tokens=16, proj_tokens=24, proj_ref_tokens=16, ffn_tokens=40,
          ffn_ref_tokens=32), 2, 16, 8),
    ("short_seq", "T = 9 shorter than seq_len 32",
     dict(d_model=32, n_heads=4, rotary_pct=0.5, seq_len=32, qkv_tokens=16, proj_tokens=16,
          ffn_tokens=32), 2, 9, 9),
]

# Standard deviations of the random parameters: large enough that no term is negligible.
# Keys 1/sqrt(d) give pre-normalisation scores A of order 1 (the scale matters for softmax and
# gelu_l2_norm; l2_norm_gelu is invariant to it); the embedding 0.5 * sqrt(32/d) keeps logits
# (y E^T, y of unit scale) near std 3 whatever d is.
VALUE_STD, NORM_STD = 0.2, 0.1


def build_case(name, overrides, B, T, seed):
    """(cfg, float32 params, inputs, targets) of one case, all from the seed."""
    cfg = ref.make_config(**dict(dict(vocab_size=256, n_layers=2, seq_len=16), **overrides))
    assert T <= cfg["seq_len"]
    gen = torch.Generator().manual_seed(seed)
    params = ref.init_params(cfg, gen, key_std=1.0 / math.sqrt(cfg["d_model"]),
                             value_std=VALUE_STD, embed_std=0.5 * math.sqrt(32 / cfg["d_model"]),
                             norm_std=NORM_STD)
    seq = torch.randint(0, cfg["vocab_size"], (B, T + 1), generator=gen)
    return cfg, params, seq[:, :T], seq[:, 1:]


def compute(cfg, params32, inputs, targets):
    """float64 logits, loss and gradients from the float32 parameter values."""
    p = {k: v.double().requires_grad_(True) for k, v in params32.items()}
    logits = ref.forward(p, cfg, inputs)
    loss = ref.loss_fn(logits, targets)
    grads = torch.autograd.grad(loss, list(p.values()))
    return logits.detach(), loss.detach(), dict(zip(p.keys(), grads))

# ---------------------------------------------------------------------------- self-checks


def check_finite_differences(cfg, params32, inputs, targets, grads, gen, per_tensor=2):
    """Max error of autograd against central differences (h = 1e-5, float64) over a few
    entries of every tensor, relative to max(|grad entry|, rms of that tensor's gradient):
    rounding in the loss (~1e-15 / h) would swamp a purely relative error on tiny entries."""
    p = {k: v.double() for k, v in params32.items()}

    def loss_at():
        return ref.loss_fn(ref.forward(p, cfg, inputs), targets).item()

    h, worst = 1e-5, 0.0
    for name, g in grads.items():
        flat = p[name].view(-1)
        scale = max(g.pow(2).mean().sqrt().item(), 1e-12)
        for i in torch.randint(0, flat.numel(), (per_tensor,), generator=gen).tolist():
            old = flat[i].item()
            flat[i] = old + h
            up = loss_at()
            flat[i] = old - h
            down = loss_at()
            flat[i] = old
            fd = (up - down) / (2 * h)
            ad = g.view(-1)[i].item()
            worst = max(worst, abs(fd - ad) / max(abs(ad), scale))
    return worst


def check_invariants(n_ref, gen):
    """docs/model.md §1.3 on one Pattention (float64, l2_norm_gelu): sum_j <dK_j, K_j> = 0 and
    <dX_i, X_i> = 0 for every row i. Returns the two largest |values|, each divided by the
    matching sum of |products| so that 0 means exact."""
    X = torch.randn(7, 12, generator=gen, dtype=torch.float64).requires_grad_(True)
    K = torch.randn(10, 12, generator=gen, dtype=torch.float64).requires_grad_(True)
    V = torch.randn(10, 9, generator=gen, dtype=torch.float64)
    G = torch.randn(7, 9, generator=gen, dtype=torch.float64)
    (ref.pattention(X, K, V, "l2_norm_gelu", n_ref) * G).sum().backward()
    k_inv = (K.grad * K).sum().abs() / (K.grad * K).abs().sum()
    x_inv = ((X.grad * X).sum(1).abs() / (X.grad * X).abs().sum(1)).max()
    return k_inv.item(), x_inv.item()


def check_layers(gen):
    """The forward pieces against direct, loop-by-loop transcriptions of docs/model.md §1.2 and §2.2
    (pure Python math, float64). Returns the largest absolute difference."""
    worst = 0.0
    X = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    K = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    V = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    gelu = lambda z: 0.5 * z * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    for norm in ref.NORMS:
        n_ref = 4
        got = ref.pattention(X, K, V, norm, n_ref)
        for i in range(3):
            a = [sum(X[i, c].item() * K[j, c].item() for c in range(5)) for j in range(6)]
            if norm == "l2_norm_gelu":
                r = math.sqrt(sum(x * x for x in a))
                s = [gelu(math.sqrt(n_ref) * x / r) for x in a]
            elif norm == "gelu_l2_norm":
                g = [gelu(x) for x in a]
                q = math.sqrt(sum(x * x for x in g))
                s = [math.sqrt(n_ref) * x / q for x in g]
            else:
                e = [math.exp(x) for x in a]
                s = [n_ref * x / sum(e) for x in e]
            for c in range(4):
                o = sum(s[j] * V[j, c].item() for j in range(6))
                worst = max(worst, abs(o - got[i, c].item()))
    # RoPE: rotate-half pairs (m, m + r/2) of the first r channels by p * base^(-2m/r).
    x = torch.randn(1, 5, 2, 10, generator=gen, dtype=torch.float64)
    r, base = 6, 100.0
    got = ref.rope(x, r, base)
    for p in range(5):
        for h in range(2):
            for c in range(10):
                m = c % (r // 2)
                th = p * base ** (-2.0 * m / r)
                lo, hi = x[0, p, h, m].item(), x[0, p, h, m + r // 2].item()
                want = (x[0, p, h, c].item() if c >= r else
                        lo * math.cos(th) - hi * math.sin(th) if c < r // 2 else
                        hi * math.cos(th) + lo * math.sin(th))
                worst = max(worst, abs(want - got[0, p, h, c].item()))
    # Causal attention: position t averages v[0..t] with weights softmax(q_t . k_s / sqrt(d_h)).
    q, k, v = (torch.randn(1, 4, 2, 3, generator=gen, dtype=torch.float64) for _ in range(3))
    got = ref.causal_attention(q, k, v).view(1, 4, 2, 3)
    for t in range(4):
        for h in range(2):
            w = [math.exp(sum(q[0, t, h, c].item() * k[0, s, h, c].item() for c in range(3))
                          / math.sqrt(3)) for s in range(t + 1)]
            for c in range(3):
                o = sum(w[s] * v[0, s, h, c].item() for s in range(t + 1)) / sum(w)
                worst = max(worst, abs(o - got[0, t, h, c].item()))
    return worst


def sensitivity(cfg, params32, inputs, logits, **change):
    """max |logits - logits with cfg changed|: how strongly the case pins a config detail."""
    p = {k: v.double() for k, v in params32.items()}
    other = ref.forward(p, dict(cfg, **change), inputs)
    return (other - logits).abs().max().item()

# ---------------------------------------------------------------------------- output


def write_case(out, name, desc, cfg, params32, inputs, targets, logits, loss, grads, seed):
    ckpt = os.path.join(out, name + ".tfz")
    history = [{"command": "tests/reference/make_fixtures.py", "case": name, "seed": seed}]
    ref.save_checkpoint(ckpt, cfg, params32, history=history,
                        created_by="tests/reference/make_fixtures.py (torch %s)"
                        % torch.__version__)
    tensors = {"inputs": inputs.to(torch.int32), "targets": targets.to(torch.int32),
               "logits": logits.to(torch.float32), "loss": loss.to(torch.float64)}
    for k, g in grads.items():
        tensors["grad." + k] = g.to(torch.float32)
    meta = {"case": name, "description": desc, "config": ref.config_json(cfg),
            "batch": str(inputs.shape[0]), "seq": str(inputs.shape[1]),
            "created_by": "tests/reference/make_fixtures.py (torch %s)" % torch.__version__}
    ref.write_file(os.path.join(out, name + ".safetensors"), tensors, meta, compress=False)


def verify_case(out, name, cfg, params32, inputs, targets, logits, loss, grads):
    """Reads both files back with our own reader and checks every value and the layout."""
    c2, p2, meta = ref.load_checkpoint(os.path.join(out, name + ".tfz"))
    assert c2 == cfg, "config round trip"
    assert all(torch.equal(p2[k], params32[k]) for k in params32), "parameter round trip"
    for m in ("format", "format_version", "config", "tokenizer", "history", "created_by"):
        assert m in meta, "metadata " + m
    json.loads(meta["history"])
    t, _, order = ref.read_file(os.path.join(out, name + ".safetensors"))
    sizes = [-ref.DTYPES[ref.TORCH_TO_NAME[t[k].dtype]][1] for k in order]
    assert list(zip(sizes, order)) == sorted(zip(sizes, order)), "safetensors tensor order"
    assert torch.equal(t["inputs"], inputs.to(torch.int32))
    assert torch.equal(t["targets"], targets.to(torch.int32))
    assert t["loss"].shape == () and t["loss"].item() == loss.item()
    assert torch.equal(t["logits"], logits.to(torch.float32))
    assert set(t) == {"inputs", "targets", "logits", "loss"} | {"grad." + k for k in grads}
    for k, g in grads.items():
        assert torch.equal(t["grad." + k], g.to(torch.float32)), k
    # The loaded checkpoint reproduces the stored logits.
    l2, _, _ = compute(c2, p2, t["inputs"].long(), t["targets"].long())
    assert torch.equal(l2.to(torch.float32), t["logits"]), "recomputed logits"


def float32_error(cfg, params32, inputs, logits):
    """max |logits in float32 - logits in float64|: the noise a float32 port should expect."""
    with torch.no_grad():
        l32 = ref.forward(params32, cfg, inputs)
    return (l32.double() - logits).abs().max().item()


EVAL_CASE, EVAL_TEXT, EVAL_BYTES = "odd_seq", "data/tiny-valid.txt", 1000


def write_eval_fixture(out):
    """tests/fixtures/eval_<case>.json: tf-eval's figures for EVAL_CASE's model on the first
    EVAL_BYTES bytes of EVAL_TEXT (seq_len 13, so the last window is short), in float64."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    cfg, params, _ = ref.load_checkpoint(os.path.join(out, EVAL_CASE + ".tfz"))
    params = {k: v.double() for k, v in params.items()}
    with open(os.path.join(root, EVAL_TEXT), "rb") as f:
        data = f.read(EVAL_BYTES)
    with torch.no_grad():
        tokens, loss = ref.eval_text(params, cfg, data)
    record = {"model": EVAL_CASE + ".tfz", "data": EVAL_TEXT, "max_bytes": EVAL_BYTES,
              "tokens": tokens, "loss": loss, "bits_per_byte": loss / math.log(2)}
    with open(os.path.join(out, "eval_%s.json" % EVAL_CASE), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print("eval fixture %s on %s[:%d]: %d tokens, loss %.6f" % (EVAL_CASE, EVAL_TEXT,
                                                              EVAL_BYTES, tokens, loss))
    return tokens == EVAL_BYTES - 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)  # reproducible reductions
    gen = torch.Generator().manual_seed(12345)
    ok = True

    for n_ref in (10, 6):
        k_inv, x_inv = check_invariants(n_ref, gen)
        good = k_inv < 1e-12 and x_inv < 1e-12
        ok &= good
        print("invariants l2_norm_gelu n=10 n_ref=%-2d  sum<dK,K> %.1e  max<dX_i,X_i> %.1e  %s"
              % (n_ref, k_inv, x_inv, "ok" if good else "FAIL"))

    layers = check_layers(gen)
    ok &= layers < 1e-12
    print("layers against loop transcriptions of the spec: max |diff| %.1e  %s"
          % (layers, "ok" if layers < 1e-12 else "FAIL"))

    # fd-err: autograd vs finite differences; f32-err: max |logits f32 - f64|; min-grad: the
    # smallest per-tensor gradient rms; no-rope, n=ref: max |logits change| with RoPE off, or
    # with tau/factor from n instead of n_ref (how firmly the case pins those details).
    total = 0
    print("%-23s %-13s %-6s %-7s %-7s %-8s %-7s %-7s %s" % (
        "case", "B,T,d,H,r", "loss", "fd-err", "f32-err", "min-grad", "no-rope", "n=ref",
        "bytes"))
    for name, desc, overrides, B, T, seed in CASES:
        cfg, params32, inputs, targets = build_case(name, overrides, B, T, seed)
        logits, loss, grads = compute(cfg, params32, inputs, targets)
        fd = check_finite_differences(cfg, params32, inputs, targets, grads, gen)
        ok &= fd < 1e-6
        f32 = float32_error(cfg, params32, inputs, logits)
        no_rope = sensitivity(cfg, params32, inputs, logits, rotary_pct=0.0)
        grown = [k for k in ref.KINDS if cfg[k + "_ref_tokens"] != cfg[k + "_tokens"]]
        no_ref = sensitivity(cfg, params32, inputs, logits,
                             **{k + "_ref_tokens": cfg[k + "_tokens"] for k in grown})
        weakest = min(g.pow(2).mean().sqrt().item() for g in grads.values())
        ok &= weakest > 1e-5 and no_rope > 1e-2 and (not grown or no_ref > 1e-2)
        write_case(args.out, name, desc, cfg, params32, inputs, targets, logits, loss, grads,
                   seed)
        verify_case(args.out, name, cfg, params32, inputs, targets, logits, loss, grads)
        size = sum(os.path.getsize(os.path.join(args.out, name + e))
                   for e in (".tfz", ".safetensors"))
        total += size
        shape = "%d,%d,%d,%d,%d" % (B, T, cfg["d_model"], cfg["n_heads"], ref.rotary_dims(cfg))
        print("%-23s %-13s %-6.3f %-7.1e %-7.1e %-8.1e %-7.2f %-7s %d" % (
            name, shape, loss.item(), fd, f32, weakest, no_rope,
            "%.2f" % no_ref if grown else "-", size))
    ok &= write_eval_fixture(args.out)
    print("total %d bytes in %s; self-checks %s"
          % (total, os.path.normpath(args.out), "ok" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
