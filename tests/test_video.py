import csv

import numpy as np
import pytest
from conftest import SHARED, assert_user_error, ferkit, requires_photos
from PIL import Image

cv2 = pytest.importorskip("cv2", reason="ferkit[video] (OpenCV) is not installed")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """12 frames at 10 fps: the group photo panning slowly, then 4 frames of landscape."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    group = np.asarray(Image.open(SHARED / "photos" / "multi_face.jpg").convert("RGB"))
    empty = np.asarray(Image.open(SHARED / "photos" / "landscape_no_face.jpg").convert("RGB")
                       .resize((960, 627)))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (960, 627))
    for i in range(8):
        writer.write(np.ascontiguousarray(group[i * 3 : i * 3 + 627, i * 4 : i * 4 + 960, ::-1]))
    for _ in range(4):
        writer.write(np.ascontiguousarray(empty[:, :, ::-1]))
    writer.release()
    return path


@requires_photos
def test_faces_keep_their_ids_and_outputs_are_written(clip, tiny_onnx, tmp_path):
    r = ferkit("video", str(clip), "--model", str(tiny_onnx), "--output",
               str(tmp_path / "f.csv"), "--annotate", str(tmp_path / "a.mp4"), "--plot",
               str(tmp_path / "t.png"))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((tmp_path / "f.csv").read_text().splitlines()))
    assert {int(row["frame"]) for row in rows} == set(range(8))  # no face in the last 4
    assert sorted({row["face_id"] for row in rows}) == ["1", "2", "3", "4", "5"]
    for fid in "12345":
        assert sum(row["face_id"] == fid for row in rows) == 8
    assert "5 face(s)" in r.stdout and r.stdout.count("mostly") == 5
    out = cv2.VideoCapture(str(tmp_path / "a.mp4"))
    assert int(out.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert Image.open(tmp_path / "t.png").size[0] > 300


@requires_photos
def test_every_k_frames(clip, tiny_onnx, tmp_path):
    r = ferkit("video", str(clip), "--model", str(tiny_onnx), "--every", "3",
               "--output", str(tmp_path / "f.csv"), "--plot", str(tmp_path / "t.svg"))
    assert r.returncode == 0, r.stderr
    assert "<svg" in (tmp_path / "t.svg").read_text()[:1000]  # the format its name says
    rows = csv.DictReader((tmp_path / "f.csv").read_text().splitlines())
    assert {int(row["frame"]) for row in rows} == {0, 3, 6}


def test_video_errors(tiny_onnx, tmp_path):
    assert_user_error(ferkit("video", str(tmp_path / "none.mp4"), "--model", str(tiny_onnx)),
                      "no such video file")
    (tmp_path / "fake.mp4").write_text("not a video")
    assert_user_error(ferkit("video", str(tmp_path / "fake.mp4"), "--model", str(tiny_onnx)),
                      "not a video")
    Image.new("RGB", (64, 48)).save(tmp_path / "photo.png")  # FFmpeg would "play" it
    for flags, says in ((["--max-frames", "0"], "--max-frames must be 1 or more"),
                        (["--plot", "t.txt"], "--plot t.txt: use a file name ending in .png"),
                        (["--annotate", "a.png"], "--annotate a.png: use a file name ending")):
        assert_user_error(ferkit("video", str(tmp_path / "photo.png"), "--model",
                                 str(tiny_onnx), *flags), says)
    assert_user_error(ferkit("video", str(tmp_path / "photo.png"), "--model", str(tiny_onnx)),
                      "is a still image, not a video")
    assert_user_error(ferkit("video", "--camera", "7", "--model", str(tiny_onnx)),
                      "cannot open camera 7")
    assert_user_error(ferkit("video", "--model", str(tiny_onnx)), "one of them")
