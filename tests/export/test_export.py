"""`ferkit export`: ONNX files that carry their metadata and compute what PyTorch computes."""

import shutil

import numpy as np
import onnx
import pytest
from conftest import SHARED, assert_user_error, calibration_folder, face_like, ferkit, requires_fer

from ferkit.errors import FerkitError
from ferkit.io.images import open_image, to_gray
from ferkit.recognition.backends import open_backend
from ferkit.recognition.backends.onnx import METADATA_KEY
from ferkit.recognition.presets import eval_batch
from ferkit.recognition.recognizer import load


def _real_faces(n=16):
    root = SHARED / "fer2013" / "test"
    paths = [p for c in sorted(root.iterdir()) for p in sorted(c.iterdir())[:3]][:n]
    return [to_gray(open_image(p)) for p in paths]


def test_onnx_file_carries_the_checkpoint_metadata(tiny_checkpoint, tiny_onnx):
    meta = {p.key: p.value for p in onnx.load(str(tiny_onnx)).metadata_props}
    assert METADATA_KEY in meta
    torch_cfg = open_backend(tiny_checkpoint).config
    assert open_backend(tiny_onnx).config == torch_cfg
    assert torch_cfg["classes"] == ["angry", "disgust", "fear", "happy", "neutral", "sad",
                                    "surprise"]


@pytest.mark.parametrize("source", ["synthetic", pytest.param("fer2013", marks=requires_fer)])
def test_onnx_runtime_matches_pytorch(tiny_checkpoint, tiny_onnx, source):
    faces = _real_faces() if source == "fer2013" else [face_like(i) for i in range(16)]
    torch_backend, onnx_backend = open_backend(tiny_checkpoint), open_backend(tiny_onnx)
    batch = eval_batch(faces, torch_backend.config["img_size"])
    p_torch, p_onnx = torch_backend.run(batch), onnx_backend.run(batch)
    assert p_torch.shape == (16, 7)
    np.testing.assert_allclose(p_torch.sum(1), 1, atol=1e-5)
    assert np.abs(p_torch - p_onnx).max() <= 1e-4
    # batch size is dynamic
    assert np.abs(onnx_backend.run(batch[:1]) - p_torch[:1]).max() <= 1e-4


def test_the_pytorch_backend_runs_channels_last(tiny_checkpoint):
    torch = pytest.importorskip("torch")
    backend = open_backend(tiny_checkpoint)
    conv = next(m for m in backend.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_export_errors(tmp_path, tiny_checkpoint):
    assert_user_error(ferkit("export", "--model", str(tmp_path / "x.pth")), "no such checkpoint")
    r = ferkit("export", "--model", str(tiny_checkpoint), "--output", str(tmp_path / "m.pth"))
    assert_user_error(r, "must end in .onnx")
    (tmp_path / "fake.onnx").write_bytes(b"\x08\x01garbage")
    r = ferkit("predict", "--model", str(tmp_path / "fake.onnx"), "x.jpg")
    assert_user_error(r, "not a readable ONNX model")


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


@pytest.mark.parametrize("count", [70])
def test_int8_takes_a_number_of_faces_that_is_not_a_whole_number_of_batches(
        tiny_onnx, tmp_path, count):
    """The calibrator stacks its batches: a short last batch used to end in a traceback."""
    from ferkit.export.int8 import quantize_int8

    out = tmp_path / "int8.onnx"
    quantize_int8(tiny_onnx, out, [face_like(i) for i in range(count)])
    model = load(out)
    assert model.config["precision"] == "int8"
    assert model.config["int8_calibration_faces"] == count
    probs = model.classify([face_like(0), face_like(1)])
    assert probs.shape == (2, 7) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)


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
