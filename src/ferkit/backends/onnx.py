"""ONNX Runtime backend: what `pip install ferkit` runs; never imports PyTorch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..errors import FerkitError

METADATA_KEY = "ferkit"


class OnnxBackend:
    device = "cpu"  # ONNX Runtime's CPU provider

    def __init__(self, path: str | Path, threads: int | None = None):
        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        # Spinning threads would steal the cores from the other session (detector, classifier)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            opts.intra_op_num_threads = threads
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
        return self.session.run(None, {self.input_name: batch.astype(np.float32, copy=False)})[0]
