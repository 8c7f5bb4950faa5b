"""ferkit.ray: the Ray Data pipeline gives the rows the local CLI gives, errors included."""

import csv
import shutil

import numpy as np
import pytest
from conftest import ROOT, SHARED, assert_user_error, ferkit, requires_fer, requires_photos
from PIL import Image

pytest.importorskip("ray.data", reason="needs the ray extra: pip install 'ferkit[ray]'")
cv2 = pytest.importorskip("cv2", reason="needs the video extra (OpenCV)")

PER_CLASS = 40


def rows(path) -> list[dict]:
    def key(r):
        if "image" in r:
            return r["image"], int(r["face"] or 0)
        return r.get("video", ""), int(r.get("frame") or 0), int(r.get("face_id") or 0)

    return sorted(csv.DictReader(path.read_text().splitlines()), key=key)


def assert_same_rows(local: list[dict], remote: list[dict], prob_columns: list[str]) -> None:
    assert len(local) == len(remote)
    for a, b in zip(local, remote, strict=True):
        for key in a:
            if key in prob_columns and a[key]:
                assert abs(float(a[key]) - float(b[key])) < 1e-5, (a, b)
            else:
                assert a[key] == b[key], (key, a, b)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A folder of FER2013 crops (40 per class), the real photos, a text file named .jpg, a
    truncated JPEG and a 16-bit PNG."""
    root = tmp_path_factory.mktemp("ray") / "images"
    for cls in sorted((SHARED / "fer2013" / "test").iterdir()):
        (root / "crops" / cls.name).mkdir(parents=True)
        for f in sorted(cls.iterdir())[:PER_CLASS]:
            shutil.copy(f, root / "crops" / cls.name / f.name)
    (root / "photos").mkdir()
    for f in (SHARED / "photos").iterdir():
        shutil.copy(f, root / "photos" / f.name)
    (root / "photos" / "notes.jpg").write_text("not an image")
    (root / "photos" / "cut.jpg").write_bytes((SHARED / "photos" / "single_face.jpg")
                                              .read_bytes()[:4000])
    grey16 = (np.asarray(Image.open(ROOT / "photos" / "astronaut.png").convert("L"),
                         np.uint16) * 257)
    Image.fromarray(grey16).save(root / "photos" / "sixteen.png")
    return root


CLASSES = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


@requires_fer
@requires_photos
def test_ray_rows_equal_the_cli_rows_for_crops_photos_and_bad_files(images, tmp_path):
    missing = str(images / "photos" / "gone.jpg")
    for kind, extra in (("crops", ["--no-detect"]), ("photos", [])):
        local, remote = tmp_path / f"{kind}_local.csv", tmp_path / f"{kind}_ray.csv"
        inputs = [str(images / kind)] + ([missing] if kind == "photos" else [])
        r = ferkit("predict", *inputs, *extra, "--output", str(local), "--quiet")
        assert r.returncode == (2 if kind == "photos" else 0), r.stderr
        r = ferkit("predict", *inputs, *extra, "--ray", "--output", str(remote))
        assert r.returncode == (2 if kind == "photos" else 0), r.stderr
        assert_same_rows(rows(local), rows(remote), CLASSES + ["detection_score"])
        if kind == "crops":
            assert len(rows(remote)) == 7 * PER_CLASS
            assert f"{7 * PER_CLASS} image(s)" in r.stdout
        else:
            errors = {row["image"].rsplit("/", 1)[1]: row["error"] for row in rows(remote)
                      if row["error"]}
            assert "not an image" in errors["notes.jpg"]
            assert "corrupt or truncated" in errors["cut.jpg"]
            assert errors["gone.jpg"].startswith("no such file")
            [landscape] = [row for row in rows(remote) if "landscape" in row["image"]]
            assert (landscape["faces"], landscape["face"], landscape["error"]) == ("0", "", "")
            labels = [row["label"] for row in rows(remote) if "multi_face" in row["image"]]
            assert len(labels) == 5 and labels.count("happy") >= 4  # four broad smiles
            # the 16-bit PNG is scaled, not clipped: the astronaut's face is found
            assert [row["label"] for row in rows(remote) if "sixteen" in row["image"]] == [
                "happy"]
            # Ray's own log lines stay out of the way: only ferkit's error lines on stderr
            assert all(line.startswith("error: ") for line in r.stderr.splitlines()), r.stderr


@requires_fer
def test_the_python_api_writes_parquet_in_input_order(images, tmp_path):
    import pyarrow.parquet as pq
    import ray

    import ferkit.ray as fray

    try:
        out = tmp_path / "faces.parquet"
        records = list(fray.predict_images([str(images / "crops")], str(out), detect=False,
                                           actors=2, num_cpus=2, progress=False))
        table = pq.read_table(out)
        assert table.num_rows == len(records) == 7 * PER_CLASS
        assert table.column("image").to_pylist() == sorted(table.column("image").to_pylist())
        assert table.schema.field("x0").type == "int64"
        assert table.schema.field("happy").type == "double"
        probs = np.array([table.column(c).to_pylist() for c in CLASSES]).T
        assert np.allclose(probs.sum(1), 1, atol=1e-4)
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two short clips of the group photo (5 faces), and a corrupt one."""
    root = tmp_path_factory.mktemp("videos")
    group = np.asarray(Image.open(SHARED / "photos" / "multi_face.jpg").convert("RGB"))
    for n, name in enumerate(("a.mp4", "b.mp4")):
        writer = cv2.VideoWriter(str(root / name), cv2.VideoWriter_fourcc(*"mp4v"), 10,
                                 (960, 627))
        for i in range(6 + 2 * n):
            writer.write(np.ascontiguousarray(group[i * 3: i * 3 + 627, i * 4: i * 4 + 960,
                                                    ::-1]))
        writer.release()
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    return root


@requires_photos
def test_ray_video_rows_equal_ferkit_video_and_a_corrupt_file_is_a_row(clips, tmp_path):
    out, summary = tmp_path / "frames.csv", tmp_path / "summary.csv"
    # smoothed, which only the frames of one video in one actor, in order, can do
    r = ferkit("video", str(clips), "--ray", "--every", "2", "--smooth", "0.5", "--output",
               str(out), "--summary", str(summary))
    assert r.returncode == 2, r.stderr  # the corrupt file
    assert "broken.mp4" in r.stderr and "not a video" in r.stderr
    remote = rows(out)
    for name in ("a.mp4", "b.mp4"):
        local = tmp_path / f"{name}.csv"
        r = ferkit("video", str(clips / name), "--every", "2", "--smooth", "0.5", "--output",
                   str(local))
        assert r.returncode == 0, r.stderr
        mine = [{k: v for k, v in row.items() if k != "video"} for row in remote
                if row["video"].endswith(name)]
        expected = rows(local)
        assert len(mine) == len(expected) > 0
        for a, b in zip(expected, mine, strict=True):
            assert (a["frame"], a["face_id"], a["label"]) == (b["frame"], b["face_id"],
                                                              b["label"])
            assert [a[k] for k in ("x0", "y0", "x1", "y1")] == [b[k] for k in
                                                                ("x0", "y0", "x1", "y1")]
            assert abs(float(a["time_s"]) - float(b["time_s"])) < 1e-3
            assert abs(float(a["confidence"]) - float(b["confidence"])) < 1e-3
    per_face = rows(summary)
    assert len([row for row in per_face if row["video"].endswith("a.mp4")]) == 5
    assert [row["error"] for row in remote if row["video"].endswith("broken.mp4")] != [""]
    # the same folder without Ray, in this process: the same rows and summary
    here, here_summary = tmp_path / "here.csv", tmp_path / "here_summary.csv"
    r = ferkit("video", str(clips), "--every", "2", "--smooth", "0.5", "--output", str(here),
               "--summary", str(here_summary))
    assert r.returncode == 2 and "broken.mp4" in r.stderr, r.stderr
    local = rows(here)
    assert len(local) == len(remote)
    for a, b in zip(local, remote, strict=True):
        assert {k: v for k, v in a.items() if k != "confidence" and k not in CLASSES} == {
            k: v for k, v in b.items() if k != "confidence" and k not in CLASSES}
        assert a["error"] or abs(float(a["confidence"]) - float(b["confidence"])) < 1e-3
    assert rows(here_summary) == per_face


def test_ray_command_line_errors(tmp_path):
    assert_user_error(ferkit("predict", str(tmp_path), "--ray"), "--ray writes its rows to")
    assert_user_error(ferkit("predict", str(tmp_path), "--ray", "--output", "x.txt",
                             "--actors", "0"), "--actors must be 1 or more")
    assert_user_error(ferkit("video", str(tmp_path), "--ray", "--output", "f.csv", "--plot",
                             "p.png"), "are local")


@requires_photos
def test_uri_inputs_are_read_by_ray_and_decoded_by_ferkit(images, tmp_path):
    """A URI (here file://, as s3:// would be) goes through Ray's read_binary_files;
    the bytes are decoded by ferkit's image code with the CLI's messages."""
    import ray

    import ferkit.ray as fray

    try:
        remote = list(fray.predict_images([(images / "photos").as_uri()], num_cpus=2,
                                          progress=False))
    finally:
        ray.shutdown()
    by_name = {record["image"].rsplit("/", 1)[1]: record for record in remote}
    labels = [face["label"] for face in by_name["multi_face.jpg"]["faces"]]
    assert len(labels) == 5 and labels.count("happy") >= 4  # four broad smiles
    assert [face["label"] for face in by_name["sixteen.png"]["faces"]] == ["happy"]
    assert "not an image Pillow can read" in by_name["notes.jpg"]["error"]
    assert "corrupt or truncated" in by_name["cut.jpg"]["error"]
