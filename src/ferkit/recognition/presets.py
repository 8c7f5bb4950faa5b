"""The one place that turns a face image into model input, shared by every backend.

Models take float32 [N, 1, H, W] grayscale in [0, 1]; ImageNet normalisation and the
grey-to-RGB expansion live inside the network (see models.FerNet), so ONNX Runtime and PyTorch
receive identical arrays.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def eval_input(gray: np.ndarray, size: int) -> np.ndarray:
    """A uint8 HxW face crop as float32 [1, size, size] model input."""
    img = Image.fromarray(gray, "L")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return (np.asarray(img, dtype=np.float32) / 255.0)[None]


def eval_batch(grays: list[np.ndarray], size: int) -> np.ndarray:
    """Several face crops as one float32 [N, 1, size, size] batch."""
    if not grays:
        return np.zeros((0, 1, size, size), np.float32)
    return np.stack([eval_input(g, size) for g in grays])
