"""bench_ref.py: the PyTorch peer of `make bench`: TokenFormer throughput in float32 eager
PyTorch, written for speed (the three Q/K/V Pattentions fused into one key GEMM and one batched
value GEMM, batched attention, matrix-vector products when decoding one sequence). The math is
docs/model.md §1-§2, the same as tokenformer_ref.py; `--check` compares the two.

Prints one JSON line: tokens_per_s and s_per_step (median over the timed steps).
  fwdbwd  forward + backward of the mean loss on B x seq tokens; a step is one batch
  train   fwdbwd + clip_grad_norm_ + AdamW step (foreach); a step is one batch
  decode  greedy decoding with a KV cache: --prompt-len tokens prefilled (not timed), then
          --gen tokens decoded one at a time (the first comes out of the prefill, so gen - 1
          positions are timed); a step is one decoded position (B tokens), s_per_step the
          median over runs of (decode seconds / (gen - 1))

Usage: /usr/bin/python3 tests/reference/bench_ref.py --d-model 256 --layers 6 --heads 8
       --seq 256 --qkv 256 --proj 256 --ffn 1024 --batch 8 --threads 2 --mode train
"""

import argparse
import json
import math
import os
import statistics
import sys
import time

from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenformer_ref as ref  # noqa: E402

# ---------------------------------------------------------------------------- kernels
# Plain functions in the TorchScript subset: training runs them eagerly, decoding runs their
# torch.jit.script compilation (same source), which removes most of the per-op Python cost.


def theta(a: Tensor, norm: str, n_ref: float) -> Tensor:
    """Row-wise Pattention normalisation over the last axis (docs/model.md §1.2), eps 1e-5; the
    factor sqrt(n_ref) is folded into the (R, 1) row norms."""
    c = 1.0 / math.sqrt(n_ref)
    if norm == "l2_norm_gelu":  # GELU(sqrt(n_ref) A / max(|A_i|, eps))
        return F.gelu(a / (torch.linalg.vector_norm(a, 2.0, [-1], True).clamp_min(1e-5) * c))
    if norm == "gelu_l2_norm":  # sqrt(n_ref) g / max(|g_i|, eps),  g = GELU(A)
        g = F.gelu(a)
        return g / (torch.linalg.vector_norm(g, 2.0, [-1], True).clamp_min(1e-5) * c)
    return torch.softmax(a, dim=-1) * n_ref  # n_ref softmax(A)


def xkt(x: Tensor, k: Tensor) -> Tensor:
    """x K^T for x (R, d), K (n, d); one row goes through a matrix-vector product."""
    if x.shape[0] == 1 and not torch.is_grad_enabled():
        return torch.mv(k, x[0]).unsqueeze(0)
    return F.linear(x, k)


def sv(s: Tensor, v: Tensor) -> Tensor:
    """S V for S (R, n), V (n, d); one row goes through a matrix-vector product."""
    if s.shape[0] == 1 and not torch.is_grad_enabled():
        return torch.mv(v.t(), s[0]).unsqueeze(0)
    return torch.mm(s, v)


def pattn(x: Tensor, keys: Tensor, values: Tensor, norm: str, n_ref: float) -> Tensor:
    """Pattention: Theta(x K^T) V."""
    return sv(theta(xkt(x, keys), norm, n_ref), values)


def qkv(h: Tensor, keys: Tensor, values: Tensor, norm: str, n_ref: float) -> List[Tensor]:
    """The three Q/K/V Pattentions on h (R, d), keys and values (3, n, d) stacked: one GEMM
    against all keys (R, 3n), Theta per n-slice, one batched GEMM against the values."""
    n = keys.shape[1]
    s = theta(xkt(h, keys.view(3 * n, -1)).view(-1, 3, n), norm, n_ref)
    if h.shape[0] == 1 and not torch.is_grad_enabled():
        return [sv(s[:, i], values[i]) for i in range(3)]
    return torch.bmm(s.transpose(0, 1), values).unbind(0)


def rope(x: Tensor, cos: Tensor, sin: Tensor, r: int) -> Tensor:
    """Rotate-half RoPE on the first r channels of x (..., T, H, d_h); cos, sin (T, r/2):
    x'_m = x_m cos - x_{m+r/2} sin,  x'_{m+r/2} = x_{m+r/2} cos + x_m sin."""
    if r == 0:
        return x
    half = r // 2
    c, s = cos.unsqueeze(1), sin.unsqueeze(1)
    x1, x2 = x[..., :half], x[..., half:r]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s, x[..., r:]], -1)


def layer(x: Tensor, w: List[Tensor], cache: List[Tensor], start: int, mask: Optional[Tensor],
          cos: Tensor, sin: Tensor, n_heads: int, r: int, norm: str,
          n_ref: List[float]) -> Tensor:
    """One pre-norm layer on x (B, T, d) at positions start..start+T-1; w = [qkv keys,
    qkv values (3, n, d), proj keys, proj values, ffn keys, ffn values]; mask (T, S) additive
    causal mask or None (T = 1). With a cache [k, v] of shape (B, H, max, d_h) the new keys
    and values are stored there and attention covers positions 0..start+T-1."""
    B, T, d = x.shape
    dh = d // n_heads
    q, k, v = qkv(F.layer_norm(x, [d], eps=1e-5).view(B * T, d), w[0], w[1], norm, n_ref[0])
    qk = rope(torch.stack([q, k]).view(2, B, T, n_heads, dh),
              cos[start:start + T], sin[start:start + T], r)
    q, k = qk[0].transpose(1, 2), qk[1].transpose(1, 2)  # (B, H, T, d_h)
    v = v.view(B, T, n_heads, dh).transpose(1, 2)
    if len(cache) > 0:
        cache[0][:, :, start:start + T] = k
        cache[1][:, :, start:start + T] = v
        k, v = cache[0][:, :, :start + T], cache[1][:, :, :start + T]
    S = k.shape[2]
    q = q.reshape(B * n_heads, T, dh)
    kt = k.reshape(B * n_heads, S, dh).transpose(1, 2)
    if mask is None:  # scores = q k^T / sqrt(d_h) (+ mask), one batched GEMM
        att = torch.bmm(q * (1.0 / math.sqrt(dh)), kt)
    else:
        att = torch.baddbmm(mask, q, kt, alpha=1.0 / math.sqrt(dh))
    a = torch.bmm(att.softmax(-1), v.reshape(B * n_heads, S, dh))
    a = a.view(B, n_heads, T, dh).transpose(1, 2).reshape(B * T, d)
    x = x + pattn(a, w[2], w[3], norm, n_ref[1]).view(B, T, d)
    h2 = F.layer_norm(x, [d], eps=1e-5).view(B * T, d)
    return x + pattn(h2, w[4], w[5], norm, n_ref[2]).view(B, T, d)


layer_scripted = torch.jit.script(layer)


class Model(torch.nn.Module):
    """The parameters of the checkpoint, Q/K/V key and value tokens stacked per layer."""

    def __init__(self, cfg, gen):
        super().__init__()
        self.cfg = cfg
        d, L, V = cfg["d_model"], cfg["n_layers"], cfg["vocab_size"]
        nq, npj, nf = cfg["qkv_tokens"], cfg["proj_tokens"], cfg["ffn_tokens"]
        kstd, vstd = 0.02, 2.0 / (L * math.sqrt(d))  # docs/model.md §4

        def p(*shape, std=0.0, mean=0.0):
            return torch.nn.Parameter(torch.randn(*shape, generator=gen) * std + mean)

        self.embed = p(V, d, std=kstd)
        self.qkv_key = torch.nn.ParameterList([p(3, nq, d, std=kstd) for _ in range(L)])
        self.qkv_value = torch.nn.ParameterList([p(3, nq, d, std=vstd) for _ in range(L)])
        self.proj_key = torch.nn.ParameterList([p(npj, d, std=kstd) for _ in range(L)])
        self.proj_value = torch.nn.ParameterList([p(npj, d, std=vstd) for _ in range(L)])
        self.ffn_key = torch.nn.ParameterList([p(nf, d, std=kstd) for _ in range(L)])
        self.ffn_value = torch.nn.ParameterList([p(nf, d, std=vstd) for _ in range(L)])
        self.norm_weight = p(d, mean=1.0)
        self.norm_bias = p(d)
        self.r = ref.rotary_dims(cfg)
        self.n_ref = [float(cfg[k + "_ref_tokens"]) for k in ref.KINDS]
        half = self.r // 2
        inv = cfg["rotary_base"] ** (-2.0 * torch.arange(half, dtype=torch.float64)
                                     / max(self.r, 1))
        ang = torch.arange(cfg["seq_len"], dtype=torch.float64)[:, None] * inv[None, :]
        self.cos, self.sin = torch.cos(ang).float(), torch.sin(ang).float()  # (seq, r/2)

    def weights(self, l):
        return [self.qkv_key[l], self.qkv_value[l], self.proj_key[l], self.proj_value[l],
                self.ffn_key[l], self.ffn_value[l]]

    def ref_params(self):
        """The parameters under their checkpoint names (views), for tokenformer_ref."""
        out = {"embed.weight": self.embed, "final_norm.weight": self.norm_weight,
               "final_norm.bias": self.norm_bias}
        for l in range(self.cfg["n_layers"]):
            w = self.weights(l)
            for i, s in enumerate(("query", "key", "value")):
                out[ref.slot_prefix(l, s) + ".key_param_tokens"] = w[0][i]
                out[ref.slot_prefix(l, s) + ".value_param_tokens"] = w[1][i]
            for i, s in ((2, "proj"), (4, "mlp")):
                out[ref.slot_prefix(l, s) + ".key_param_tokens"] = w[i]
                out[ref.slot_prefix(l, s) + ".value_param_tokens"] = w[i + 1]
        return out

    def forward(self, tokens, caches=None, start=0, scripted=False):
        """logits (B, T, V) of tokens (B, T) at positions start..start+T-1."""
        c = self.cfg
        fn = layer_scripted if scripted else layer
        T, S = tokens.shape[1], start + tokens.shape[1]
        mask = None  # additive causal mask (T, S): -inf where key position > query position
        if T > 1:
            future = torch.ones(T, S, dtype=torch.bool).triu(S - T + 1)
            mask = torch.zeros(T, S).masked_fill(future, float("-inf"))
        x = F.embedding(tokens, self.embed)
        for l in range(c["n_layers"]):
            x = fn(x, self.weights(l), [] if caches is None else caches[l], start, mask,
                   self.cos, self.sin, c["n_heads"], self.r, c["norm"], self.n_ref)
        y = F.layer_norm(x, (x.shape[-1],), self.norm_weight, self.norm_bias, eps=ref.LN_EPS)
        if y.shape[0] * y.shape[1] == 1 and not torch.is_grad_enabled():
            return torch.mv(self.embed, y.view(-1)).view(1, 1, -1)
        return F.linear(y, self.embed)

    def new_caches(self, B, length):
        H = self.cfg["n_heads"]
        dh = self.cfg["d_model"] // H
        return [[torch.zeros(B, H, length, dh), torch.zeros(B, H, length, dh)]
                for _ in range(self.cfg["n_layers"])]

# ---------------------------------------------------------------------------- timing


def timed(fn, warmup, steps):
    """Runs fn warmup times untimed, then steps times; returns the list of seconds."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench_fwdbwd(model, args, train):
    cfg = model.cfg
    gen = torch.Generator().manual_seed(args.seed + 1)
    seq = torch.randint(0, cfg["vocab_size"], (args.batch, args.seq + 1), generator=gen)
    inputs, targets = seq[:, :-1].contiguous(), seq[:, 1:].contiguous()
    opt = None
    if train:
        decay = [p for n, p in model.named_parameters() if not n.startswith("norm_")]
        nodecay = [model.norm_weight, model.norm_bias]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                                 {"params": nodecay, "weight_decay": 0.0}],
                                lr=args.lr, betas=(0.9, 0.95), eps=1e-8, foreach=True)
    losses = []

    def step():
        logits = model(inputs)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))
        loss.backward()
        if opt is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
        model.zero_grad(set_to_none=True)
        losses.append(loss.item())

    secs = timed(step, args.warmup, args.steps)
    return secs, args.batch * args.seq, {"loss_first": losses[0], "loss_last": losses[-1]}


def decode_run(model, prompt, gen_len, scripted=True):
    """Prefills prompt (B, P), then decodes gen_len tokens greedily; returns (decode seconds,
    generated tokens (B, gen_len))."""
    B, P = prompt.shape
    caches = model.new_caches(B, P + gen_len)
    with torch.inference_mode():
        nxt = model(prompt, caches, 0, scripted)[:, -1].argmax(-1, keepdim=True)
        out = [nxt]
        t0 = time.perf_counter()
        for t in range(P, P + gen_len - 1):
            nxt = model(nxt, caches, t, scripted)[:, -1].argmax(-1, keepdim=True)
            out.append(nxt)
        secs = time.perf_counter() - t0
    return secs, torch.cat(out, 1)


def bench_decode(model, args):
    """A step is one decoded position; gen - 1 positions are timed per run (the first token
    comes out of the prefill)."""
    if args.prompt_len < 1 or args.gen < 2 or args.prompt_len + args.gen > model.cfg["seq_len"]:
        sys.exit("bench_ref.py: want --prompt-len >= 1, --gen >= 2, and their sum <= --seq")
    gen = torch.Generator().manual_seed(args.seed + 1)
    prompt = torch.randint(0, model.cfg["vocab_size"], (args.batch, args.prompt_len),
                           generator=gen)
    runs = [decode_run(model, prompt, args.gen, not args.eager)[0]
            for _ in range(args.warmup + args.steps)]
    per_pos = [s / (args.gen - 1) for s in runs[args.warmup:]]
    return per_pos, args.batch, {}

# ---------------------------------------------------------------------------- check


def check(cfg):
    """Max |difference| (relative to max |logit|) of this file's logits against
    tokenformer_ref in float64: the full forward, cached decoding (prefill, then one position
    at a time; batch 2 and the matrix-vector path of batch 1), and whether eager and scripted
    greedy decoding agree. Parameters as in the fixtures (keys N(0, 1/d), everything else
    N(0, 0.2^2), final norm weight around 1) so that no term is negligible."""
    gen = torch.Generator().manual_seed(7)
    model = Model(cfg, gen)
    with torch.no_grad():
        for name, p in model.named_parameters():
            std = 1 / math.sqrt(cfg["d_model"]) if "key" in name else 0.2
            mean = 1.0 if name == "norm_weight" else 0.0
            p.copy_(torch.randn(p.shape, generator=gen) * std + mean)
    T = min(cfg["seq_len"], 12)
    tokens = torch.randint(0, cfg["vocab_size"], (2, T), generator=gen)
    with torch.no_grad():
        want = ref.forward({k: v.double() for k, v in model.ref_params().items()}, cfg, tokens)
        full = model(tokens)
        caches = model.new_caches(2, T)
        parts = [model(tokens[:, :3], caches, 0, True)]
        parts += [model(tokens[:, t:t + 1], caches, t, True) for t in range(3, T)]
        one = model.new_caches(1, T)
        row = [model(tokens[:1, t:t + 1], one, t, True) for t in range(T)]  # mv path
    _, gen_e = decode_run(model, tokens[:, :3], 6, scripted=False)
    _, gen_s = decode_run(model, tokens[:, :3], 6, scripted=True)
    scale = want.abs().max().item()
    out = {"check_forward": (full.double() - want).abs().max().item() / scale,
           "check_decode": (torch.cat(parts, 1).double() - want).abs().max().item() / scale,
           "check_decode_b1": (torch.cat(row, 1).double() - want[:1]).abs().max().item()
           / scale, "check_greedy_same": bool(torch.equal(gen_e, gen_s))}
    # float32 against float64 on logits of order 1-10: a few 1e-7 relative is rounding.
    out["check_ok"] = out["check_greedy_same"] and max(
        out[k] for k in ("check_forward", "check_decode", "check_decode_b1")) < 1e-5
    return out

# ---------------------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", type=int, default=256)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256, help="seq_len; fwdbwd/train use B x seq")
    ap.add_argument("--qkv", type=int, default=256)
    ap.add_argument("--proj", type=int, default=256)
    ap.add_argument("--ffn", type=int, default=1024)
    ap.add_argument("--norm", choices=ref.NORMS, default="l2_norm_gelu")
    ap.add_argument("--rotary-pct", type=float, default=0.25)
    ap.add_argument("--rotary-base", type=float, default=10000.0)
    ap.add_argument("--config-json", help="model config as JSON text or a file (checkpoint "
                    "config keys; ref token counts optional); replaces the flags above")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--mode", choices=("fwdbwd", "train", "decode"), default="fwdbwd")
    ap.add_argument("--gen", type=int, default=64, help="decode: tokens to generate")
    ap.add_argument("--prompt-len", type=int, default=16, help="decode: prompt tokens")
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eager", action="store_true",
                    help="decode: run the layers eagerly instead of their TorchScript version")
    ap.add_argument("--check", action="store_true",
                    help="also compare the logits with tokenformer_ref (float64)")
    return ap.parse_args(argv)


def config_from_args(args):
    if args.config_json:
        text = args.config_json
        if not text.lstrip().startswith("{"):
            with open(text) as f:
                text = f.read()
        c = json.loads(text)
        c = c.get("model", c)
        cfg = ref.make_config(**c)
        args.seq = cfg["seq_len"]
        return cfg
    return ref.make_config(vocab_size=args.vocab, d_model=args.d_model, n_layers=args.layers,
                           n_heads=args.heads, seq_len=args.seq, qkv_tokens=args.qkv,
                           proj_tokens=args.proj, ffn_tokens=args.ffn, norm=args.norm,
                           rotary_pct=args.rotary_pct, rotary_base=args.rotary_base)


def flops_per_token(cfg):
    """Forward FLOPs per token at full context, docs/model.md §3.3: 2 N_nonemb + 2 L T d + 2 V d."""
    d, L = cfg["d_model"], cfg["n_layers"]
    n_nonemb = 2 * d * L * (3 * cfg["qkv_tokens"] + cfg["proj_tokens"] + cfg["ffn_tokens"])
    return 2 * n_nonemb + 2 * L * cfg["seq_len"] * d + 2 * cfg["vocab_size"] * d


def main(argv=None):
    args = parse_args(argv)
    cfg = config_from_args(args)
    torch.set_num_threads(args.threads)
    model = Model(cfg, torch.Generator().manual_seed(args.seed))
    if args.mode == "decode":
        secs, tokens, extra = bench_decode(model, args)
    else:
        secs, tokens, extra = bench_fwdbwd(model, args, args.mode == "train")
    med = statistics.median(secs)
    out = {"impl": "pytorch", "torch": torch.__version__, "mode": args.mode,
           "threads": torch.get_num_threads(), "batch": args.batch, "seq": args.seq,
           "steps": args.steps, "warmup": args.warmup, "config": cfg,
           "params": sum(p.numel() for p in model.parameters()),
           "tokens_per_step": tokens, "s_per_step": med, "tokens_per_s": tokens / med,
           "s_per_step_min": min(secs), "s_per_step_max": max(secs)}
    if args.mode == "decode":
        out.update(prompt_len=args.prompt_len, gen=args.gen, scripted=not args.eager)
    else:
        out["gflops"] = 3 * flops_per_token(cfg) * tokens / med / 1e9
    out.update(extra)
    if args.check:
        out.update(check(cfg))
    print(json.dumps(out))
    return 0 if out.get("check_ok", True) else 1


if __name__ == "__main__":
    sys.exit(main())
