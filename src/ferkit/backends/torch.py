"""PyTorch backend for `.pth` checkpoints (`ferkit[train]`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_model


class TorchBackend:
    def __init__(self, path: str | Path, threads: int | None = None):
        self.path = Path(path)
        if threads:
            torch.set_num_threads(threads)
        self.model, self.config = load_model(self.path)

    @torch.inference_mode()
    def run(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros((0, len(self.config["classes"])), np.float32)
        logits = self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)))
        return torch.softmax(logits.float(), dim=1).numpy()
