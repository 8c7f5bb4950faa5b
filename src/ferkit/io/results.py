"""What recognition gives: a Face (its box, a probability per expression, the detector's
score) and a Result (an input's faces, or why it could not be read), as plain Python values
from the moment they are made, and their records (ferkit.io.records)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .records import image_record, rows


@dataclass
class Face:
    """One face: its box (x0, y0, x1, y1) in image pixels and a probability per expression."""

    box: tuple[int, int, int, int]
    probs: dict[str, float]
    score: float | None = None  # the detector's confidence; None when not detected

    def __setattr__(self, name: str, value) -> None:
        # plain Python values from the start (not numpy's), so every surface can write them
        if name == "box":
            value = tuple(int(v) for v in value)
        elif name == "probs":
            value = {str(k): float(v) for k, v in value.items()}
        elif name == "score" and value is not None:
            value = float(value)
        object.__setattr__(self, name, value)

    @property
    def label(self) -> str:
        return max(self.probs, key=self.probs.get)

    @property
    def confidence(self) -> float:
        return self.probs[self.label]

    def to_dict(self) -> dict:
        return {
            "box": list(self.box),
            "label": self.label,
            "confidence": round(self.confidence, 6),
            "probs": {k: round(v, 6) for k, v in self.probs.items()},
            "detection_score": None if self.score is None else round(self.score, 4),
        }


@dataclass
class Result:
    """What predict_many yields per input: its faces, or the error that stopped it."""

    source: object
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    size: tuple[int, int] | None = None  # (width, height)

    def to_dict(self) -> dict:
        """The record every surface writes (ferkit.io.records: the schema)."""
        return image_record(self.source, self.faces, self.size, self.error)

    def rows(self, classes: list[str]) -> list[dict]:
        """The record as CSV/Parquet rows, one per face."""
        return rows(self.to_dict(), classes)
