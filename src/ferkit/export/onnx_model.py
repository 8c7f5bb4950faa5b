"""`ferkit export`: a checkpoint as an ONNX model that carries its own metadata.

PyTorch is imported where a checkpoint is read, so that `--int8` on an .onnx model runs
without it (the evaluate extra)."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ..io.atomic import atomic_write
from ..recognition.onnx_config import set_config

if TYPE_CHECKING:
    from torch import nn

OPSET = 17


def halve_weights(proto) -> None:
    """Store large float weights as fp16, each with a Cast back to fp32: half the file, and
    ONNX Runtime folds the casts at load, so inference still computes in fp32."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    casts = []
    for init in list(graph.initializer):
        if init.data_type != TensorProto.FLOAT or np.prod(init.dims) < 256:
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16),
                                       init.name + "__fp16")
        graph.initializer.remove(init)
        graph.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
    for node in reversed(casts):
        graph.node.insert(0, node)


def export_onnx(model: nn.Module, config: dict, output: str | Path,
                fp16_weights: bool = False) -> str:
    """Write `model` to `output` as ONNX (dynamic batch, config in the metadata); its sha256."""
    import onnx
    import torch

    class WithSoftmax(torch.nn.Module):
        """The graph outputs probabilities, so every backend returns the same thing."""

        def __init__(self, model: nn.Module):
            super().__init__()
            self.model = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.model(x), dim=1)

    size = config["img_size"]
    dummy = torch.rand(2, 1, size, size)
    wrapped = WithSoftmax(model).eval()

    def write(tmp: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # exporter deprecation chatter
            torch.onnx.export(
                wrapped, (dummy,), tmp, input_names=["input"], output_names=["probs"],
                dynamic_axes={"input": {0: "batch"}, "probs": {0: "batch"}},
                opset_version=OPSET, dynamo=False,
            )
        proto = onnx.load(tmp)
        if fp16_weights:
            halve_weights(proto)
        set_config(proto, config)
        proto.doc_string = f"ferkit {config['arch']} expression classifier: {config['classes']}"
        onnx.checker.check_model(proto)
        onnx.save(proto, tmp)

    atomic_write(output, write)
    return hashlib.sha256(Path(output).read_bytes()).hexdigest()

