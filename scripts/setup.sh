#!/usr/bin/env bash
# Create .venv and install s1mmalign with its test tools. Safe to rerun.
#
# torch: an already-installed torch is kept. Otherwise a wheel on local disk is preferred
# (on the project's CI machines that is a CPU build, installed in seconds); anywhere else
# pip resolves torch as usual. Nothing here pins torch for users.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
EXTRAS=${S1MMALIGN_EXTRAS:-test}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! python -c "import torch" 2>/dev/null; then
  pip install -q --no-index --no-deps torch 2>/dev/null || true
  pip install -q torch
fi
pip install -q -e ".[${EXTRAS}]"
python -c "import torch, datasets, s1mmalign.builder, s1mmalign.loaders; print('s1mmalign ready: torch', torch.__version__, '| datasets', datasets.__version__)"
