#!/bin/sh
# quality.sh BIN MODEL [TEXT]: what the inference weight formats (--weights bf16, q8; README
# "Generating text", docs/model.md §7.2) cost a trained model. Scores TEXT (default
# data/kjv-valid.txt) with tf-eval --weights f32, bf16 and q8 (bits per byte, and each
# format's difference from f32 in percent), then generates the first 64 tokens of each of the
# 20 prompts below greedily with each format and counts the prompts whose text is identical to
# f32's (for the others: the first token that differs). A measurement, never a test: it fails
# only when a program cannot run. Outputs in build/quality/ (QUALITY_OUT overrides);
# QUALITY_MAX_BYTES=N scores only the first N bytes of TEXT (tf-eval --max-bytes). `make
# quality` runs it on the `make learn` model.
set -eu
bin=${1:?usage: quality.sh BIN MODEL [TEXT]}
model=${2:?usage: quality.sh BIN MODEL [TEXT]}
text=${3:-data/kjv-valid.txt}
out=${QUALITY_OUT:-build/quality}
n=64
mkdir -p "$out"
for f in "$bin/tf-eval" "$bin/tf-generate" "$model" "$text"; do
  [ -e "$f" ] || { echo "quality.sh: $f: not found" >&2; exit 66; }
done

cat > "$out/prompts.txt" <<'EOF'
In the beginning
And God said, Let there be
The LORD is my shepherd;
And it came to pass, when
Blessed are the
Thus saith the LORD of hosts,
And Jesus answered and said unto them,
For God so loved the world,
Now the serpent was more subtil than
And the children of Israel
Hear, O Israel:
Vanity of vanities, saith the Preacher;
Then Moses said unto the LORD,
My son, hear the instruction of thy father,
And the king said unto
Paul, an apostle of Jesus Christ
Woe unto you, scribes and Pharisees,
The words of the prophet
The quick brown fox
Once upon a time, there was
EOF

for w in f32 bf16 q8; do
  "$bin/tf-eval" -q --json --weights "$w" -i "$model" --data "$text" \
    ${QUALITY_MAX_BYTES:+--max-bytes "$QUALITY_MAX_BYTES"} > "$out/eval-$w.json"
  : > "$out/gen-$w.jsonl"
  while IFS= read -r p; do
    "$bin/tf-generate" --json --greedy -n "$n" --weights "$w" -i "$model" -p "$p" \
      >> "$out/gen-$w.jsonl"
  done < "$out/prompts.txt"
done

python3 - "$out" "$model" "$n" <<'PY'
import json, sys
out, model, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ev = {w: json.load(open("%s/eval-%s.json" % (out, w))) for w in ("f32", "bf16", "q8")}
gen = {w: [json.loads(l) for l in open("%s/gen-%s.jsonl" % (out, w))] for w in ev}
base = ev["f32"]["bits_per_byte"]
print("quality: %s on %s (%d tokens, %d bytes)" % (model, ev["f32"]["data"],
      ev["f32"]["tokens"], ev["f32"]["bytes"]))
for w in ev:
    b = ev[w]["bits_per_byte"]
    print("  %-4s %.6f bits per byte  %+.4f %% of f32" % (w, b, 100 * (b - base) / base))
print("greedy, first %d tokens of %d prompts, identical to f32:" % (n, len(gen["f32"])))
for w in ("bf16", "q8"):
    same, first = 0, []
    for a, b in zip(gen["f32"], gen[w]):
        if a["ids"] == b["ids"]:
            same += 1
        else:
            k = next((i for i, (x, y) in enumerate(zip(a["ids"], b["ids"])) if x != y),
                     min(len(a["ids"]), len(b["ids"])))
            first.append(k)
    print("  %-4s %2d of %d%s" % (w, same, len(gen["f32"]),
          "; the others differ from token " + ", ".join(map(str, sorted(first))) if first else ""))
print("texts: %s/gen-{f32,bf16,q8}.jsonl" % out)
PY
