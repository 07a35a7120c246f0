#!/bin/sh
# make_fixtures.sh: regenerate tests/fixtures from the PyTorch reference (needs python3-torch)
# and the tokenizer fixtures from the Hugging Face tokenizers library (needs node and npm: the
# pinned npm package is installed once into tests/reference/node/node_modules, git-ignored).
# Usage: sh tests/reference/make_fixtures.sh [BIN_DIR]
# The indexed token datasets (mmidx_*) come from mmidx_ref.py (numpy only).
# BIN_DIR (what `make fixtures` passes, build/bin) is accepted and not used: the fixtures come
# from PyTorch alone. Debian's torch imports only under the system interpreter; set PYTHON to
# use another one.
set -e
here=$(dirname "$0")
"${PYTHON:-/usr/bin/python3}" "$here/mmidx_ref.py" --out "$here/../fixtures"
"${PYTHON:-/usr/bin/python3}" "$here/make_fixtures.py" --out "$here/../fixtures"
# the released checkpoints' layout (torch.save files, configs, the official forward)
"${PYTHON:-/usr/bin/python3}" "$here/make_official.py" --out "$here/../fixtures/official" \
  --seeds "$here/../fuzz/corpus/torch"
# the Hugging Face tokenizers library (npm), for the tokenizer and BPE task fixtures
if [ ! -d "$here/node/node_modules/tokenizers" ]; then
  npm ci --prefix "$here/node" --no-audit --no-fund
fi
# the zero-shot tasks: a small trained byte model and the harness's scores of the task files
"${PYTHON:-/usr/bin/python3}" "$here/tasks_ref.py" --out "$here/../fixtures" \
  --tasks "$here/../fixtures/tasks"
node "$here/tokenizer_fixtures.js" "$here/../.."
