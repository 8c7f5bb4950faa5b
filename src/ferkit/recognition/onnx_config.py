"""Reading and rewriting the ferkit config that an exported ONNX model carries in its
metadata (needs the `onnx` package: the evaluate or train extra)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import FerkitError
from ..io.atomic import atomic_write
from .backends.onnx import METADATA_KEY


def read_model(path: str | Path):
    """(ONNX proto, ferkit config) of a model written by `ferkit export`."""
    import onnx

    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise FerkitError(f"{path}: expected an .onnx model (ferkit export writes one)")
    if not path.is_file():
        raise FerkitError(f"no such model: {path}")
    try:
        proto = onnx.load(str(path))
    except Exception as e:
        raise FerkitError(f"{path} is not a readable ONNX model ({type(e).__name__})") from e
    meta = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in meta:
        raise FerkitError(f"{path} is not a ferkit model (export it with `ferkit export`)")
    return proto, json.loads(meta[METADATA_KEY])


def set_config(proto, config: dict) -> None:
    """Make `config` the ferkit metadata of `proto` (replacing any there)."""
    for entry in list(proto.metadata_props):
        if entry.key == METADATA_KEY:
            proto.metadata_props.remove(entry)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(config)


def write_model(proto, config: dict, output: str | Path) -> str:
    """Save `proto` with `config` as its ferkit metadata, atomically; the file's sha256."""
    import onnx

    set_config(proto, config)
    atomic_write(output, lambda tmp: onnx.save(proto, tmp))
    return hashlib.sha256(Path(output).read_bytes()).hexdigest()
