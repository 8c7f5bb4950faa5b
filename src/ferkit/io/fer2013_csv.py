"""FER2013's original CSV release and FER+'s vote counts, read as datasets without conversion.

fer2013.csv (Kaggle): a header `emotion,pixels,Usage`, then one row per face: the label
0-6 (Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral), 2,304 space-separated grey values
(48x48) and the split (Training, PublicTest, PrivateTest).

fer2013new.csv (FER+, Microsoft): the same rows in the same order, each with 10 annotators'
votes: `Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,
unknown,NF`. As FER+'s own code does, single votes are dropped as outliers; a row whose
most-voted column is `unknown` or `NF` (not a face), or that has no emotion vote left, is
dropped and counted. The label is the most-voted expression, or with soft labels the
distribution of the votes.
"""

from __future__ import annotations

import csv
import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import FerkitError
from .datasets import Split, load_cache, save_cache

SIDE = 48
FER2013_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]  # 0..6
USAGES = ("Training", "PublicTest", "PrivateTest")
FERPLUS_VOTES = {  # FER+ column -> ferkit class name
    "neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
    "anger": "angry", "disgust": "disgust", "fear": "fear", "contempt": "contempt",
}
FERPLUS_REJECT = ("unknown", "NF")
CACHE_VERSION = 1


@dataclass
class Fer2013Csv:
    """Every row of a fer2013.csv: uint8 images [N, 48, 48], the label (-1 for a bad row) and
    the usage of each row, and why each bad row is skipped (row index -> reason)."""

    path: Path
    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    bad: dict[int, str]


def is_csv(data: str | Path) -> bool:
    return Path(data).suffix.lower() == ".csv"


def _header(path: Path, required: tuple[str, ...], what: str) -> tuple[list[str], list[list[str]]]:
    """The rows of a CSV file, after checking it exists, is not empty and has the columns."""
    if not path.exists():
        raise FerkitError(f"no such file: {path}")
    if path.is_dir():
        raise FerkitError(f"{path} is a directory, expected {what}")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as e:
        raise FerkitError(f"{path} is not a text CSV file ({e.reason})") from e
    except PermissionError as e:
        raise FerkitError(f"cannot read {path}: permission denied") from e
    except csv.Error as e:
        raise FerkitError(f"{path} is not a readable CSV file ({e})") from e
    if not rows:
        raise FerkitError(f"{path} is empty, expected {what}")
    header = [h.strip() for h in rows[0]]
    lowered = [h.lower() for h in header]
    missing = [c for c in required if c.lower() not in lowered]
    if missing:
        raise FerkitError(
            f"{path} has columns {header}, expected {what} with columns {list(required)} "
            f"(missing {missing})"
        )
    if len(rows) == 1:
        raise FerkitError(f"{path} has a header but no rows")
    return lowered, rows[1:]


def read_fer2013_csv(path: str | Path, cache_dir: str | Path | None = None) -> Fer2013Csv:
    """Parse (or load from the decode cache) every row of a FER2013 CSV file."""
    path = Path(path)
    cache = _cache_file(path, cache_dir)
    cached = load_cache(cache)
    if cached is not None:
        bad = dict(zip(cached["bad_rows"].tolist(), cached["bad_reasons"].tolist(), strict=True))
        return Fer2013Csv(path, cached["images"], cached["labels"], cached["usage"], bad)
    header, rows = _header(path, ("emotion", "pixels", "Usage"), "FER2013's CSV")
    col_label, col_pixels, col_usage = (header.index(c) for c in ("emotion", "pixels", "usage"))
    images = np.zeros((len(rows), SIDE, SIDE), np.uint8)
    labels = np.full(len(rows), -1, np.int64)
    usage = np.empty(len(rows), dtype=object)
    bad = {}
    with warnings.catch_warnings():
        # numpy warns, then stops, at the first token that is not a number
        warnings.simplefilter("error", DeprecationWarning)
        for i, row in enumerate(rows):
            problem = _parse_row(row, (col_label, col_pixels, col_usage), images, labels, i)
            usage[i] = row[col_usage].strip() if len(row) > col_usage else ""
            if problem:
                bad[i] = f"{path} row {i + 2}: {problem}"  # +2: 1-based, after the header
    usage = usage.astype(str)
    if cache is not None:
        save_cache(cache, images=images, labels=labels, usage=usage,
                   bad_rows=np.array(list(bad), np.int64),
                   bad_reasons=np.array(list(bad.values()), str))
    return Fer2013Csv(path, images, labels, usage, bad)


def _parse_row(row, cols, images, labels, i) -> str | None:
    """Fill images[i] and labels[i] from one row; the reason it is bad, or None."""
    col_label, col_pixels, _ = cols
    if len(row) <= max(cols):
        return f"{len(row)} fields, expected {max(cols) + 1}"
    try:
        label = int(row[col_label])
    except ValueError:
        return f"emotion {row[col_label]!r} is not a number"
    if not 0 <= label < len(FER2013_LABELS):
        return f"emotion {label} is not in 0-{len(FER2013_LABELS) - 1}"
    try:
        pixels = np.fromstring(row[col_pixels], dtype=np.int32, sep=" ")
    except (DeprecationWarning, ValueError):
        return "pixels holds something other than numbers"
    if pixels.size != SIDE * SIDE:
        return f"{pixels.size} pixel values, expected {SIDE * SIDE} (48x48)"
    if pixels.min() < 0 or pixels.max() > 255:
        return "pixel values outside 0-255"
    images[i] = pixels.reshape(SIDE, SIDE)
    labels[i] = label
    return None


def _cache_file(path: Path, cache_dir) -> Path | None:
    if not cache_dir or not path.is_file():
        return None
    st = path.stat()
    key = f"csv|{CACHE_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    return Path(cache_dir) / f"{hashlib.sha1(key.encode()).hexdigest()[:20]}.npz"


def ferplus_votes(path: str | Path, rows: int, classes: int = 7) -> tuple[np.ndarray, list[str]]:
    """FER+ votes as float32 [rows, classes] over sorted class names (7: FER2013's classes,
    contempt's votes left out; 8: contempt included), single votes removed; rows that FER+
    marks unknown or not a face are all-zero."""
    path = Path(path)
    if classes not in (7, 8):
        raise FerkitError(f"FER+ labels have 7 or 8 classes, not {classes}")
    header, table = _header(path, (*FERPLUS_VOTES, *FERPLUS_REJECT),
                            "FER+'s vote CSV (fer2013new.csv)")
    if len(table) != rows:
        raise FerkitError(
            f"{path} has {len(table)} rows but the pixel CSV has {rows}: FER+ labels must "
            "list the same rows in the same order"
        )
    names = sorted({v for v in FERPLUS_VOTES.values() if classes == 8 or v != "contempt"})
    emotion_cols = [header.index(k.lower()) for k, v in FERPLUS_VOTES.items() if v in names]
    order = [names.index(v) for v in FERPLUS_VOTES.values() if v in names]
    reject_cols = [header.index(k.lower()) for k in FERPLUS_REJECT]
    try:
        counts = np.array([[float(r[c]) for c in emotion_cols + reject_cols] for r in table])
    except (ValueError, IndexError) as e:
        raise FerkitError(f"{path}: vote counts must be numbers in every row ({e})") from e
    counts[counts <= 1] = 0  # FER+'s outlier removal: a single vote is noise
    emotions = np.zeros((rows, len(names)), np.float32)
    emotions[:, order] = counts[:, : len(order)]
    top_reject = counts[:, len(order):].max(1)
    rejected = (emotions.max(1) == 0) | (top_reject >= emotions.max(1))
    emotions[rejected] = 0
    return emotions, names


def load_csv_split(
    path: str | Path,
    usage: str,
    *,
    labels: str | Path | None = None,
    soft: bool = False,
    ferplus_classes: int = 7,
    cache_dir: str | Path | None = None,
) -> Split:
    """One usage (Training, PublicTest, PrivateTest) of fer2013.csv as a Split; with FER+
    `labels`, its majority labels (and with `soft`, its vote distributions)."""
    if usage not in USAGES:
        raise FerkitError(f"--split {usage!r}: choose one of {', '.join(USAGES)}")
    table = read_fer2013_csv(path, cache_dir)
    rows = table.usage == usage
    if not rows.any():
        found = sorted(set(table.usage.tolist()))
        raise FerkitError(f"{table.path} has no {usage} rows (usages found: {found})")
    good = rows & (table.labels >= 0)
    skipped = [reason for row, reason in table.bad.items() if rows[row]]
    if not good.any():
        raise FerkitError(f"all {rows.sum()} {usage} rows of {table.path} were skipped: "
                          f"{skipped[0] if skipped else 'no usable label'}")
    if labels is None:
        names = sorted(FER2013_LABELS)
        to_sorted = np.array([names.index(n) for n in FER2013_LABELS])
        idx = np.flatnonzero(good)
        return Split(table.path, names, table.images[idx], to_sorted[table.labels[idx]], skipped,
                     rows=idx + 2)
    votes, names = ferplus_votes(labels, len(table.labels), ferplus_classes)
    unlabelled = rows & good & (votes.sum(1) == 0)
    idx = np.flatnonzero(good & ~unlabelled)
    if not len(idx):
        raise FerkitError(f"all {rows.sum()} {usage} rows of {table.path} were skipped: FER+ "
                          f"({labels}) marks every one unknown or not a face")
    dist = votes[idx] / votes[idx].sum(1, keepdims=True)
    skipped += [f"{labels} row {i + 2}: FER+ marks it unknown or not a face"
                for i in np.flatnonzero(unlabelled)]
    return Split(table.path, names, table.images[idx], dist.argmax(1).astype(np.int64), skipped,
                 soft=dist.astype(np.float32) if soft else None, rows=idx + 2)
