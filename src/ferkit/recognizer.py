"""The Python API: `ferkit.load()` -> `Recognizer`; `rec.predict(image)` -> faces."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backends import Backend, open_backend
from .errors import FerkitError
from .images import ImageInput, as_pil, to_gray
from .presets import eval_batch

ASSETS = Path(__file__).parent / "assets"


@dataclass
class Face:
    """One face: its box (x0, y0, x1, y1) in image pixels and a probability per expression."""

    box: tuple[int, int, int, int]
    probs: dict[str, float]

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
        }


class Recognizer:
    """A model (ONNX or PyTorch backend) plus the preprocessing it was trained with."""

    def __init__(self, backend: Backend, tta: bool | None = None):
        self.backend = backend
        self.config = backend.config
        self.classes: list[str] = list(self.config["classes"])
        self.img_size: int = int(self.config["img_size"])
        # Horizontal-flip test-time augmentation: the model's own default unless overridden.
        self.tta = bool(self.config.get("tta", False)) if tta is None else tta

    def classify(self, crops: list[np.ndarray]) -> np.ndarray:
        """Probabilities [N, classes] for uint8 grey face crops, in one backend call."""
        batch = eval_batch(crops, self.img_size)
        if not self.tta or len(batch) == 0:
            return self.backend.run(batch)
        both = self.backend.run(np.concatenate([batch, batch[..., ::-1]]))
        return (both[: len(batch)] + both[len(batch) :]) / 2

    def predict(self, image: ImageInput, *, bgr: bool = False) -> list[Face]:
        """Every face in `image` (path, PIL image, or numpy array: RGB, or BGR with bgr=True).

        The whole image is treated as one face crop, as FER2013's images are.
        """
        gray = to_gray(as_pil(image, bgr=bgr))
        h, w = gray.shape
        probs = self.classify([gray])[0]
        return [Face((0, 0, w, h), dict(zip(self.classes, map(float, probs), strict=True)))]


def bundled_model() -> Path:
    found = sorted(ASSETS.glob("*.onnx"))
    if not found:
        raise FerkitError(
            "this install has no bundled model; pass a model path (e.g. best_model.pth)"
        )
    return found[0]


def load(model: str | Path | None = None, *, tta: bool | None = None,
         threads: int | None = None) -> Recognizer:
    """A Recognizer for `model` (.onnx or .pth), or for the bundled model when None."""
    if model is not None and not isinstance(model, (str, Path)):
        raise FerkitError(f"ferkit.load expects a path or None, got {type(model).__name__}")
    return Recognizer(open_backend(model or bundled_model(), threads=threads), tta=tta)
