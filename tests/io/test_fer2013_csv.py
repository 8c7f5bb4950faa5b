"""FER2013's CSV and FER+'s votes as datasets: parsing, bad rows, labels, training from them."""

import csv

import numpy as np
import pytest
from conftest import CLASSES, FER2013_ORDER, assert_user_error, face_like, ferkit, train
from conftest import write_fer_csv as write_csv

from ferkit.errors import FerkitError
from ferkit.io.fer2013_csv import load_csv_split, read_fer2013_csv

GOOD = " ".join(["128"] * 2304)
BAD_ROWS = [
    f"3,{' '.join(['1'] * 2000)},Training",         # short pixel string
    f"3,{GOOD[:-3]}abc,Training",                   # not a number
    f"9,{GOOD},Training",                           # no such emotion
    f"x,{GOOD},PublicTest",                         # emotion not a number
    f"2,{' '.join(['300'] * 2304)},PublicTest",     # out of range
]
USAGE = {"Training": 3, "PublicTest": 2, "PrivateTest": 1}


def test_rows_are_decoded_with_labels_mapped_to_sorted_class_names(tmp_path):
    path = write_csv(tmp_path / "fer2013.csv", USAGE)
    train = load_csv_split(path, "Training")
    assert train.classes == CLASSES and train.images.shape == (21, 48, 48)
    # row order is kept: the first row is label 0 (angry) made from face_like(0)
    assert np.array_equal(train.images[0], face_like(0))
    # CSV label 6 is neutral, 4 is sad: mapped by name, not by number
    counts = np.bincount(train.labels, minlength=7)
    assert counts.tolist() == [3] * 7
    sixth = train.labels[6 * 3]  # the first row with CSV label 6
    assert train.classes[sixth] == "neutral" and FER2013_ORDER[6] == "neutral"
    assert train.classes[train.labels[4 * 3]] == "sad"
    assert len(load_csv_split(path, "PrivateTest")) == 7


def test_bad_rows_are_skipped_and_counted_per_split(tmp_path):
    path = write_csv(tmp_path / "fer2013.csv", USAGE, BAD_ROWS)
    train = load_csv_split(path, "Training")
    assert len(train) == 21 and len(train.skipped) == 3
    assert "2000 pixel values, expected 2304" in train.skipped[0]
    assert "other than numbers" in train.skipped[1] and "not in 0-6" in train.skipped[2]
    test = load_csv_split(path, "PublicTest")
    assert len(test) == 14 and len(test.skipped) == 2
    assert "outside 0-255" in test.skipped[1]


def test_the_decode_cache_returns_the_same_rows_and_follows_changes(tmp_path):
    path = write_csv(tmp_path / "fer2013.csv", USAGE, BAD_ROWS[:1])
    cache = tmp_path / "cache"
    first = read_fer2013_csv(path, cache)
    assert len(list(cache.iterdir())) == 1
    again = read_fer2013_csv(path, cache)
    assert np.array_equal(first.images, again.images) and again.bad == first.bad
    write_csv(path, {"Training": 1})
    assert len(read_fer2013_csv(path, cache).labels) == 7


@pytest.mark.parametrize("content, fragment", [
    ("", "is empty"),
    ("emotion,pixels,Usage\n", "header but no rows"),
    ("label,image\n1,2\n", "missing ['emotion', 'pixels', 'Usage']"),
])
def test_bad_csv_files_are_one_clear_error(tmp_path, content, fragment):
    path = tmp_path / "fer2013.csv"
    path.write_text(content)
    with pytest.raises(FerkitError, match=fragment.replace("[", r"\[")):
        load_csv_split(path, "Training")


def ferplus_csv(path, rows: list[list[int]]):
    """fer2013new.csv: Usage, Image name, then 10 vote columns per row."""
    head = ("Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,"
            "unknown,NF")
    body = [f"Training,fer{i:07d}.png," + ",".join(map(str, r)) for i, r in enumerate(rows)]
    path.write_text("\n".join([head, *body]) + "\n")
    return path


def test_ferplus_majority_soft_labels_and_dropped_rows(tmp_path):
    pixels = write_csv(tmp_path / "fer2013.csv", {"Training": 1})  # 7 rows
    votes = ferplus_csv(tmp_path / "fer2013new.csv", [
        [6, 4, 0, 0, 0, 0, 0, 0, 0, 0],   # neutral 6, happy 4
        [0, 9, 1, 0, 0, 0, 0, 0, 0, 0],   # happy; the single surprise vote is noise
        [0, 0, 0, 0, 0, 0, 0, 0, 2, 8],   # not a face: dropped
        [0, 0, 0, 0, 0, 0, 0, 0, 10, 0],  # unknown: dropped
        [0, 0, 0, 0, 0, 0, 0, 10, 0, 0],  # contempt: only with 8 classes
        [0, 0, 0, 3, 7, 0, 0, 0, 0, 0],   # angry 7, sad 3
        [0, 0, 0, 0, 0, 2, 2, 6, 0, 0],   # contempt 6, disgust 2, fear 2
    ])
    seven = load_csv_split(pixels, "Training", labels=votes, soft=True)
    assert seven.classes == CLASSES
    assert [seven.classes[i] for i in seven.labels] == ["neutral", "happy", "angry", "disgust"]
    assert len(seven.skipped) == 3 and "unknown or not a face" in seven.skipped[0]
    assert np.allclose(seven.soft[0], [0, 0, 0, 0.4, 0.6, 0, 0])
    assert np.allclose(seven.soft[1], [0, 0, 0, 1, 0, 0, 0])
    assert np.allclose(seven.soft.sum(1), 1)
    # the kept rows are the pixel rows they came from
    assert np.array_equal(seven.images[2], read_fer2013_csv(pixels).images[5])
    eight = load_csv_split(pixels, "Training", labels=votes, ferplus_classes=8)
    assert "contempt" in eight.classes and eight.soft is None
    assert [eight.classes[i] for i in eight.labels][-2:] == ["angry", "contempt"]


def test_ferplus_with_another_row_count_is_refused(tmp_path):
    pixels = write_csv(tmp_path / "fer2013.csv", {"Training": 1})
    votes = ferplus_csv(tmp_path / "fer2013new.csv", [[10] + [0] * 9] * 3)
    with pytest.raises(FerkitError, match="has 3 rows but the pixel CSV has 7"):
        load_csv_split(pixels, "Training", labels=votes)


def test_train_on_the_csv_then_evaluate_its_private_test(tmp_path):
    path = write_csv(tmp_path / "fer2013.csv", {"Training": 4, "PublicTest": 2,
                                                "PrivateTest": 2}, BAD_ROWS)
    r = train(path, tmp_path / "out", "--img-size", "32", "--pretrained", "none",
              "--batch-size", "8")
    assert "on 28 images" in r.stdout and "validating on 14" in r.stdout
    assert "skipped 3 unreadable" in r.stderr
    r = ferkit("evaluate", "--model", str(tmp_path / "out" / "best_model.pth"), "--data",
               str(path), "--split", "PrivateTest", "--output-dir", str(tmp_path / "ev"))
    assert r.returncode == 0, r.stderr
    assert "(14 images)" in r.stdout and "PrivateTest" in r.stdout
    # predictions.csv names each face by its row in the file (the header is row 1):
    # 28 Training rows, then 14 PublicTest, then the 14 PrivateTest ones
    with open(tmp_path / "ev" / "predictions.csv", newline="") as f:
        names = [row["file"] for row in csv.DictReader(f)]
    assert names == [f"fer2013.csv row {n}" for n in range(44, 58)]


def test_train_on_ferplus_soft_labels_with_contempt(tmp_path):
    pixels = write_csv(tmp_path / "fer2013.csv", {"Training": 3, "PublicTest": 2})
    rng = np.random.default_rng(0)
    rows = [list(rng.multinomial(10, [0.3, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.1, 0, 0]))
            for _ in range(35)]
    votes = ferplus_csv(tmp_path / "fer2013new.csv", rows)
    r = train(pixels, tmp_path / "out", "--img-size", "32", "--pretrained", "none",
              "--batch-size", "8", "--labels", str(votes), "--soft-labels",
              "--ferplus-classes", "8")
    assert "8 classes: angry, contempt," in r.stdout
    r = ferkit("evaluate", "--model", str(tmp_path / "out" / "best_model.pth"), "--data",
               str(pixels), "--split", "PublicTest", "--labels", str(votes),
               "--ferplus-classes", "8", "--output-dir", str(tmp_path / "ev"))
    assert r.returncode == 0, r.stderr
    expected = len(load_csv_split(pixels, "PublicTest", labels=votes, ferplus_classes=8))
    assert f"({expected} images)" in r.stdout


def test_csv_command_line_errors(tmp_path):
    empty = tmp_path / "fer2013.csv"
    empty.write_text("")
    r = ferkit("train", "--data", str(empty), "--output-dir", str(tmp_path / "o"))
    assert_user_error(r, "is empty")
    path = write_csv(tmp_path / "ok.csv", {"Training": 1})
    with pytest.raises(FerkitError, match="has no PublicTest rows"):
        load_csv_split(path, "PublicTest")
    with pytest.raises(FerkitError, match="choose one of"):
        load_csv_split(path, "Validation")
