import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import assert_user_error, face_like, ferkit, ferkit_without
from PIL import Image

from ferkit.errors import FerkitError
from ferkit.recognition.recognizer import load


def calibration_folder(root):
    for i in range(40):
        folder = root / ("happy" if i % 2 else "sad")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(face_like(i)).save(folder / f"{i}.png")
    (root / "sad" / "broken.jpg").write_text("not an image")
    return root


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


def test_export_refuses_to_overwrite_its_input_or_to_reexport_onnx(tiny_onnx, tmp_path):
    from ferkit.commands.export import get_args_parser, main

    model = tmp_path / "m.onnx"
    shutil.copy(tiny_onnx, model)
    calib = calibration_folder(tmp_path / "train")
    for flags, says in (
        (["--output", str(model), "--int8", str(calib)], "is the model being read"),
        (["--output", str(tmp_path / "q.onnx"), "--int8", str(calib),
          "--calibration-faces", "0"], "--calibration-faces must be 1 or more"),
        (["--output", str(tmp_path / "q.onnx")], "is already ONNX"),
    ):
        with pytest.raises(FerkitError, match=says):
            main(get_args_parser().parse_args(["--model", str(model), *flags]))
    assert model.read_bytes() == tiny_onnx.read_bytes()
    assert not (tmp_path / "q.onnx").exists()


def test_export_and_calibrate_take_a_bundled_model_by_name(tmp_path):
    from ferkit.recognition.recognizer import BUNDLED_FP32

    if not BUNDLED_FP32.is_file():
        pytest.skip("no bundled model in this checkout")
    calib = calibration_folder(tmp_path / "train")
    out = tmp_path / "int8.onnx"
    r = ferkit("export", "--model", "fp32", "--output", str(out), "--int8", str(calib),
               "--calibration-faces", "32")
    assert r.returncode == 0, r.stderr
    remade, shipped = load(out), load("int8")
    assert remade.config["precision"] == "int8" and remade.classes == shipped.classes
    assert remade.temperature == shipped.temperature != 1.0  # carried from the fp32 model
    calibrated = tmp_path / "calibrated.onnx"
    r = ferkit("calibrate", "--model", "int8", "--data", str(calib), "--output",
               str(calibrated))
    assert r.returncode == 2 and "fitting a temperature needs 100" in r.stderr  # got that far
    assert_user_error(ferkit("export", "--model", "bundled", "--output", str(tmp_path / "x.onnx"),
                             "--int8", str(calib)), "no such model: bundled")
    assert not calibrated.exists()


def test_nothing_writes_over_a_bundled_model(tmp_path, monkeypatch):
    """It would be refused as damaged from then on. (Tried on a copy standing in for the
    bundled int8 model: were the check to break, the real one stays whole.)"""
    from ferkit.commands import calibrate, export
    from ferkit.recognition import recognizer

    if not recognizer.BUNDLED_FP32.is_file():
        pytest.skip("no bundled model in this checkout")
    copy = tmp_path / "assets" / "int8.onnx"
    copy.parent.mkdir()
    shutil.copy(recognizer.BUNDLED_INT8, copy)
    _, pinned, card = recognizer.BUNDLED["int8"]
    monkeypatch.setitem(recognizer.BUNDLED, "int8", (copy, pinned, card))
    calib = calibration_folder(tmp_path / "train")
    for module, flags in ((export, ["--model", "fp32", "--int8", str(calib)]),
                          (calibrate, ["--model", "fp32", "--data", str(calib)])):
        args = module.get_args_parser().parse_args([*flags, "--output", str(copy)])
        with pytest.raises(FerkitError, match="is one of ferkit's bundled models"):
            module.main(args)
    assert copy.read_bytes() == recognizer.BUNDLED_INT8.read_bytes()
