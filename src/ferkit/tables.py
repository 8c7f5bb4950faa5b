"""Rows of faces written as they come to a .csv, .jsonl or .parquet file, renamed into place
at the end: what `--output` and `--summary` write for many videos, locally or on Ray."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from .errors import FerkitError
from .predict import csv_row

TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")
# integer columns; every other column is a float, or a string where the caller says so
INTEGER_COLUMNS = {"face", "frame", "face_id", "frames", "x0", "y0", "x1", "y1"}


def arrow_schema(columns: list[str], strings: tuple[str, ...]):
    """Arrow types for a table of face rows: strings, integer positions, float scores."""
    import pyarrow as pa

    return pa.schema([(c, pa.string() if c in strings else pa.int64() if c in INTEGER_COLUMNS
                       else pa.float64()) for c in columns])


def check_table_name(path: str | None, flag: str = "output") -> None:
    if path is None:
        return
    if Path(path).suffix.lower() not in TABLE_SUFFIXES:
        raise FerkitError(f"{flag} {path}: use a .parquet, .csv or .jsonl file name")
    if "://" in path:
        raise FerkitError(f"{flag} {path}: write to a local file (or a mounted folder)")


class Sink:
    """Records (dicts with `columns`, in order) to one local file as they stream in; the
    file appears whole when the block ends without an error, never half written. path None:
    nowhere. Parquet needs pyarrow (the ray extra)."""

    def __init__(self, path: str | None, columns: list[str], strings: tuple[str, ...] = (),
                 flag: str = "output"):
        check_table_name(path, flag)
        self.path, self.columns, self.strings = path, columns, strings
        self.kind = Path(path).suffix.lower() if path else None
        if self.kind == ".parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError as e:
                raise FerkitError(f"{flag} {path}: Parquet needs pyarrow (pip install "
                                  "'ferkit[ray]'); or write .csv or .jsonl") from e
        self.pending: list[dict] = []

    def __enter__(self):
        if self.kind is None:
            return self
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.tmp = f"{self.path}.part"
        if self.kind == ".parquet":
            import pyarrow.parquet as pq

            self.schema = arrow_schema(self.columns, self.strings)
            self.parquet = pq.ParquetWriter(self.tmp, self.schema)
            return self
        self.file = open(self.tmp, "w", newline="", encoding="utf-8")  # noqa: SIM115
        if self.kind == ".csv":
            self.csv = csv.writer(self.file)
            self.csv.writerow(self.columns)
        return self

    def write(self, record: dict) -> None:
        if self.kind == ".csv":
            self.csv.writerow(csv_row(record))
        elif self.kind == ".jsonl":
            self.file.write(json.dumps(record) + "\n")
        elif self.kind == ".parquet":
            self.pending.append(record)
            if len(self.pending) >= 10_000:
                self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        self.parquet.write_table(pa.Table.from_pylist(self.pending, schema=self.schema))
        self.pending = []

    def __exit__(self, kind, exc, tb):
        if self.kind is None:
            return False
        if self.kind == ".parquet":
            if self.pending:
                self._flush()
            self.parquet.close()
        else:
            self.file.close()
        if exc is None:
            os.replace(self.tmp, self.path)  # a crash never leaves half a table behind
        else:
            Path(self.tmp).unlink(missing_ok=True)
        return False
