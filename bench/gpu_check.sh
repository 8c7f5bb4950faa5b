#!/usr/bin/env bash
# The CUDA test suite on a lent GPU machine (the device tool), with the GPU's name: one call,
#     run: bash bench/gpu_check.sh        (timeout_s ~480; nothing to carry)
# tests/training/test_cuda.py: bf16 + channels_last epochs, --compile, export after CUDA training,
# CUDA vs CPU evaluation, torchrun with NCCL, GPU memory over epochs. Every test makes its
# own small data. The report comes back as $OUT/gpu_check.txt (also printed).
set -uo pipefail
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 TQDM_DISABLE=1
OUT="${OUT:-$PWD/work/out}"
mkdir -p "$OUT"
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
    python3 -m pytest -m requires_cuda -v -rs -p no:cacheprovider --durations=0 tests/training/test_cuda.py
} 2>&1 | tee "$OUT/gpu_check.txt"
exit "${PIPESTATUS[0]}"
