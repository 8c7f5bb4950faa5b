"""Knowledge distillation: training targets that mix the labels with what trained models
(teachers, .onnx or .pth, their probabilities averaged) say of each training image.

The teachers see each image once, un-augmented, before the first epoch, so a run costs one
inference pass per teacher over the training set (FER2013's 28,709 faces at 96 px on two CPU
cores: 27 s for an fp32 ONNX teacher, 12 s for an int8 one) and resumes to the same targets.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..errors import FerkitError
from ..recognition.recognizer import load

BATCH = 512


def check_teachers(paths: list[str]) -> None:
    """Fail before any slow work when a teacher file is missing."""
    for path in paths:
        if not Path(path).is_file():
            raise FerkitError(f"--teacher: no such model file: {path}")


def teacher_probs(paths: list[str], images: np.ndarray, classes: list[str],
                  progress: bool = True) -> np.ndarray:
    """The teachers' mean probabilities [N, classes] for uint8 grey images [N, H, W]."""
    total = np.zeros((len(images), len(classes)), np.float64)
    for path in paths:
        rec = load(path)
        if rec.classes != classes:
            raise FerkitError(f"--teacher {path}: its classes ({', '.join(rec.classes)}) are "
                              f"not the dataset's ({', '.join(classes)})")
        starts = range(0, len(images), BATCH)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc=f"teacher {Path(path).name}", unit="batch", leave=False,
                          disable=not sys.stderr.isatty())
        for start in starts:
            total[start : start + BATCH] += rec.classify(list(images[start : start + BATCH]))
    return (total / len(paths)).astype(np.float32)


def distill_targets(labels: np.ndarray, teacher: np.ndarray, weight: float,
                    soft: np.ndarray | None = None) -> np.ndarray:
    """weight x the teachers' probabilities + (1 - weight) x the labels (one-hot, or the
    split's own soft targets such as FER+ votes), float32 [N, classes]."""
    if soft is None:
        soft = np.eye(teacher.shape[1], dtype=np.float32)[labels]
    return (weight * teacher + (1 - weight) * soft).astype(np.float32)
