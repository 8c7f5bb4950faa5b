"""ONNX Runtime backend: what `pip install ferkit` runs; never imports PyTorch."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ...errors import FerkitError
from ...parallel import available_cores, side_by_side

METADATA_KEY = "ferkit"
# Faces per run when a batch is spread over the threads: from 4 to 16 a face costs the same;
# bigger runs cost more per face (2 cores: 64 faces 1.15-1.2x, 128 1.2x)
RUN_FACES = 16


class OnnxBackend:
    """A ferkit ONNX classifier on ONNX Runtime's CPU provider. Each run of the model is on
    one thread; a batch is cut into runs of at most RUN_FACES faces, dealt out to `threads`
    threads (default: one per core) that run side by side. The probabilities are the same
    to the bit as from one run over the whole batch."""

    device = "cpu"

    def __init__(self, path: str | Path, threads: int | None = None):
        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # one thread per run: the cores run side by side instead (ferkit/parallel.py)
        opts.intra_op_num_threads = 1
        self.threads = threads or available_cores()
        self._pool = (ThreadPoolExecutor(self.threads - 1, thread_name_prefix="ferkit-classify")
                      if self.threads > 1 else None)
        try:
            self.session = ort.InferenceSession(
                str(self.path), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise FerkitError(f"{self.path} is not a readable ONNX model ({first})") from e
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise FerkitError(
                f"{self.path} is an ONNX model without ferkit metadata "
                "(export it with `ferkit export`)"
            )
        self.config = json.loads(meta[METADATA_KEY])
        self.input_name = self.session.get_inputs()[0].name

    def run(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:
            return np.zeros((0, len(self.config["classes"])), np.float32)
        batch = batch.astype(np.float32, copy=False)
        threads = min(self.threads, len(batch))
        runs = np.array_split(batch, threads * math.ceil(len(batch) / (RUN_FACES * threads)))
        shares = side_by_side(self._pool, [partial(self._classified, runs[i::threads])
                                           for i in range(threads)])
        # run k went to thread k % threads, its (k // threads)-th
        return np.concatenate([shares[k % threads][k // threads] for k in range(len(runs))])

    def _classified(self, runs: list[np.ndarray]) -> list[np.ndarray]:
        return [self.session.run(None, {self.input_name: x})[0] for x in runs]
