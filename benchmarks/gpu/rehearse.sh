#!/usr/bin/env bash
# Rehearse device_check.sh here on the CPU, in an environment shaped like the GPU machine's, so
# the one run there does not fail on a typo or a missing import.
#
#   bash benchmarks/gpu/rehearse.sh          # from anywhere; needs .venv and PyPI access
#
# The GPU machine's python3 has torch, transformers 5.17, huggingface_hub 1.33, torchvision,
# pyarrow, ... but not datasets, webdataset, dill, multiprocess, defusedxml, torchdata or this
# package (/work/.library/device/KINDS.md). The rehearsal runs python3.11 with -S (no
# site-packages at all) on:
#   base  symlinks to .venv's packages, minus those the machine lacks and minus transformers /
#         huggingface_hub, which come from `over` in the machine's versions
#   whl   cp311 builds of the wheels in .whl/ (which holds the cp312 ones carried to the machine)
# Not rehearsed: torchvision, which the machine has (so Qwen-VL's AutoProcessor and the torchvision
# image processors are used there). PyPI's torchvision is built for CUDA torch and does not import
# with this CPU torch ("operator torchvision::nms does not exist"), and the CPU build is not on PyPI.
# Folders live under $REHEARSE_DIR (default /tmp/s1mmalign-rehearse); the log lands in $REHEARSE_DIR/out.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
R=${REHEARSE_DIR:-/tmp/s1mmalign-rehearse}
VPY=.venv/bin/python
PY311=${PY311:-$(PYENV_VERSION=3.11.7 pyenv which python3.11 2>/dev/null || command -v python3.11)}
DL=($VPY -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 --implementation cp
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64)
MISSING_ON_DEVICE="braceexpand datasets defusedxml dill multiprocess torchdata webdataset s1mmalign pypdfium2 ray
  httpx2 httpcore2 transformers huggingface_hub"
mkdir -p "$R"

# base: the venv's site-packages minus what the machine lacks (by each distribution's RECORD)
$VPY - "$R/base" $MISSING_ON_DEVICE <<'EOF'
import importlib.metadata as md, os, re, shutil, sys, sysconfig
base, drop = sys.argv[1], {re.sub(r"[-_.]+", "-", n).lower() for n in sys.argv[2:]}
site = sysconfig.get_paths()["purelib"]
dropped = set()
for d in md.distributions():
    if re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() in drop:
        dropped |= {f.parts[0] for f in (d.files or []) if f.parts and not f.parts[0].startswith("..")}
shutil.rmtree(base, ignore_errors=True)
os.makedirs(base)
keep = [n for n in os.listdir(site) if n not in dropped and not n.endswith(".pth") and not n.startswith("__editable__")]
for n in keep:
    os.symlink(os.path.join(site, n), os.path.join(base, n))
print(f"base: {len(keep)} entries linked, {len(dropped)} dropped")
EOF

# over: the machine's transformers / huggingface_hub (+ what hub 1.x needs)
"${DL[@]}" -d "$R/over-whl" transformers==5.17.0 huggingface_hub==1.33.0 httpx==0.28.1 httpcore==1.0.9
rm -rf "$R/over" && $VPY -m pip install -q --no-index --no-deps --no-compile --target "$R/over" "$R"/over-whl/*.whl

# whl: the same distributions and versions as .whl/, built for 3.11
rm -rf "$R/whl" && mkdir -p "$R/whl"
specs=$(for w in .whl/*.whl; do n=$(basename "$w"); echo "${n%%-*}==$(echo "$n" | cut -d- -f2)"; done)
"${DL[@]}" -d "$R/whl" $specs

rm -rf "$R/out" "$R/site" "$R/site-src"
DEVICE=cpu PY="$PY311 -S" PIP="$VPY -m pip" WHEELS="$R/whl" SITE="$R/site" BASE_PATH="$R/over:$R/base" OUT="$R/out" \
  ITEMS=${ITEMS:-8} NEW_TOKENS=${NEW_TOKENS:-16} bash benchmarks/gpu/device_check.sh
