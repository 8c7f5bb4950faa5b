"""Where the detection networks ferkit ships lie (src/ferkit/assets; tools/ makes them)."""

from __future__ import annotations

from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BLAZEFACE = ASSETS / "blazeface_short_range.onnx"
CENTERFACE = ASSETS / "centerface.onnx"
FACE_CHECK = ASSETS / "face_check.onnx"
