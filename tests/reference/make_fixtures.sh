#!/bin/sh
# make_fixtures.sh: regenerate tests/fixtures from the PyTorch reference (needs python3-torch).
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
exec "${PYTHON:-/usr/bin/python3}" "$here/make_official.py" --out "$here/../fixtures/official" \
  --seeds "$here/../fuzz/corpus/torch"
