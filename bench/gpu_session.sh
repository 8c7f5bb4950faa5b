#!/usr/bin/env bash
# One prepared run for a session that is lent the GPU machine (the device tool), for the
# fast-training and shipped-model issues. Here, first:
#     mkdir -p work && cp ../shared/fer2013.tar.xz ../shared/weights/*.pth work/
# then run this script with `carry: ["work"]` and a timeout that leaves room for a rerun.
# The GPU image has PyTorch, ONNX, scikit-learn, seaborn, tqdm and OpenCV: nothing to install.
# Results land in $OUT: JSON lines from the benches and the trained model's files.
# A smoke run first: SKIP_BENCH=1 SHIPPED_FLAGS='--img-size 48 --epochs 1' bash bench/gpu_session.sh
# PHOTO_AUG=0.5 trains a second candidate beside it on the same GPU, the same but with photo-like
# degradations (--photo-aug, issue 34), and brings back its calibrated model as photo.onnx:
# measure both on ../shared/realworld here (`python bench/realworld.py --model ...`), where
# the photos are (they do not fit in the 64 MiB that travels with the dataset).
set -euo pipefail
export PYTHONPATH="$PWD/src" PYTHONUNBUFFERED=1 FERKIT_SHARED="$PWD/work/shared" TQDM_DISABLE=1
OUT="${OUT:-$PWD/work/out}"
mkdir -p "$FERKIT_SHARED/weights" "$OUT"
tar xJf work/fer2013.tar.xz -C "$FERKIT_SHARED"
cp work/mobilenet_v2_imagenet_fp16.pth "$FERKIT_SHARED/weights/"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader \
    | python3 -c 'import json, sys; print(json.dumps({"kind": "gpu", "name": sys.stdin.read().strip()}))' \
    | tee "$OUT/bench.jsonl"

# The fast-training numbers: step alone vs end to end at 224 and at the fast preset's size,
# then time to 67%. SKIP_BENCH=1 leaves them out (a smoke run).
if [ -z "${SKIP_BENCH:-}" ]; then
    python3 bench/train_throughput.py --epochs 2 2>&1 | grep '^{' | tee -a "$OUT/bench.jsonl"
    python3 bench/time_to_accuracy.py 2>&1 | grep '^{' | tee -a "$OUT/bench.jsonl"
fi

# The shipped model's candidate (SHIPPED_FLAGS overrides the recipe's settings). A share of
# train is held out (VAL_SPLIT, val_split.txt): it picks the checkpoint, so that PublicTest
# stays a test, and it fits the temperature of the calibrated model (`ferkit calibrate`).
candidate() {  # NAME [more train.py flags]: train, export and calibrate $OUT/NAME.onnx
    local name=$1; shift
    python3 train.py --data "$FERKIT_SHARED/fer2013" --recipe fast --output-dir "$OUT/$name" \
        --val-split "${VAL_SPLIT:-0.05}" --no-progress \
        --pretrained "$FERKIT_SHARED/weights/mobilenet_v2_imagenet_fp16.pth" \
        ${SHIPPED_FLAGS:---img-size 160 --epochs 30 --ema 0.999} "$@" 2>&1 \
        | grep -v '^ ' | tail -40 > "work/$name.log"
    python3 -m ferkit export --model "$OUT/$name/best_model.pth" \
        --output "work/${name}_uncalibrated.onnx" --fp16-weights --tta
    python3 -m ferkit calibrate --model "work/${name}_uncalibrated.onnx" \
        --data "$FERKIT_SHARED/fer2013/train" --files "$OUT/$name/val_split.txt" \
        --output "$OUT/$name.onnx"
}
if [ -n "${PHOTO_AUG:-}" ]; then
    candidate photo --photo-aug "$PHOTO_AUG" &
    photo=$!
fi
candidate shipped
[ -z "${photo:-}" ] || wait "$photo" || echo '{"kind": "error", "photo": "its training failed"}'
cat work/*.log
python3 -m ferkit evaluate --model "$OUT/shipped.onnx" --data "$FERKIT_SHARED/fer2013/test" \
    --output-dir "$OUT/test"
# PublicTest's faces that are photos also in train, and the accuracy without them
python3 bench/fer_duplicates.py --model "$OUT/shipped.onnx" --similar 0.95 | tee -a "$OUT/bench.jsonl"
# The default model is the int8 copy: its accuracy and calibration error too (the copy that
# ships is made again on the development machine, from shipped.onnx, as the model card says)
python3 -m ferkit export --model "$OUT/shipped.onnx" --output work/shipped_int8.onnx \
    --int8 "$FERKIT_SHARED/fer2013/train"
python3 -m ferkit evaluate --model work/shipped_int8.onnx --data "$FERKIT_SHARED/fer2013/test" \
    --output-dir work/test_int8 > /dev/null
python3 -c 'import json; m = json.load(open("work/test_int8/metrics.json")); print(json.dumps(
    {"kind": "int8_candidate", **{k: m[k] for k in ("accuracy", "macro_f1", "ece", "tta")}}))' \
    | tee -a "$OUT/bench.jsonl"
# At most 8 files come back from $OUT: bench.jsonl, shipped.onnx (calibrated: the temperature
# and its report are in its metadata), shipped/{best_model.pth,metrics.json,
# training_history.png}, test/{metrics.json,confusion_matrix.png,reliability.png}. The
# validation split's report and plots, and the PublicTest report, are inside the metrics files.
# With PHOTO_AUG, photo.onnx and photo/metrics.json replace test's two pictures, which
# `ferkit evaluate --model shipped.onnx --data ../shared/fer2013/test` draws again here.
rm -f "$OUT"/{shipped,photo}/{last_model.pth,classification_report.txt,confusion_matrix.png} \
    "$OUT"/{shipped,photo}/val_split.txt \
    "$OUT"/test/{classification_report.txt,predictions.csv,mistakes.png}
if [ -n "${PHOTO_AUG:-}" ]; then
    rm -f "$OUT"/photo/{best_model.pth,training_history.png} "$OUT"/test/*.png
fi
find "$OUT" -type f | sort
