#!/usr/bin/env bash
# One prepared run for a session that is lent the GPU machine (the device tool), for the
# fast-training and shipped-model issues. Here, first:
#     mkdir -p work && cp ../shared/fer2013.tar.xz ../shared/weights/*.pth work/
# then run this script with `carry: ["work"]` and a timeout that leaves room for a rerun.
# The GPU image has PyTorch, ONNX, scikit-learn, seaborn, tqdm and OpenCV: nothing to install.
# Results land in $OUT: JSON lines from the benches and the trained model's files.
set -euo pipefail
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 FERKIT_SHARED="$PWD/work/shared"
OUT="${OUT:-$PWD/work/out}"
mkdir -p "$FERKIT_SHARED/weights" "$OUT"
tar xJf work/fer2013.tar.xz -C "$FERKIT_SHARED"
cp work/mobilenet_v2_imagenet_fp16.pth "$FERKIT_SHARED/weights/"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"

# Issue 3: step alone vs end to end at 224 and at the fast preset's size, then time to 67%.
python bench/train_throughput.py --epochs 2 2>&1 | grep '^{' | tee "$OUT/throughput.jsonl"
python bench/time_to_accuracy.py 2>&1 | grep '^{' | tee "$OUT/time_to_accuracy.jsonl"

# Issue 4: the shipped model's candidate (SHIPPED_FLAGS overrides the recipe's settings).
python train.py --data "$FERKIT_SHARED/fer2013" --recipe fast --output-dir "$OUT/shipped" \
    --pretrained "$FERKIT_SHARED/weights/mobilenet_v2_imagenet_fp16.pth" --no-progress \
    ${SHIPPED_FLAGS:---img-size 160 --epochs 30 --ema 0.999} 2>&1 | grep -v '^ ' | tail -40
python -m ferkit export --model "$OUT/shipped/best_model.pth" --output "$OUT/shipped.onnx" \
    --fp16-weights --tta
# at most 8 files come back from $OUT: the report is inside metrics.json
rm -f "$OUT/shipped/last_model.pth" "$OUT/shipped/classification_report.txt"
