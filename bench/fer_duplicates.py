"""FER2013's test faces that are also in its training set, and what they do to the accuracy.

    python bench/fer_duplicates.py              # PublicTest against train, the bundled int8 model
    python bench/fer_duplicates.py --test ../shared/fer2013/private --model model.onnx

Two crops are the same face photo when their 24x24 thumbnails, less their mean brightness,
point the same way (cosine similarity >= --similar, default 0.99): this finds a re-saved or
re-levelled copy, not merely a similar face. Prints one JSON line per threshold: how many test
faces have such a twin in train, how often the twin's label is the same, and the model's
accuracy and mean confidence on the faces with and without a twin.
"""

import argparse
from pathlib import Path

import numpy as np
from _common import FER, device_name, emit, require
from PIL import Image

from ferkit.io.datasets import load_split
from ferkit.recognition.recognizer import load


def thumbnails(faces: np.ndarray) -> np.ndarray:
    """Unit vectors of the 24x24 thumbnails less their mean: brightness and contrast drop out."""
    if faces.shape[1:] != (48, 48):  # another dataset: FER2013's size first
        faces = np.stack([np.asarray(Image.fromarray(f).resize((48, 48))) for f in faces])
    x = faces.astype(np.float32).reshape(len(faces), 24, 2, 24, 2).mean((2, 4))
    x = x.reshape(len(faces), -1)
    x -= x.mean(1, keepdims=True)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)


def nearest(queries: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each query's most similar face in the pool: (similarity, index)."""
    best, where = np.empty(len(queries), np.float32), np.empty(len(queries), int)
    for i in range(0, len(queries), 2048):
        sim = queries[i : i + 2048] @ pool.T
        where[i : i + 2048] = sim.argmax(1)
        best[i : i + 2048] = sim[np.arange(len(sim)), where[i : i + 2048]]
    return best, where


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", type=Path, default=FER / "train")
    p.add_argument("--test", type=Path, default=FER / "test")
    p.add_argument("--model", help="a model file, or fp32 (default: the bundled int8 model)")
    p.add_argument("--similar", type=float, nargs="+", default=[0.999, 0.99, 0.95])
    args = p.parse_args()
    require(args.train)
    require(args.test)

    train = load_split(args.train, size=48, progress=False)
    test = load_split(args.test, train.classes, size=48, progress=False)
    similarity, twin = nearest(thumbnails(test.images), thumbnails(train.images))

    recognizer = load(args.model)
    probs = np.concatenate([recognizer.classify(list(test.images[i : i + 256]))
                            for i in range(0, len(test.images), 256)])
    right = probs.argmax(1) == test.labels
    confidence = probs.max(1)
    for threshold in args.similar:
        has = similarity >= threshold
        emit(bench="fer_duplicates", test=str(args.test), similar=threshold,
             test_faces=len(test.images), with_twin_in_train=int(has.sum()),
             twin_same_label=round(float((train.labels[twin[has]] == test.labels[has]).mean()), 3),
             accuracy_all=round(float(right.mean()), 4),
             accuracy_with_twin=round(float(right[has].mean()), 4),
             accuracy_without_twin=round(float(right[~has].mean()), 4),
             confidence_with_twin=round(float(confidence[has].mean()), 4),
             confidence_without_twin=round(float(confidence[~has].mean()), 4),
             model=args.model or "int8", device=device_name())


if __name__ == "__main__":
    main()
