#!/bin/sh
# demo-bpe.sh BIN: the paper's tokenizer on the demo corpus, printing what each step does:
# tokenize the King James Bible into an indexed token dataset with the GPT-NeoX-20B BPE,
# create configs/small-bpe.yaml's model (the tokenizer stored inside it), train it briefly on
# the dataset, score it in bits per byte of text (comparable with the byte model's), sample.
# DEMO_BPE_STEPS (default 200, 1024 tokens a step) sets the training length.
set -eu
steps=${DEMO_BPE_STEPS:-200}
. "$(dirname "$0")/demo-steps.sh"
tok=data/gpt-neox-20b-tokenizer.json

run "what the GPT-NeoX-20B tokenizer makes of a verse" \
  "echo 'In the beginning God created the heaven and the earth.' | tf-tokenize -t $tok --ids"
run "tokenize the corpus into indexed token datasets (Megatron/GPT-NeoX format)" \
  "tf-tokenize -t $tok -o $out/kjv-train data/kjv-train.txt && tf-tokenize -t $tok -o $out/kjv-valid data/kjv-valid.txt && tf-tokenize -t $tok --count data/kjv-valid.txt"
run "create the small BPE model (configs/small-bpe.yaml stores the tokenizer in it)" \
  "tf-init -c configs/small-bpe.yaml -o $out/b0.tfz"
run "train it on the token dataset" \
  "tf-train -c configs/small-bpe.yaml -i $out/b0.tfz -o $out/b1.tfz --steps $steps --set train.data=$out/kjv-train --set train.valid=$out/kjv-valid --set train.eval_every=50"
run "score it: loss per token, and bits per byte of the text, comparable with a byte model" \
  "tf-eval -i $out/b1.tfz --data data/kjv-valid.txt"
run "sample from it (the prompt is encoded with the stored tokenizer)" \
  "tf-generate -i $out/b1.tfz -p 'And God said' -n 60 --seed 1 -t 0.8 --echo; echo"
