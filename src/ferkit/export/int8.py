"""int8 classifiers: static quantisation of an exported ONNX model with ONNX Runtime's tools,
calibrated on face crops from a training folder.

Weights int8 per channel in 7 bits (`reduce_range`), activations uint8 (QDQ format); ranges
from the 99.99th percentile of each activation over the calibration faces. Seven-bit weights
make the model compute the same on every x86 CPU: without VNNI, ONNX Runtime multiplies
uint8 by int8 in pairs summed into 16 bits (vpmaddubsw), which saturates for 8-bit weights
(2 x 255 x 127 > 32,767) and not for 7-bit ones (within ±64). Every convolution is int8, the
first one too; the head's two Linear layers and the Softmax stay in fp32, so that
probabilities are not rounded to steps of 1/255. What each choice measured is in
docs/MODEL_CARD.md, "int8". Needs the `onnx` package (the evaluate or train extra).
"""

from __future__ import annotations

import contextlib
import io
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import FerkitError
from ..io.images import open_image, to_gray
from ..io.inputs import expand_inputs
from ..recognition.onnx_config import read_model, write_model
from ..recognition.presets import eval_batch


def calibration_faces(folder: str | Path, count: int = 1024, seed: int = 0) -> list[np.ndarray]:
    """`count` grey face crops drawn at random from the images under `folder` (a dataset's
    train split); unreadable files are passed over."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FerkitError(f"no such folder for calibration: {folder}")
    empty: list[str] = []
    files = list(expand_inputs([str(folder)], empty=empty))
    if empty:
        raise FerkitError(f"no images under {folder} to calibrate with")
    random.Random(seed).shuffle(files)
    faces, skipped = [], []
    for path in files:
        try:
            faces.append(to_gray(open_image(path)))
        except FerkitError as e:
            skipped.append(str(e))
            continue
        if len(faces) == count:
            break
    if not faces:
        raise FerkitError(f"all {len(files)} files under {folder} were skipped: {skipped[0]}")
    return faces


def quantize_int8(model: str | Path, output: str | Path, faces: list[np.ndarray]) -> str:
    """Write an int8 copy of the ferkit ONNX `model` to `output`; its sha256."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    proto, config = read_model(model)
    if config.get("precision") == "int8":
        raise FerkitError(f"{model} is already int8")
    if not faces:
        raise FerkitError("no calibration faces")
    size = int(config["img_size"])

    batch = min(64, len(faces))
    # The calibrator stacks every batch's activations: all batches must be the same size, so
    # the last one is filled up from the first faces.
    padded = faces + faces[: -len(faces) % batch]

    class Faces(CalibrationDataReader):
        def __init__(self):
            self.batches: Iterator = (
                {"input": eval_batch(padded[i : i + batch], size)}
                for i in range(0, len(padded), batch)
            )

        def get_next(self):
            return next(self.batches, None)

    fold_fp16_weights(proto)
    # the head, and the Softmax, whose uint8 output would round every probability to a step
    # of 1/255 (and its input, the logits, with it)
    keep_fp32 = [n.name for n in proto.graph.node if n.op_type in ("Gemm", "MatMul", "Softmax")]
    with tempfile.TemporaryDirectory() as tmp:
        fp32, pre, int8 = (str(Path(tmp) / n) for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        onnx.save(proto, fp32)
        quant_pre_process(fp32, pre)
        with contextlib.redirect_stdout(io.StringIO()):  # the calibrator's chatter
            quantize_static(pre, int8, Faces(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.Percentile,
                            nodes_to_exclude=keep_fp32, reduce_range=True,
                            extra_options={"CalibPercentile": 99.99})
        quantized = onnx.load(int8)
    quantized.doc_string = proto.doc_string + " (int8)"
    return write_model(quantized, {**config, "precision": "int8",
                                   "int8_calibration_faces": len(faces)}, output)


def fold_fp16_weights(proto) -> None:
    """Undo weights stored in fp16 (initialisers each behind a Cast: export's --fp16-weights,
    the shipped CenterFace file), in place: the quantiser needs the fp32 weights themselves."""
    from onnx import TensorProto, numpy_helper

    graph = proto.graph
    inits = {i.name: i for i in graph.initializer}
    for node in list(graph.node):
        source = inits.get(node.input[0]) if node.op_type == "Cast" and node.input else None
        if source is None or source.data_type != TensorProto.FLOAT16:
            continue
        weights = numpy_helper.to_array(source).astype(np.float32)
        graph.initializer.remove(source)
        graph.initializer.append(numpy_helper.from_array(weights, node.output[0]))
        graph.node.remove(node)
