"""PyTorch backend for `.pth` checkpoints (`ferkit[train]`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import FerkitError
from ..checkpoint import load_model


def torch_device(requested: str) -> torch.device:
    """"auto" (CUDA when present), "cpu", "cuda", "cuda:1", ...; FerkitError if unusable."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise FerkitError(f"--device {requested}: CUDA is not available here; use --device cpu")
    try:
        return torch.device(requested)
    except RuntimeError as e:
        raise FerkitError(f"--device {requested!r} is not a device ({e})") from e


class TorchBackend:
    def __init__(self, path: str | Path, threads: int | None = None, device: str = "cpu"):
        self.path = Path(path)
        if threads:
            torch.set_num_threads(threads)
        self.device = torch_device(device)
        self.model, self.config = load_model(self.path)
        # channels_last: oneDNN's convolutions in that layout are faster on the CPU, with the
        # same probabilities, as in training
        self.model.to(self.device, memory_format=torch.channels_last)

    @torch.inference_mode()
    def run(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros((0, len(self.config["classes"])), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device)
        return torch.softmax(self.model(x).float(), dim=1).cpu().numpy()
