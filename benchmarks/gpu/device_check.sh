#!/usr/bin/env bash
# One prepared GPU check of recaption and scoring, on a machine whose python3 has torch and
# transformers but not this package or its other dependencies (no network there either).
#
#   on the GPU machine, from the repository root:   bash benchmarks/gpu/device_check.sh
#   rehearsal here, on the CPU:                       bash benchmarks/gpu/rehearse.sh
#
# Steps (each one runs even if an earlier one failed; the summary lists the failures):
#   0. install the wheels in $WHEELS (datasets, webdataset, ... for this python) into $SITE with
#      `pip --target`, and make s1mmalign importable from this working tree through a folder of
#      symlinks (s1mmalign/builder -> builder/, s1mmalign/loaders -> loaders/): nothing is
#      installed into the system python
#   1. nvidia-smi, versions, torch's device
#   2. benchmarks/gpu/compare_devices.py: CLIP score and pseudo-perplexity on $DEVICE against the CPU
#   3. benchmarks/gpu/run_recaption_bench.sh: tiny Qwen2.5-VL items/s at batch 1,4,16 in bfloat16
#   4. (PYTEST=1) the recaption/scoring unit tests, which run on this machine's CPU
#
# Environment: DEVICE (cuda), PY (python3; may carry flags, e.g. "python3.11 -S"), PIP ($PY -m pip),
# WHEELS (.whl; wheels in $WHEELS/optional/ go in only where the machine's own are too old),
# SITE (/tmp/site), BASE_PATH (appended to PYTHONPATH; rehearsal only), OUT (the log goes to
# $OUT/device_check.txt; a temporary folder if unset), ITEMS, NEW_TOKENS, BATCH_SIZES (bench),
# PYTEST (1).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
DEVICE=${DEVICE:-cuda}
PY=${PY:-python3}
PIP=${PIP:-$PY -m pip}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/site}
OUT=${OUT:-$(mktemp -d)}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false OUT

FAILED=()
step() {  # step NAME CMD...: run, time, record a failure, go on
  local name=$1 t=$SECONDS rc
  shift
  echo
  echo "=== $name"
  "$@"
  rc=$?
  if [ $rc -eq 0 ]; then echo "--- $name: ok ($((SECONDS - t)) s)"; else echo "--- $name: FAILED, exit $rc ($((SECONDS - t)) s)"; FAILED+=("$name"); fi
  return $rc
}

setup() {
  ls "$WHEELS"/*.whl >/dev/null || { echo "no wheels in $WHEELS: download them first (docs/recaption.md, 'On a GPU')"; return 1; }
  $PIP install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl || return 1
  # pyarrow: datasets 5.2 wants >= 24; install the carried one only if the machine's is older.
  if ls "$WHEELS"/optional/pyarrow-*.whl >/dev/null 2>&1 &&
     ! PYTHONPATH=${BASE_PATH:-} $PY -c "import sys, pyarrow; sys.exit(int(pyarrow.__version__.split('.')[0]) < 24)" 2>/dev/null; then
    echo "machine's pyarrow missing or < 24: installing the carried one"
    $PIP install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/optional/pyarrow-*.whl || return 1
  fi
  local src="$SITE-src"
  rm -rf "$src" && mkdir -p "$src/s1mmalign"
  ln -s "$ROOT/builder" "$src/s1mmalign/builder"
  ln -s "$ROOT/loaders" "$src/s1mmalign/loaders"
  ln -s "$ROOT/s1mmalign_dataset.py" "$src/s1mmalign_dataset.py"
  export PYTHONPATH="$src:$SITE${BASE_PATH:+:$BASE_PATH}"
  echo "PYTHONPATH=$PYTHONPATH"
  $PY - "$ROOT" <<'EOF'
import os, sys
import s1mmalign_dataset, s1mmalign.builder.stages.recaption, s1mmalign.builder.stages.scoring, s1mmalign.loaders
root = os.path.realpath(sys.argv[1])
for m in (s1mmalign_dataset, s1mmalign.builder.stages.scoring, s1mmalign.loaders):
    real = os.path.realpath(m.__file__)
    assert real.startswith(root + os.sep), f"{m.__name__} comes from {real}, not the working tree {root}"
print("s1mmalign imports from the working tree:", os.path.dirname(os.path.realpath(s1mmalign.builder.stages.scoring.__file__)))
EOF
}

environment() {
  if [ "$DEVICE" != cpu ]; then nvidia-smi || return 1; fi
  $PY - "$DEVICE" <<'EOF'
import importlib, platform, sys
print("python", platform.python_version(), sys.executable)
for name in ("torch", "transformers", "tokenizers", "huggingface_hub", "safetensors", "torchvision", "datasets",
             "webdataset", "pyarrow", "numpy", "PIL"):
    try:
        m = importlib.import_module(name)
        print(f"  {name:<16} {getattr(m, '__version__', '?'):<14} {m.__file__}")
    except Exception as e:  # report, the steps below say whether it matters
        print(f"  {name:<16} NOT IMPORTABLE ({type(e).__name__}: {e})")
import torch
print(f"torch threads {torch.get_num_threads()}, cuda available {torch.cuda.is_available()}, torch cuda {torch.version.cuda}, "
      f"TF32 by default: matmul {torch.backends.cuda.matmul.allow_tf32}, cuDNN {torch.backends.cudnn.allow_tf32}")
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"device 0: {p.name}, {p.total_memory / 2**30:.1f} GiB, sm_{p.major}{p.minor}, {p.multi_processor_count} SMs")
if sys.argv[1] != "cpu" and not torch.cuda.is_available():
    sys.exit("no CUDA device visible to torch")
EOF
}

main() {
  # (no git hash: the working tree travels with uncommitted changes, and a copied .git may be stale)
  echo "device_check: $(date -u +%FT%TZ) on $(hostname), DEVICE=$DEVICE"
  step "setup" setup || { echo "setup failed: nothing else can run"; return 1; }
  step "environment" environment || { [ "$DEVICE" != cpu ] && return 1; }
  # Short checks first; each step has its own time limit so one that hangs leaves time for the rest.
  step "scores on $DEVICE vs CPU" timeout 180 $PY benchmarks/gpu/compare_devices.py --device "$DEVICE"
  step "recaption benchmark ($DEVICE)" timeout 300 env PY="$PY" DEVICE="$DEVICE" bash benchmarks/gpu/run_recaption_bench.sh
  # The unit tests pin device="cpu": here they check this machine's transformers and torchvision.
  [ "${PYTEST:-1}" = 1 ] && step "unit tests (CPU)" timeout 180 $PY -m pytest -q -p no:cacheprovider -o addopts= \
    tests/test_scoring.py tests/test_recaption_backends.py tests/test_recaption_prompt.py
  echo
  if [ ${#FAILED[@]} -eq 0 ]; then echo "device_check: all steps ok ($SECONDS s)"; else echo "device_check: FAILED steps: ${FAILED[*]} ($SECONDS s)"; return 1; fi
}

mkdir -p "$OUT"
main 2>&1 | grep --line-buffered -v "Loading weights\|Writing model" | tee "$OUT/device_check.txt"
