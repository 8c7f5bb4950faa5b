"""The one result schema every surface writes, and the writers of it.

A record is one picture (an image, or an analysed frame of a video) with its faces:

    {"schema_version": 1, "image": "a.jpg", "width": 640, "height": 480,
     "faces": [{"face": 1, "box": [x0, y0, x1, y1], "label": "happy", "confidence": 0.91,
                "probs": {"angry": 0.01, ...}, "detection_score": 0.97}],
     "error": null}

A video's frame says "video", "frame" and "time_s" instead of "image", and each face its
"face_id" (the same face keeps it from frame to frame). JSON and JSON Lines hold one record
per picture; CSV and Parquet one row per face, the picture's fields repeated (a picture
with no face, or one that could not be read, is one row with its `faces` count, 0, or its
`error`). `rows()` and `nested()` turn one into the other. Every value is a plain Python
value, so every record serialises with `json.dumps(..., allow_nan=False)`.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ..errors import FerkitError

SCHEMA_VERSION = 1
SUFFIXES = (".jsonl", ".csv", ".parquet")
BOX = ("x0", "y0", "x1", "y1")
# Parquet's types: these columns are strings, these whole numbers, every other a float
STRINGS = {"image", "video", "label", "error", "dominant"}
INTEGERS = {"schema_version", "width", "height", "faces", "face", "face_id", "frame", "frames",
            *BOX}


def face_record(face, index: int, face_id: int | None = None) -> dict:
    """One face (ferkit.Face) as the schema has it; `index` counts from 1, left to right."""
    return {"face": index, **({} if face_id is None else {"face_id": face_id}),
            **face.to_dict()}


def image_record(image: object, faces: Iterable = (), size: tuple[int, int] | None = None,
                 error: str | None = None) -> dict:
    """An image's record: `image` names it (a path, URL or upload name), `size` is (width,
    height), `error` why it could not be read."""
    width, height = size if size is not None else (None, None)
    return {"schema_version": SCHEMA_VERSION, "image": str(image), "width": width,
            "height": height,
            "faces": [face_record(f, i) for i, f in enumerate(faces, 1)] if not error else [],
            "error": error}


def frame_record(video: str, frame: int | None, time_s: float | None, faces: Iterable = (),
                 ids: Iterable[int] = (), size: tuple[int, int] | None = None,
                 error: str | None = None) -> dict:
    """An analysed frame of a video, each face with its track id; or the video's error."""
    width, height = size if size is not None else (None, None)
    return {"schema_version": SCHEMA_VERSION, "video": str(video), "frame": frame,
            "time_s": None if time_s is None else round(float(time_s), 4), "width": width,
            "height": height,
            "faces": [face_record(f, i, fid)
                      for i, (f, fid) in enumerate(zip(faces, ids, strict=True), 1)],
            "error": error}


def image_columns(classes: list[str]) -> list[str]:
    """The columns of a row per face of an image (CSV, Parquet)."""
    return ["schema_version", "image", "width", "height", "faces", "face", *BOX, "label",
            "confidence", *classes, "detection_score", "error"]


def video_columns(classes: list[str]) -> list[str]:
    """The columns of a row per face per analysed frame of a video (CSV, Parquet)."""
    return ["schema_version", "video", "frame", "time_s", "width", "height", "faces", "face",
            "face_id", *BOX, "label", "confidence", *classes, "detection_score", "error"]


def summary_columns(classes: list[str]) -> list[str]:
    """The columns of a video summary: a row per face per video."""
    return ["schema_version", "video", "face_id", "frames", "first_s", "last_s", "dominant",
            *classes]


def rows(record: dict, classes: list[str]) -> list[dict]:
    """A record as rows, one per face (one with no face fields when there is none)."""
    head = {k: v for k, v in record.items() if k not in ("faces", "error")}
    head["faces"] = None if record["error"] else len(record["faces"])
    if not record["faces"]:
        empty = dict.fromkeys(["face", *(["face_id"] if "video" in record else []), *BOX,
                               "label", "confidence", *classes, "detection_score"])
        return [{**head, **empty, "error": record["error"]}]
    return [{**head, **_flat_face(face, classes), "error": None} for face in record["faces"]]


def _flat_face(face: dict, classes: list[str]) -> dict:
    flat = {"face": face["face"], **({"face_id": face["face_id"]} if "face_id" in face else {}),
            **dict(zip(BOX, face["box"], strict=True)), "label": face["label"],
            "confidence": face["confidence"]}
    return {**flat, **{c: face["probs"][c] for c in classes},
            "detection_score": face["detection_score"]}


def nested(flat: Iterable[dict], classes: list[str]) -> Iterator[dict]:
    """Rows (as rows() makes them, in order) regrouped into one record per picture."""
    record, key = None, None
    for row in flat:
        row_key = (row.get("image"), row.get("video"), row.get("frame"))
        if record is None or row_key != key or row.get("face") in (None, 1):
            if record is not None:
                yield record
            key = row_key
            record = {k: row[k] for k in ("schema_version", "image", "video", "frame",
                                          "time_s", "width", "height") if k in row}
            record["faces"] = []
            record["error"] = row["error"]
        if row.get("face") is not None:
            face = {"face": row["face"], **({"face_id": row["face_id"]} if "face_id" in row
                                            else {}),
                    "box": [row[k] for k in BOX], "label": row["label"],
                    "confidence": row["confidence"], "probs": {c: row[c] for c in classes},
                    "detection_score": row["detection_score"]}
            record["faces"].append(face)
    if record is not None:
        yield record


def to_json(record: dict) -> str:
    """A record as one line of strict JSON (no NaN, no type but JSON's own)."""
    return json.dumps(record, allow_nan=False)


def check_output_name(path: str | None, flag: str = "--output",
                      suffixes: tuple[str, ...] = SUFFIXES) -> None:
    """A file name a writer can write: a known suffix, on this machine."""
    if path is None:
        return
    if Path(path).suffix.lower() not in suffixes:
        names = " or ".join([", ".join(suffixes[:-1]), suffixes[-1]] if len(suffixes) > 1
                            else suffixes)
        raise FerkitError(f"{flag} {path}: use a {names} file name")
    if "://" in path:
        raise FerkitError(f"{flag} {path}: write to a local file (or a mounted folder)")


class Writer:
    """Records to a .jsonl, .csv or .parquet file as they come (`with Writer(...) as w:
    w.write(record)`): JSON Lines one record a line as it is, CSV and Parquet its rows
    (`flatten`; None: the record is a row already). The file is written beside its place
    and renamed into it at the end, so a crash never leaves half a table; stopped with
    Ctrl-C, the records written so far are kept. path None: nowhere."""

    def __init__(self, path: str | None, columns: list[str],
                 flatten: Callable[[dict], list[dict]] | None = None, flag: str = "--output"):
        check_output_name(path, flag)
        self.path, self.columns, self.flatten, self.flag = path, columns, flatten, flag
        self.kind = Path(path).suffix.lower() if path else None
        if self.kind == ".parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError as e:
                raise FerkitError(f"{flag} {path}: Parquet needs pyarrow (pip install "
                                  "'ferkit[ray]'); or write .csv or .jsonl") from e
        self.pending: list[dict] = []

    def __enter__(self) -> Writer:
        if self.kind is None:
            return self
        self.tmp = f"{self.path}.part"
        try:
            if self.kind == ".parquet":
                import pyarrow.parquet as pq

                self.schema = arrow_schema(self.columns)
                self.parquet = pq.ParquetWriter(self.tmp, self.schema)
                return self
            self.file = open(self.tmp, "w", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as e:
            raise FerkitError(f"{self.flag} {self.path}: cannot write there "
                              f"({e.strerror or e})") from e
        if self.kind == ".csv":
            self.csv = csv.DictWriter(self.file, self.columns)
            self.csv.writeheader()
        return self

    def write(self, record: dict) -> None:
        if self.kind is None:
            return
        if self.kind == ".jsonl":
            self.file.write(to_json(record) + "\n")
            return
        flat = self.flatten(record) if self.flatten else [record]
        if self.kind == ".csv":
            self.csv.writerows(flat)
        elif self.kind == ".parquet":
            self.pending += flat
            if len(self.pending) >= 10_000:
                self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        self.parquet.write_table(pa.Table.from_pylist(self.pending, schema=self.schema))
        self.pending = []

    def __exit__(self, kind, exc, tb) -> bool:
        if self.kind is None:
            return False
        if self.kind == ".parquet":
            if self.pending:
                self._flush()
            self.parquet.close()
        else:
            self.file.close()
        if exc is None or isinstance(exc, KeyboardInterrupt):
            os.replace(self.tmp, self.path)
        else:
            Path(self.tmp).unlink(missing_ok=True)
        return False


def get_writer(path: str | None, classes: list[str], *, video: bool = False,
               flag: str = "--output") -> Writer:
    """The writer of picture records (images, or a video's frames) for this file name."""
    columns = video_columns(classes) if video else image_columns(classes)
    return Writer(path, columns, lambda record: rows(record, classes), flag)


def arrow_schema(columns: list[str]):
    """Arrow types for rows with these columns."""
    import pyarrow as pa

    return pa.schema([(c, pa.string() if c in STRINGS else pa.int64() if c in INTEGERS
                       else pa.float64()) for c in columns])
