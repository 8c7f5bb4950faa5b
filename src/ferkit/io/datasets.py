"""Image-folder datasets (`root/<class>/*.jpg`): scanned, checked, decoded once, cached on disk."""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import FerkitError
from .atomic import atomic_write
from .images import open_image, to_gray

CACHE_VERSION = 1


@dataclass
class Split:
    """One decoded split: uint8 grey images [N, H, W] and int64 labels [N]."""

    root: Path
    classes: list[str]
    images: np.ndarray
    labels: np.ndarray
    skipped: list[str] = field(default_factory=list)
    soft: np.ndarray | None = None  # float32 [N, classes] target distributions (FER+ votes)
    rows: np.ndarray | None = None  # a CSV split: each image's row in the file (header = 1)

    def __len__(self) -> int:
        return len(self.labels)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ferkit"


def list_classes(root: Path) -> list[str]:
    """The sorted class folder names of a split; errors for a missing or class-less folder."""
    if not root.exists():
        raise FerkitError(f"no such dataset folder: {root}")
    if not root.is_dir():
        raise FerkitError(f"{root} is not a folder of class folders")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise FerkitError(f"{root} has no class folders (expected {root}/<class>/*.jpg)")
    return classes


def list_files(root: Path, classes: list[str]) -> list[tuple[Path, int]]:
    """Every non-hidden file under root/<class>/, with its label; errors for empty classes."""
    samples = []
    for label, name in enumerate(classes):
        folder = root / name
        if not folder.is_dir():
            raise FerkitError(f"{root} has no folder for class {name!r}")
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise FerkitError(f"class folder {folder} is empty")
        samples += [(p, label) for p in files]
    return samples


def dataset_splits(data_dir: str | Path, need_val: bool = True) -> tuple[Path, Path | None]:
    """(train, validation) folders of `data_dir`; validation is val/ if present, else test/
    (None when there is neither and `need_val` is False)."""
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise FerkitError(f"no such dataset folder: {data_dir}")
    train = data_dir / "train"
    if not train.is_dir():
        raise FerkitError(f"{data_dir} has no train/ folder (expected {data_dir}/train/<class>/)")
    for name in ("val", "test"):
        if (data_dir / name).is_dir():
            return train, data_dir / name
    if not need_val:
        return train, None
    raise FerkitError(
        f"{data_dir} has neither val/ nor test/ next to train/ "
        "(--val-split 0.1 validates on a part of train/)"
    )


def stratified_split(samples: list[tuple[Path, int]], fraction: float, seed: int):
    """(train, validation) samples: `fraction` of each class, drawn with `seed`, at least one
    image of each class on either side."""
    rng = np.random.default_rng(seed)
    labels = np.array([label for _, label in samples])
    val = []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        n = min(max(round(fraction * len(idx)), 1), len(idx) - 1)
        if n < 1:
            raise FerkitError(
                f"--val-split: class {samples[idx[0]][0].parent.name!r} has one image; "
                "a split needs two or more"
            )
        val += idx[:n].tolist()
    chosen = set(val)
    return ([s for i, s in enumerate(samples) if i not in chosen],
            [samples[i] for i in sorted(chosen)])


def write_file_list(path: Path, root: Path, samples: list[tuple[Path, int]], note: str) -> None:
    """A file list (one `class/file` per line, relative to `root`) that `ferkit evaluate
    --files` reads back."""
    lines = [f"# {note}", f"# root: {root.resolve()}"]
    lines += [p.relative_to(root).as_posix() for p, _ in samples]
    atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n"))


def read_file_list(path: str | Path, root: Path, classes: list[str]) -> list[tuple[Path, int]]:
    """The (path, label) samples of a file list written by write_file_list; a file's class is
    its folder's name."""
    path = Path(path)
    if not path.is_file():
        raise FerkitError(f"no such file list: {path}")
    samples = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = Path(line).parts[0]
        if name not in classes or len(Path(line).parts) < 2:
            raise FerkitError(f"{path} line {n}: {line!r} is not in a class folder of {root}")
        samples.append((root / line, classes.index(name)))
    if not samples:
        raise FerkitError(f"{path} lists no files")
    return samples


def check_same_classes(expected: list[str], root: Path, where: str) -> None:
    found = list_classes(root)
    if found != expected:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        raise FerkitError(
            f"classes in {root} differ from {where}: missing {missing or 'none'}, "
            f"unexpected {extra or 'none'}"
        )


def _cache_key(samples: list[tuple[Path, int]], classes: list[str], size: int) -> str:
    h = hashlib.sha1(f"{CACHE_VERSION}|{size}|{'|'.join(classes)}".encode())
    for path, label in samples:
        st = path.stat()
        h.update(f"{path.resolve()}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def _decode_all(samples, size: int, progress: bool):
    """Decode every file; unreadable ones are skipped and reported, not fatal."""
    arrays, labels, skipped = [], [], []
    iterator = samples
    if progress:
        from tqdm import tqdm

        iterator = tqdm(samples, desc="decoding", unit="img", leave=False, file=sys.stderr,
                        disable=not sys.stderr.isatty())
    for path, label in iterator:
        try:
            arrays.append(to_gray(open_image(path)))
            labels.append(label)
        except FerkitError as e:
            skipped.append(str(e))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:  # mixed sizes: store at the model's input size
        arrays = [
            np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BILINEAR))
            for a in arrays
        ]
    images = np.stack(arrays) if arrays else np.zeros((0, size, size), np.uint8)
    return images, np.asarray(labels, np.int64), skipped


def load_split(
    root: str | Path,
    classes: list[str] | None = None,
    size: int = 224,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> Split:
    """Decode a split once into memory; with `cache_dir`, reuse the decode while files are
    unchanged. Images keep their native size when all share one (FER2013: 48x48)."""
    root = Path(root)
    classes = classes or list_classes(root)
    return load_samples(root, list_files(root, classes), classes, size, cache_dir, progress)


def load_samples(
    root: Path,
    samples: list[tuple[Path, int]],
    classes: list[str],
    size: int = 224,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> Split:
    """Decode these (path, label) samples of `root` (cached like load_split)."""
    key = _cache_key(samples, classes, size)
    cache = Path(cache_dir) / f"{key}.npz" if cache_dir else None
    cached = load_cache(cache)
    if cached is not None:
        return Split(root, classes, cached["images"], cached["labels"],
                     [str(s) for s in cached["skipped"]])
    images, labels, skipped = _decode_all(samples, size, progress)
    if skipped and not len(labels):
        raise FerkitError(f"all {len(samples)} files of {root} were skipped: {skipped[0]}")
    counts = np.bincount(labels, minlength=len(classes))
    for name, n in zip(classes, counts, strict=True):
        if n == 0:
            raise FerkitError(f"class folder {root / name} has no readable images")
    if cache is not None:
        save_cache(cache, images=images, labels=labels, skipped=np.asarray(skipped, dtype=str))
    return Split(root, classes, images, labels, skipped)


def load_cache(cache: Path | None) -> dict[str, np.ndarray] | None:
    """The arrays of a decode cache file, or None when it is absent or damaged."""
    if cache is None or not cache.is_file():
        return None
    try:
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    except Exception:
        return None  # a damaged cache is rebuilt by the caller


def save_cache(cache: Path, **arrays: np.ndarray) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to a name
            np.savez(f, **arrays)

    try:
        atomic_write(cache, write)
    except OSError as e:  # an unwritable cache is a slower start, not a failure
        print(f"warning: could not write the decode cache {cache}: {e}", file=sys.stderr)


def report_skipped(split: Split) -> None:
    if split.skipped:
        print(
            f"warning: skipped {len(split.skipped)} unreadable file(s) in {split.root} "
            f"(first: {split.skipped[0]})",
            file=sys.stderr,
        )
