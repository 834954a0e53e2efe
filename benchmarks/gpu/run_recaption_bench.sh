#!/usr/bin/env bash
# Recaption + scoring throughput on a GPU machine, with real checkpoints where they are on disk.
#
#   bash benchmarks/gpu/run_recaption_bench.sh            # from the repository root
#
# GPU machines here cannot download: point these at local folders (e.g. copied into shared/ or
# an HF cache); whatever is unset falls back to the tiny random-weight model, and the output
# says so.
#   QWEN_MODEL  Qwen2.5-VL / Qwen3-VL folder   (e.g. a local copy of Qwen/Qwen2.5-VL-3B-Instruct)
#   CLIP_MODEL  CLIP folder                    (e.g. openai/clip-vit-base-patch32)
#   MLM_MODEL   masked LM folder               (e.g. allenai/scibert_scivocab_uncased)
#   ITEMS (default 64), NEW_TOKENS (default 128), BATCH_SIZES (default 1,4,16)
#   DEVICE (default cuda; cpu only to rehearse the script), DTYPE (default bfloat16 on cuda, float32 on cpu)
#   PY (default .venv/bin/python, else python3)
# Writes the printed table to $OUT/bench_recaption.txt when OUT is set.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
[ -x "${PY%% *}" ] || command -v "${PY%% *}" >/dev/null || PY=python3
DEVICE=${DEVICE:-cuda}
if [ "$DEVICE" = cpu ]; then DTYPE=${DTYPE:-float32}; else DTYPE=${DTYPE:-bfloat16}; fi
if [ "$DEVICE" != cpu ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  $PY -c "import torch; assert torch.cuda.is_available(), 'no CUDA device visible'; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
fi
args=(--device "$DEVICE" --dtype "$DTYPE" --items "${ITEMS:-64}" --new-tokens "${NEW_TOKENS:-128}" --batch-sizes "${BATCH_SIZES:-1,4,16}")
[ -n "${QWEN_MODEL:-}" ] && args+=(--model "$QWEN_MODEL")
[ -n "${CLIP_MODEL:-}" ] && args+=(--clip-model "$CLIP_MODEL")
[ -n "${MLM_MODEL:-}" ] && args+=(--mlm-model "$MLM_MODEL")
[ -z "${QWEN_MODEL:-}" ] && echo "QWEN_MODEL unset: benchmarking the tiny random-weight Qwen2.5-VL on $DEVICE (code path only)"
echo "bench args: ${args[*]}"
if [ -n "${OUT:-}" ]; then
  $PY benchmarks/bench_recaption.py "${args[@]}" 2>&1 | grep -v "Loading weights\|Writing model" | tee "$OUT/bench_recaption.txt"
else
  $PY benchmarks/bench_recaption.py "${args[@]}" 2>&1 | grep -v "Loading weights\|Writing model"
fi
