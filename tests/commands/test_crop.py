"""`ferkit crop`: photos -> face crops to train or evaluate on."""

import csv

import numpy as np
import pytest
from conftest import ROOT, assert_user_error, ferkit, ferkit_without
from PIL import Image

from ferkit.recognition.recognizer import load

ASTRONAUT = ROOT / "photos" / "astronaut.png"


def photo_tree(root):
    """train/{happy,sad} and test/happy: the astronaut as PNG and JPEG side by side, a small
    astronaut left of a large one, a blank picture (no face), a broken file, a hidden file."""
    astronaut = Image.open(ASTRONAUT).convert("RGB")
    for folder in ("train/happy", "train/sad", "test/happy"):
        (root / folder).mkdir(parents=True)
    astronaut.save(root / "train/happy/a.png")
    astronaut.save(root / "train/happy/a.jpg")
    pair = Image.new("RGB", (1000, 512), (120, 120, 120))
    pair.paste(astronaut.resize((300, 300)), (0, 100))
    pair.paste(astronaut, (488, 0))
    pair.save(root / "train/sad/pair.jpg")
    Image.new("RGB", (400, 300), (128, 128, 128)).save(root / "test/happy/blank.png")
    (root / "test/happy/broken.jpg").write_text("not an image")
    astronaut.save(root / "train/happy/.hidden.png")
    return root


def test_crop_writes_the_largest_face_of_each_photo_where_the_photo_was(tmp_path):
    photos, out = photo_tree(tmp_path / "photos"), tmp_path / "faces"
    r = ferkit_without("torch", "crop", str(photos), str(out), "--size", "64")  # inference only
    assert r.returncode == 0, r.stderr
    assert "wrote 3 face crops (64x64) from 5 photos" in r.stdout
    assert "no face found in 1 photo(s)" in r.stdout
    assert "skipped 1 unreadable" in r.stderr and "--min-face" in r.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "train/happy/a.jpg.png", "train/happy/a.png.png", "train/sad/pair.png"]
    with open(out / "crops.csv", newline="") as f:
        rows = {row["photo"]: row for row in csv.DictReader(f)}
    assert list(rows) == ["test/happy/blank.png", "train/happy/a.jpg", "train/happy/a.png",
                          "train/sad/pair.jpg"]
    assert rows["test/happy/blank.png"]["crop"] == ""
    assert int(rows["train/sad/pair.jpg"]["x0"]) > 488  # the large astronaut, not the first
    crop = Image.open(out / "train/happy/a.png.png")
    assert crop.size == (64, 64) and crop.mode == "L"
    # a crop is what the classifier sees in the photo: the same expression, nearly the same
    # probabilities, from the crop alone
    rec = load()
    box, face = rec.main_face(ASTRONAUT)
    assert box == rec.predict(ASTRONAUT)[0].box and face.ndim == 2
    assert rec.main_face(photos / "test/happy/blank.png") is None
    from_photo = rec.predict(ASTRONAUT)[0].probs
    from_crop = rec.predict(out / "train/happy/a.png.png", detect=False)[0].probs
    assert max(from_photo, key=from_photo.get) == max(from_crop, key=from_crop.get) == "happy"
    assert np.allclose(list(from_photo.values()), list(from_crop.values()), atol=0.05)


def test_crop_refuses_what_would_lose_or_mix_files(tmp_path):
    photos = photo_tree(tmp_path / "photos")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "mine.txt").write_text("keep me")
    r = ferkit("crop", str(photos), str(tmp_path / "used"))
    assert_user_error(r, "already exists and is not an empty folder")
    assert (tmp_path / "used" / "mine.txt").read_text() == "keep me"
    r = ferkit("crop", str(photos), str(photos / "faces"))
    assert_user_error(r, "is inside")
    r = ferkit("crop", str(tmp_path / "nowhere"), str(tmp_path / "out"))
    assert_user_error(r, "no such folder")
    (tmp_path / "empty").mkdir()
    r = ferkit("crop", str(tmp_path / "empty"), str(tmp_path / "out"))
    assert_user_error(r, "no image files in")
    r = ferkit("crop", str(photos), str(tmp_path / "out"), "--size", "2")
    assert_user_error(r, "--size 2")
    assert not (tmp_path / "out").exists()


def test_a_second_run_adds_new_photos_and_an_interrupted_one_goes_on(tmp_path, monkeypatch):
    from ferkit.commands import crop

    photos, out = photo_tree(tmp_path / "photos"), tmp_path / "faces"
    args = crop.get_args_parser().parse_args([str(photos), str(out), "--size", "64"])

    class Interrupted:  # Ctrl-C while the third photo is looked at
        def __init__(self):
            self.real, self.calls = load(), 0

        def main_face(self, image, **options):
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return self.real.main_face(image, **options)

    monkeypatch.setattr(crop, "load", lambda **kw: Interrupted())
    with pytest.raises(KeyboardInterrupt):
        crop.main(args)
    monkeypatch.undo()
    with open(out / "crops.csv", newline="") as f:
        first = [row["photo"] for row in csv.DictReader(f)]
    assert first == ["test/happy/blank.png", "train/happy/a.jpg"]  # what was done is kept
    kept = (out / "train/happy/a.jpg.png").stat().st_mtime_ns

    Image.open(ASTRONAUT).save(photos / "test/happy/new.png")  # and a photo comes meanwhile
    r = ferkit("crop", str(photos), str(out), "--size", "64")
    assert r.returncode == 0, r.stderr
    assert "wrote 3 face crops (64x64) from 4 photos" in r.stdout  # the broken one again
    assert "(2 photos cropped before were left as they were)" in r.stdout
    with open(out / "crops.csv", newline="") as f:
        assert [row["photo"] for row in csv.DictReader(f)] == [
            "test/happy/blank.png", "test/happy/new.png", "train/happy/a.jpg",
            "train/happy/a.png", "train/sad/pair.jpg"]
    assert (out / "train/happy/a.jpg.png").stat().st_mtime_ns == kept
    r = ferkit("crop", str(photos), str(out), "--size", "96")
    assert_user_error(r, "holds 64x64 crops: --size 64 adds to them")
