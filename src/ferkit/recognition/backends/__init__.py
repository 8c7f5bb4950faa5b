"""Inference backends with one interface: `Backend(path)`, `.config`, `.run(batch) -> probs`.

`.onnx` files run on ONNX Runtime (the inference profile, no PyTorch); anything else is a
ferkit checkpoint and runs on PyTorch (needs `ferkit[train]`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from ...errors import FerkitError


class Backend(Protocol):
    config: dict  # arch, classes, img_size, ... as written by `ferkit train`
    path: Path
    device: object  # where the model runs: "cpu", or a torch.device

    def run(self, batch: np.ndarray) -> np.ndarray:
        """float32 [N, 1, H, W] in [0, 1] -> float32 [N, classes] probabilities."""
        ...


def open_backend(path: str | Path, threads: int | None = None, device: str = "cpu") -> Backend:
    """device: where a PyTorch checkpoint runs ("auto": CUDA when present); ONNX models run
    on the CPU."""
    path = Path(path)
    if not path.exists():
        raise FerkitError(f"no such model file: {path}")
    if path.suffix.lower() == ".onnx":
        if device not in ("auto", "cpu"):
            raise FerkitError(f"{path} is an ONNX model, which runs on the CPU; --device "
                              f"{device} is for .pth checkpoints")
        from .onnx import OnnxBackend

        return OnnxBackend(path, threads=threads)
    try:
        from .torch import TorchBackend
    except ImportError as e:
        raise FerkitError(
            f"{path} is a PyTorch checkpoint, which needs `pip install 'ferkit[train]'`; "
            "or export it to ONNX with `ferkit export` on a machine that has PyTorch"
        ) from e
    return TorchBackend(path, threads=threads, device=device)
