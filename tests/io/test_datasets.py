"""Image-folder datasets: decoded once, cached, bad files skipped and counted, layout errors."""

import shutil

import numpy as np
import pytest
from conftest import CLASSES, make_dataset

from ferkit.errors import FerkitError
from ferkit.io.datasets import check_same_classes, dataset_splits, list_classes, load_split


def test_split_is_decoded_once_with_sorted_classes_and_labels(tiny_data):
    split = load_split(tiny_data / "train", progress=False)
    assert split.classes == CLASSES
    assert split.images.shape == (28, 48, 48) and split.images.dtype == np.uint8
    assert np.bincount(split.labels).tolist() == [4] * 7


def test_cache_is_reused_and_invalidated_when_files_change(tiny_data, tmp_path):
    cache = tmp_path / "cache"
    first = load_split(tiny_data / "train", cache_dir=cache, progress=False)
    files = list(cache.glob("*.npz"))
    assert len(files) == 1
    # Corrupting the source would change a fresh decode; an unchanged cache key must not re-read.
    again = load_split(tiny_data / "train", cache_dir=cache, progress=False)
    assert np.array_equal(first.images, again.images)
    (tiny_data / "train" / "happy" / "0.jpg").unlink()
    changed = load_split(tiny_data / "train", cache_dir=cache, progress=False)
    assert len(changed) == 27 and len(list(cache.glob("*.npz"))) == 2


def test_mixed_sizes_are_stored_at_the_model_size(tiny_data):
    from PIL import Image

    Image.new("L", (100, 60)).save(tiny_data / "train" / "sad" / "big.png")
    split = load_split(tiny_data / "train", size=64, progress=False)
    assert split.images.shape[1:] == (64, 64)


def test_corrupt_and_non_image_files_are_skipped_and_counted(tiny_data):
    (tiny_data / "train" / "angry" / "readme.txt").write_text("hello")
    good = (tiny_data / "train" / "fear" / "0.jpg").read_bytes()
    (tiny_data / "train" / "fear" / "cut.jpg").write_bytes(good[:100])
    split = load_split(tiny_data / "train", progress=False)
    assert len(split) == 28 and len(split.skipped) == 2
    assert any("readme.txt" in s for s in split.skipped)


def test_dataset_layout_errors(tmp_path, tiny_data):
    with pytest.raises(FerkitError, match="no such dataset folder"):
        dataset_splits(tmp_path / "missing")
    with pytest.raises(FerkitError, match="no train/ folder"):
        dataset_splits(tiny_data / "train")
    assert dataset_splits(tiny_data)[1].name == "test"
    make_dataset(tiny_data, splits=("val",))
    assert dataset_splits(tiny_data)[1].name == "val"

    shutil.rmtree(tiny_data / "test" / "sad")
    with pytest.raises(FerkitError, match=r"missing \['sad'\]"):
        check_same_classes(CLASSES, tiny_data / "test", "train")

    for f in (tiny_data / "train" / "disgust").iterdir():
        f.unlink()
    with pytest.raises(FerkitError, match="disgust is empty"):
        load_split(tiny_data / "train", progress=False)
    (tiny_data / "train" / "disgust" / "x.txt").write_text("no image")
    with pytest.raises(FerkitError, match="no readable images"):
        load_split(tiny_data / "train", progress=False)

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FerkitError, match="no class folders"):
        list_classes(empty)
