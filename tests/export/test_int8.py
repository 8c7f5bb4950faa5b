"""int8 export: quantised copies of a model, from ONNX or a checkpoint, and their errors."""

import json

import numpy as np
import onnx
import onnxruntime as ort
from conftest import assert_user_error, calibration_folder, face_like, ferkit, ferkit_without

from ferkit.recognition.recognizer import load


def test_int8_export_from_onnx_and_from_a_checkpoint(tiny_checkpoint, tiny_onnx, tmp_path):
    calib = calibration_folder(tmp_path / "train")
    crops = [face_like(100 + i) for i in range(16)]
    fp32 = load(tiny_onnx).classify(crops)
    for source in (tiny_onnx, tiny_checkpoint):
        out = tmp_path / f"int8_{source.suffix[1:]}.onnx"
        args = ("export", "--model", str(source), "--output", str(out), "--int8", str(calib),
                "--calibration-faces", "32")
        # an .onnx model is quantised without PyTorch (the evaluate extra)
        r = ferkit_without("torch", *args) if source.suffix == ".onnx" else ferkit(*args)
        assert r.returncode == 0, r.stderr
        assert "int8, calibrated on 32 faces" in r.stdout and "Collecting" not in r.stdout
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        graph = onnx.load(str(out)).graph
        assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}
        # the head's output stays float: logits and probabilities are not rounded to 8 bits
        last = next(n for n in graph.node if "probs" in n.output)
        assert last.op_type == "Softmax"
        assert not any(n.op_type == "QuantizeLinear" and set(n.input) & set(last.input)
                       for n in graph.node)
        # every convolution int8, the first too, with 7-bit weights: nothing a CPU without
        # VNNI sums in 16 bits can saturate, so every CPU computes the same integers
        inits = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
        dequantized = {n.output[0]: n.input[0] for n in graph.node
                       if n.op_type == "DequantizeLinear"}
        convs = [n for n in graph.node if n.op_type == "Conv"]
        assert convs and all(n.input[1] in dequantized for n in convs)
        weights = [inits[dequantized[n.input[1]]] for n in convs]
        assert all(w.dtype == np.int8 and w.min() >= -64 and w.max() <= 64 for w in weights)
        config = json.loads(session.get_modelmeta().custom_metadata_map["ferkit"])
        assert config["precision"] == "int8" and config["classes"] == load(tiny_onnx).classes
        int8 = load(out).classify(crops)
        assert np.allclose(int8.sum(1), 1, atol=1e-3)
        assert np.abs(int8 - fp32).max() < 0.1  # the same model, within int8's rounding


def test_int8_export_errors(tiny_onnx, tmp_path):
    out = tmp_path / "q.onnx"
    assert_user_error(ferkit("export", "--model", str(tiny_onnx), "--output", str(out),
                             "--int8", str(tmp_path / "missing")), "no such folder")
    (tmp_path / "empty").mkdir()
    assert_user_error(ferkit("export", "--model", str(tiny_onnx), "--output", str(out),
                             "--int8", str(tmp_path / "empty")), "no images under")
    calib = calibration_folder(tmp_path / "train")
    assert_user_error(ferkit("export", "--model", str(tiny_onnx), "--output", str(out),
                             "--int8", str(calib), "--tta"), "leave out")
    assert not out.exists()
