"""tasks_ref.py: zero-shot task scores in PyTorch with lm-evaluation-harness 0.4's definitions,
for the fixtures that tests/unit/test_tasks.c compares tf-eval --task with.

Writes into --out (tests/fixtures):
  tasks_bytes.tfz   a small byte model (seq_len 128), trained here for a few hundred steps on
                    the task files themselves so that greedy matches and clear choices occur;
  tasks_bytes.json  for each task file in --tasks (tests/fixtures/tasks/NAME.jsonl): every
                    request's context and continuation ids, log-likelihood and greediness, each
                    example's chosen and gold indices, and the task's figures;
  tasks_bpe.tfz     a random model of vocabulary 50,304 and seq_len 64 (its checkpoint names the
                    byte tokenizer: the test gives it --tokenizer, data/gpt-neox-20b-tokenizer.json);
  tasks_bpe.json    the same figures in that tokenizer's ids, which the Hugging Face tokenizers
                    library gives (tasks_encode.js, node; TF_NODE_MODULES may name its
                    node_modules).

The definitions, written from the harness's task configs and its HF model class:
  * a request is (context, continuation); an empty context scores the continuation's ids after
    the end-of-text token (for a byte model, which has none, the byte "\\n"); otherwise the
    context's trailing whitespace (str.rstrip) moves to the front of the continuation, and the
    continuation's ids are those of encode(context + continuation) after the first
    len(encode(context));
  * the network reads the last seq_len + 1 ids of context + continuation minus the final one;
    the log-likelihood is the sum of the log-softmax at the continuation's ids, greedy when each
    of them is the argmax;
  * acc = [argmax ll == gold], acc_norm = [argmax ll / len(choice text) == gold] (first index on
    ties), standard error = sample standard deviation / sqrt(N); lambada: acc = greedy,
    perplexity = exp(-mean ll).
Everything is computed in float64 from the float32 parameters stored in the checkpoint.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenformer_ref as ref  # noqa: E402

TASKS = ("lambada_openai", "hellaswag", "piqa", "arc_easy", "arc_challenge", "winogrande")
EOT_BYTE = 10


# ---------------------------------------------------------------------------- prompts

def hellaswag_clean(text):
    """The harness's hellaswag preprocess: strip; ' [title]' becomes '. '; every shortest
    bracketed span (no newline inside) goes; then one pass turning double spaces into one."""
    out = text.strip().replace(" [title]", ". ")
    out = re.sub(r"\[[^\n]*?\]", "", out)
    return out.replace("  ", " ")


def requests(task, doc):
    """(list of (context, continuation), list of choice lengths, gold) of one document."""
    if task == "lambada_openai":
        words = doc["text"].split(" ")
        return [(" ".join(words[:-1]), " " + words[-1])], [0], 0
    if task == "hellaswag":
        query = hellaswag_clean(doc["activity_label"] + ": " + doc["ctx_a"] + " "
                                + doc["ctx_b"].capitalize())
        choices = [hellaswag_clean(e) for e in doc["endings"]]
        return [(query, " " + c) for c in choices], [len(c) for c in choices], int(doc["label"])
    if task == "piqa":
        q = "Question: %s\nAnswer:" % doc["goal"]
        choices = [doc["sol1"], doc["sol2"]]
        return [(q, " " + c) for c in choices], [len(c) for c in choices], int(doc["label"])
    if task in ("arc_easy", "arc_challenge"):
        q = "Question: %s\nAnswer:" % doc["question"]
        choices = doc["choices"]["text"]
        gold = doc["choices"]["label"].index(doc["answerKey"])
        return [(q, " " + c) for c in choices], [len(c) for c in choices], gold
    if task == "winogrande":
        s = doc["sentence"]
        cut = s.index("_")
        target = " " + s[cut + 1:].strip()
        contexts = [s[:cut] + doc["option1"], s[:cut] + doc["option2"]]
        return [(c, target) for c in contexts], [len(c) for c in contexts], \
            {"1": 0, "2": 1}[str(doc["answer"])]
    raise ValueError(task)


class Bytes:
    """The byte tokenizer: id i is byte i; no end-of-text token, "\\n" stands in."""
    eot = EOT_BYTE

    def encode(self, text):
        return list(text.encode("utf-8"))


class Bpe:
    """A Hugging Face tokenizer.json through the tokenizers library (tasks_encode.js): texts
    are first collected (collect=True, ids returned empty), then encoded all at once."""

    def __init__(self, path):
        self.path = path
        with open(path, encoding="utf-8") as f:
            added = json.load(f)["added_tokens"]
        self.eot = next(t["id"] for t in added if t["content"] == "<|endoftext|>")
        self.ids = {}
        self.collect = True

    def encode(self, text):
        if self.collect:
            self.ids.setdefault(text, None)
            return []
        return self.ids[text]

    def run(self):
        texts = list(self.ids)
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tasks_encode.js")
        out = subprocess.run(["node", script, self.path], input=json.dumps(texts),
                             capture_output=True, text=True, check=True).stdout
        self.ids = dict(zip(texts, json.loads(out)))
        self.collect = False


def encode_pair(tok, context, continuation):
    if context == "":
        return [tok.eot], tok.encode(continuation)
    moved = len(context) - len(context.rstrip())
    if moved:
        continuation = context[-moved:] + continuation
        context = context[:-moved]
    ctx = tok.encode(context)
    return ctx, tok.encode(context + continuation)[len(ctx):]


# ---------------------------------------------------------------------------- scoring

def loglikelihood(params, cfg, ctx, cont):
    """(sum of log-probabilities of cont, all greedy, smallest top-1 margin) for one request."""
    S = cfg["seq_len"]
    inp = (ctx + cont)[-(S + 1):][:-1]
    with torch.no_grad():
        logits = ref.forward(params, cfg, torch.tensor([inp], dtype=torch.int64))[0]
    logp = F.log_softmax(logits, dim=-1)[len(inp) - len(cont):]
    target = torch.tensor(cont, dtype=torch.int64)
    ll = logp.gather(1, target.unsqueeze(1)).sum().item()
    greedy = bool((logp.argmax(dim=-1) == target).all())
    # how far each target is from being (or not being) the argmax
    chosen = logp.gather(1, target.unsqueeze(1)).squeeze(1)
    others = logp.scatter(1, target.unsqueeze(1), -math.inf).max(dim=-1).values
    margin = (chosen - others).abs().min().item() if len(cont) else math.inf
    return ll, greedy, margin


def first_argmax(xs):
    best = 0
    for i, x in enumerate(xs):
        if x > xs[best]:
            best = i
    return best


def mean_stderr(xs):
    n = len(xs)
    mu = sum(xs) / n
    if n < 2:
        return mu, None
    return mu, math.sqrt(sum((x - mu) ** 2 for x in xs) / (n - 1)) / math.sqrt(n)


def smallest_gap(values):
    """The smallest difference between the best value and any other that is not equal to it
    (exact ties are broken by index, the same way everywhere)."""
    best = max(values)
    rest = [best - v for v in values if v != best]
    return min(rest) if rest else math.inf


def read_task(path):
    with open(path, encoding="utf-8") as f:
        return [(i + 1, l) for i, l in enumerate(f) if l.strip()]


def score_task(params, cfg, tok, task, path):
    examples, margins, gaps = [], [], []
    for line, text in read_task(path):
        pairs, lens, gold = requests(task, json.loads(text))
        reqs = []
        for context, continuation in pairs:
            ctx, cont = encode_pair(tok, context, continuation)
            ll, greedy, margin = loglikelihood(params, cfg, ctx, cont)
            reqs.append({"ctx": ctx, "cont": cont, "ll": ll, "greedy": greedy})
            margins.append(margin)
        lls = [r["ll"] for r in reqs]
        normed = [ll / n if n else -math.inf for ll, n in zip(lls, lens)]
        ex = {"line": line, "requests": reqs, "choice_len": lens, "gold": gold,
              "chosen": first_argmax(lls), "chosen_norm": first_argmax(normed)}
        if len(reqs) > 1:
            gaps += [smallest_gap(lls), smallest_gap(normed)]
        examples.append(ex)
    metrics = {"n": len(examples)}
    if task == "lambada_openai":
        metrics["acc"], metrics["acc_stderr"] = mean_stderr(
            [float(e["requests"][0]["greedy"]) for e in examples])
        mean_ll, se = mean_stderr([e["requests"][0]["ll"] for e in examples])
        metrics["perplexity"] = math.exp(-mean_ll)
        metrics["perplexity_stderr"] = math.exp(-mean_ll) * se
    else:
        metrics["acc"], metrics["acc_stderr"] = mean_stderr(
            [float(e["chosen"] == e["gold"]) for e in examples])
        if task != "winogrande":
            metrics["acc_norm"], metrics["acc_norm_stderr"] = mean_stderr(
                [float(e["chosen_norm"] == e["gold"]) for e in examples])
    return {"file": os.path.basename(path), "examples": examples, "metrics": metrics}, \
        min(margins), min(gaps) if gaps else math.inf


# ---------------------------------------------------------------------------- the model

MODEL_CFG = dict(vocab_size=256, d_model=32, n_layers=2, n_heads=2, seq_len=128,
                 qkv_tokens=32, proj_tokens=32, ffn_tokens=64, rotary_pct=0.5)
TRAIN_STEPS, TRAIN_BATCH, SEED = 300, 16, 2024


def train_model(corpus):
    """float32 parameters after TRAIN_STEPS Adam steps on random windows of corpus (bytes)."""
    cfg = ref.make_config(**MODEL_CFG)
    gen = torch.Generator().manual_seed(SEED)
    d = cfg["d_model"]
    params = ref.init_params(cfg, gen, key_std=1.0 / math.sqrt(d), value_std=0.2,
                             embed_std=0.5, norm_std=0.0)
    for p in params.values():
        p.requires_grad_(True)
    opt = torch.optim.Adam(list(params.values()), lr=3e-3)
    data = torch.tensor(list(corpus), dtype=torch.int64)
    T = cfg["seq_len"]
    for _ in range(TRAIN_STEPS):
        starts = torch.randint(0, len(data) - T - 1, (TRAIN_BATCH,), generator=gen)
        batch = torch.stack([data[s:s + T + 1] for s in starts.tolist()])
        loss = ref.loss_fn(ref.forward(params, cfg, batch[:, :-1]), batch[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    print("tasks model: %d Adam steps on %d bytes, last loss %.3f" % (TRAIN_STEPS, len(data),
                                                                      loss.item()))
    return cfg, {k: v.detach().clone() for k, v in params.items()}


BPE_CFG = dict(vocab_size=50304, d_model=32, n_layers=2, n_heads=2, seq_len=64,
               qkv_tokens=32, proj_tokens=32, ffn_tokens=64, rotary_pct=0.5)


def bpe_model(used):
    """Random float32 parameters of the BPE model; the embedding rows of ids no request uses
    are zero (their logits are 0), which keeps the checkpoint small."""
    cfg = ref.make_config(**BPE_CFG)
    gen = torch.Generator().manual_seed(SEED + 1)
    params = ref.init_params(cfg, gen, key_std=1.0 / math.sqrt(cfg["d_model"]), value_std=0.2,
                             embed_std=0.5, norm_std=0.1)
    keep = torch.zeros(cfg["vocab_size"], dtype=torch.bool)
    keep[sorted(used)] = True
    params["embed.weight"][~keep] = 0
    return cfg, params


def write_case(out, name, cfg, params32, tok, files, tokenizer):
    """Saves the model, scores every task file with it, writes NAME.json; False when a
    choice or a greedy argmax is too close to call."""
    model = os.path.join(out, name + ".tfz")
    ref.save_checkpoint(model, cfg, params32)
    cfg, params32, _ = ref.load_checkpoint(model)
    params = {k: v.double() for k, v in params32.items()}
    record = {"model": name + ".tfz", "tokenizer": tokenizer, "tasks": {}}
    ok = True
    for t in TASKS:
        result, margin, gap = score_task(params, cfg, tok, t, files[t])
        record["tasks"][t] = result
        m = result["metrics"]
        # a float32 implementation agrees to about 1e-5: a closer call could go either way
        clear = margin > 1e-4 and gap > 1e-4
        ok &= clear
        print("%-11s %-15s n %2d  acc %.3f%s  min greedy margin %.1e  min choice gap %.1e  %s" % (
            name, t, m["n"], m["acc"], "  acc_norm %.3f" % m["acc_norm"] if "acc_norm" in m
            else "  perplexity %.3f" % m["perplexity"] if "perplexity" in m else "", margin, gap,
            "ok" if clear else "TOO CLOSE"))
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(record, f, indent=None, separators=(",", ":"))
        f.write("\n")
    return ok


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(here, "..", "..")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "fixtures"))
    ap.add_argument("--tasks", default=os.path.join(here, "..", "fixtures", "tasks"))
    ap.add_argument("--tokenizer", default=os.path.join(root, "data", "gpt-neox-20b-tokenizer.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    files = {t: os.path.join(args.tasks, t + ".jsonl") for t in TASKS}
    corpus = b"".join(open(files[t], "rb").read() for t in TASKS)
    cfg, params32 = train_model(corpus)
    ok = write_case(args.out, "tasks_bytes", cfg, params32, Bytes(), files, "bytes")

    bpe = Bpe(args.tokenizer)
    for t in TASKS:  # collect every text the requests encode, then encode them at once
        for _, text in read_task(files[t]):
            for context, continuation in requests(t, json.loads(text))[0]:
                encode_pair(bpe, context, continuation)
    bpe.run()
    used = {bpe.eot} | {i for ids in bpe.ids.values() for i in ids}
    cfg, params32 = bpe_model(used)
    ok &= write_case(args.out, "tasks_bpe", cfg, params32, bpe, files,
                     os.path.relpath(args.tokenizer, root))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
