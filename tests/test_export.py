import numpy as np
import onnx
import pytest
from conftest import SHARED, assert_user_error, face_like, ferkit, requires_fer

from ferkit.io.images import open_image, to_gray
from ferkit.recognition.backends import open_backend
from ferkit.recognition.backends.onnx import METADATA_KEY
from ferkit.recognition.presets import eval_batch


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
