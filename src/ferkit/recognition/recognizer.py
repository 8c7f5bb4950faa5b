"""The Python API: `ferkit.load()` -> `Recognizer`; `rec.predict(image)` -> faces.

    import ferkit
    rec = ferkit.load()                   # the bundled int8 model; or "fp32", "best_model.pth"
    for face in rec.predict("group.jpg"):  # path, PIL image, or numpy array (RGB; bgr=True)
        print(face.box, face.label, face.confidence)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Iterator
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..detection import DEFAULT_DETECTOR, check_detector, open_detector
from ..detection.boxes import DEFAULT_MIN_FACE, Detector, check_min_face, clip_box
from ..detection.framing import CROP_SCALE, face_roll, fer_crop
from ..errors import FerkitError
from ..io.ahead import read_ahead
from ..io.images import (
    ImageInput,
    as_pil,
    encoded,
    full_size,
    image_from_bytes,
    open_image,
    reduced,
    to_gray,
    to_rgb,
)
from ..io.results import Face, Result
from .backends import Backend, open_backend
from .calibration import apply_temperature
from .presets import eval_batch

if TYPE_CHECKING:
    from ..video.frames import Frame
    from .explanation import Explanation

ASSETS = Path(__file__).resolve().parent.parent / "assets"
# The bundled models and their pinned digests: ferkit.load() refuses a file that differs.
# Provisional CPU-trained model (docs/MODEL_CARD.md), with fp32 weights; replace both lines
# together, and then the int8 copy below too (`ferkit export --model fp32 --output
# ...int8.onnx --int8 TRAIN_DIR`, once the new fp32 file is in place).
BUNDLED_FP32 = ASSETS / "ferkit_mobilenet_v2.onnx"
BUNDLED_FP32_SHA256 = "4a98f3632a20ea2411f154984f366127364c2ebca15e28674bb426036d734fdf"
BUNDLED_FP32_CARD = {"fer2013_publictest_accuracy": 0.6890, "macro_f1": 0.657,
                     "card": "docs/MODEL_CARD.md"}
# The same model quantised to int8 (`ferkit export --int8`, calibrated on 1,024 FER2013 train
# faces): the default, as accurate within chance and 1.5-2x as fast on CPUs with VNNI.
BUNDLED_INT8 = ASSETS / "ferkit_mobilenet_v2_int8.onnx"
BUNDLED_INT8_SHA256 = "9175268a59d7937c9508124a4970d5b35618c30ebd2bb9495584bf983fa7a41f"
BUNDLED_INT8_CARD = {"fer2013_publictest_accuracy": 0.6879, "macro_f1": 0.656,
                     "card": "docs/MODEL_CARD.md"}
# what each name of a bundled model loads (--model NAME, ferkit.load(NAME)):
# (file, pinned SHA-256, its numbers); the default first
BUNDLED = {"int8": (BUNDLED_INT8, BUNDLED_INT8_SHA256, BUNDLED_INT8_CARD),
           "fp32": (BUNDLED_FP32, BUNDLED_FP32_SHA256, BUNDLED_FP32_CARD)}
DEFAULT_MODEL = "int8"


class Recognizer:
    """A classifier (ONNX or PyTorch backend), a face detector, and the preprocessing the
    classifier was trained with."""

    def __init__(self, backend: Backend, detector: Detector | str | None = None,
                 tta: bool | None = None, crop_scale: float = CROP_SCALE,
                 threads: int | None = None, min_face: float | None = None,
                 reframe: bool = True):
        self.backend = backend
        self.config = backend.config
        self.classes: list[str] = list(self.config["classes"])
        self.img_size: int = int(self.config["img_size"])
        # Horizontal-flip test-time augmentation: the model's own default unless overridden.
        self.tta = bool(self.config.get("tta", False)) if tta is None else tta
        # Confidence calibration fitted by `ferkit calibrate` (1.0: the model's own softmax).
        self.temperature = float(self.config.get("temperature", 1.0))
        if isinstance(detector, str):
            check_detector(detector)
        self._detector = detector
        self.crop_scale = crop_scale
        self.threads = threads
        check_min_face(min_face)
        self.min_face = min_face
        self.reframe = reframe

    @property
    def detector(self) -> Detector:
        if self._detector is None or isinstance(self._detector, str):
            # built on first use: --no-detect never loads it
            name = self._detector or DEFAULT_DETECTOR
            self._detector = open_detector(name, threads=self.threads, min_face=self.min_face,
                                           reframe=self.reframe)
        return self._detector

    def warm(self) -> None:
        """Load the detector now, and what it would load on first need (the cascade's
        CenterFace), so that no picture waits for them: for servers."""
        warm = getattr(self.detector, "warm", None)  # optional (detection.boxes.Detector)
        if warm is not None:
            warm()

    def with_min_face(self, min_face: float | None) -> Recognizer:
        """This recogniser looking for faces down to `min_face` pixels (None: the default
        share of each picture): the same classifier, shared, and a detector of its own."""
        detector = self.detector
        name = type(detector).__name__.lower()
        check_detector(name)  # a detector of the caller's own cannot be remade
        # remade as it was made: re-framed only where it had a face check (a BlazeFace
        # object handed to load() keeps its own boxes)
        reframe = getattr(detector, "face_check", None) is not None
        other = Recognizer(self.backend, detector=name, tta=self.tta, crop_scale=self.crop_scale,
                           threads=self.threads, min_face=min_face, reframe=reframe)
        other.temperature = self.temperature
        return other

    def classify(self, crops: list[np.ndarray], tta: bool | None = None) -> np.ndarray:
        """Probabilities [N, classes] for uint8 grey face crops, in one backend call
        (tta: the recogniser's own setting unless given)."""
        batch = eval_batch(crops, self.img_size)
        if not (self.tta if tta is None else tta) or len(batch) == 0:
            probs = self.backend.run(batch)
        else:
            both = self.backend.run(np.concatenate([batch, batch[..., ::-1]]))
            probs = (both[: len(batch)] + both[len(batch) :]) / 2
        return apply_temperature(probs, self.temperature)

    def predict_video(self, source: str | Path | int, *, every: int = 1, smooth: float = 0.0,
                      max_frames: int | None = None) -> Iterator[Frame]:
        """Faces over time in a video file, a stream URL (rtsp://, http://) or webcam N: each
        analysed frame (every `every`-th) with its `number`, `time` (s), `rgb`, `faces` and
        `ids` (one per face, the same face keeps its id from frame to frame). `smooth`:
        average each face's probabilities over about this many seconds. Needs OpenCV
        (ferkit[video]); `max_frames` stops a webcam or stream. Faces are found by this
        recogniser's detector: `ferkit.load(detector="blazeface")`, as `ferkit video` does,
        spends ~30 ms less on each frame without a face than the default cascade."""
        from ..video.frames import frames

        return frames(self, source, every, smooth, max_frames)

    def explain(self, image: ImageInput, *, detect: bool = True, bgr: bool = False,
                max_faces: int | None = None) -> list[Explanation]:
        """Every face as predict() finds it, with where its expressions were read from:
        per face its `face`, the grey `crop` the model saw and a map per expression
        (`.evidence("happy")`, `.upper_share()`); `ferkit explain` draws them."""
        from .explanation import explain

        return explain(self, image, detect=detect, bgr=bgr, max_faces=max_faces)

    def read(self, source: str | Path | bytes, name: str = "upload", *,
             detect: bool = True) -> Image.Image:
        """Decode an image file or its bytes for predict(). A big JPEG is decoded at 1/2-1/8
        scale when faces are detected at their default smallest size (a share of the image):
        the smallest face looked for stays >= 1.5x the classifier's input."""
        min_side = self.min_side() if detect else None
        if isinstance(source, bytes):
            return image_from_bytes(source, name, min_side)
        return open_image(source, min_side)

    def _decoded(self, image: ImageInput) -> ImageInput:
        """A file, URL or the bytes of one decoded by read(); any other input as it is."""
        if isinstance(image, (str, Path)):
            return self.read(image)
        if (file := encoded(image)) is not None:
            return self.read(*file)
        return image

    def min_side(self) -> int | None:
        """The shorter side a picture can be reduced to before its faces are looked for
        (None: not at all, the smallest face was given in pixels)."""
        if getattr(self.detector, "min_face", 0) is None:
            return math.ceil(1.5 * self.img_size / DEFAULT_MIN_FACE)
        return None

    def find_faces(self, image: ImageInput, *, detect: bool = True, bgr: bool = False,
                   reduce: bool = True):
        """(boxes, detection scores, grey crops, (width, height)) for one image. reduce: a
        big picture (a PNG or HEIC file, a Pillow image) is made smaller first, as read()
        decodes a big JPEG (its crops then come from the smaller one; boxes stay in its own
        pixels)."""
        if not detect:
            gray = to_gray(as_pil(image, bgr=bgr))
            h, w = gray.shape
            return [(0, 0, w, h)], [None], [gray], (w, h)
        image = self._decoded(image)
        if reduce and isinstance(image, Image.Image) and (min_side := self.min_side()):
            image = reduced(image, min_side)
        rgb = to_rgb(image, bgr=bgr)
        h, w = rgb.shape[:2]
        # boxes in the file's pixels when it was decoded reduced
        fw, fh = full_size(image) if isinstance(image, Image.Image) else (w, h)
        dets = self.detector.detect(rgb)
        dets = sorted(dets, key=lambda d: d.box[0])  # left to right
        crops = [fer_crop(rgb, d.box, self.crop_scale, roll=face_roll(d)) for d in dets]
        boxes = [clip_box(_scaled(d.box, fw / w, fh / h), fw, fh) for d in dets]
        return boxes, [d.score for d in dets], crops, (fw, fh)

    def main_face(self, image: ImageInput, *, bgr: bool = False, reduce: bool = True
                  ) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
        """(box, grey crop) of the largest face in `image`, or None when there is none: the
        face a photo labelled with one expression is about (reduce=False: the crop from the
        picture at its full size)."""
        boxes, _, crops, _ = self.find_faces(image, bgr=bgr, reduce=reduce)
        if not boxes:
            return None
        i = int(np.argmax([(x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes]))
        return boxes[i], crops[i]

    def predict(self, image: ImageInput, *, detect: bool = True, bgr: bool = False,
                tta: bool | None = None) -> list[Face]:
        """Every face in `image` (a path, the file's bytes or a binary file object, a PIL
        image, or a numpy array: RGB, or BGR with bgr=True), left to right; [] when there is
        none. detect=False treats the whole image as one face crop, as FER2013's images are."""
        boxes, scores, crops, _ = self.find_faces(image, detect=detect, bgr=bgr)
        return self.faces(boxes, scores, self.classify(crops, tta))

    def predict_many(self, images: Iterable[ImageInput], *, detect: bool = True,
                     batch_size: int = 64, bgr: bool = False) -> Iterator[Result]:
        """predict() over a stream of images, batching faces through the classifier; an
        unreadable image yields a Result with its error and the stream goes on."""
        pending: list[tuple[Result, list, list, list]] = []
        n_crops = 0
        for image, readable in self._read_ahead(images, detect):
            try:
                if isinstance(readable, FerkitError):
                    raise readable
                boxes, scores, crops, size = self.find_faces(readable, detect=detect, bgr=bgr)
            except FerkitError as e:
                pending.append((Result(image, error=str(e)), [], [], []))
                continue
            pending.append((Result(image, size=size), boxes, scores, crops))
            n_crops += len(crops)
            if n_crops >= batch_size:
                yield from self._flush(pending)
                pending, n_crops = [], 0
        yield from self._flush(pending)

    def _read_ahead(self, images: Iterable[ImageInput], detect: bool) -> Iterator[tuple]:
        """(input, what find_faces is given for it) per input. Files and bytes are decoded in
        a background thread one input ahead, while the faces of the one before are found
        (a decoding error comes as the second item); not for a recogniser on one thread
        (the server, Ray), nor without detection (small crops: no time to win)."""
        if self.threads == 1 or not detect:
            return ((image, image) for image in images)
        return read_ahead(self._decoded, images, errors=FerkitError)

    def _flush(self, pending) -> Iterator[Result]:
        crops = [c for *_, cs in pending for c in cs]
        probs = self.classify(crops) if crops else np.zeros((0, len(self.classes)))
        start = 0
        for result, boxes, scores, cs in pending:
            result.faces = self.faces(boxes, scores, probs[start : start + len(cs)])
            start += len(cs)
            yield result

    def faces(self, boxes, scores, probs) -> list[Face]:
        """Faces from boxes, detection scores and rows of probabilities, in that order."""
        return [
            Face(box, dict(zip(self.classes, p, strict=True)), score)
            for box, score, p in zip(boxes, scores, probs, strict=True)
        ]


def _scaled(box, sx: float, sy: float) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    return x0 * sx, y0 * sy, x1 * sx, y1 * sy


def bundled_model(name: str | None = None) -> Path:
    """A model shipped in the package ("int8", "fp32"; None: the default, int8), checked
    against its pinned SHA-256."""
    path, pinned, _ = BUNDLED[name or DEFAULT_MODEL]
    if not path.is_file():
        raise FerkitError(
            "this install has no bundled model; pass a model path (e.g. --model best_model.pth)"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != pinned:
        raise FerkitError(
            f"the bundled model {path} is damaged (sha256 {digest[:12]}…, "
            f"expected {pinned[:12]}…); reinstall ferkit"
        )
    return path


def model_file(model: str | Path) -> Path:
    """The file a model argument names: a bundled model's ("int8", "fp32"), or the path."""
    if model in BUNDLED:
        return bundled_model(model)
    if isinstance(model, str) and not Path(model).suffix and not Path(model).exists():
        raise FerkitError(f"no such model: {model} (give a .onnx or .pth file, or a bundled "
                          f"model: {', '.join(BUNDLED)})")
    return Path(model)


def check_not_bundled(output: str | Path) -> None:
    """A model about to be written must not replace a bundled one (it would be refused as
    damaged from then on)."""
    if any(Path(output).resolve() == path.resolve() for path, _, _ in BUNDLED.values()):
        raise FerkitError(f"{output} is one of ferkit's bundled models: write the new model "
                          "elsewhere")


def load(model: str | Path | None = None, *, tta: bool | None = None,
         detector: Detector | str | None = None, threads: int | None = None,
         min_face: float | None = None, device: str = "cpu", reframe: bool = True) -> Recognizer:
    """A Recognizer for `model` (.onnx or .pth), or for a bundled model: None or "int8" (the
    default), "fp32" (the same model unquantised: slower on CPUs, as accurate within chance;
    docs/MODEL_CARD.md).

    detector: "cascade" (the default: BlazeFace, and CenterFace on a picture where it finds
    no face), "blazeface" (fast: what `ferkit video` uses), "centerface" (finds more small
    and unclear faces, ~3.5x slower), or any object with detect(rgb) -> [Detection].
    tta: average with the mirrored face (default: what the model's metadata says).
    threads: the CPU threads the classifier, and then the detector, may use (default: all
    cores); a batch of faces is spread over them in runs of a few faces, one thread each, and
    BlazeFace runs its small passes two at a time on half of them each.
    min_face: the smallest face (box side, pixels) the detector looks for; default 18% of the
    image's shorter side. Smaller is slower: the cost grows with (1 / min_face)^2.
    device: where a .pth checkpoint's classifier runs ("cpu", "cuda", "auto": CUDA when
    present); .onnx models run on the CPU.
    reframe: BlazeFace's faces (and the cascade's) re-framed by the face check onto
    FER2013's framing (False: the boxes as BlazeFace gives them); a detector given as an
    object keeps its own boxes (`open_detector(name, reframe=...)` makes a shipped one).
    """
    if model is not None and not isinstance(model, (str, Path)):
        raise FerkitError(
            f"ferkit.load expects a model path or None, got {type(model).__name__}"
        )
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, Integral)
                                or threads < 1):
        raise FerkitError(f"threads must be a whole number of at least 1, not {threads!r}")
    path = bundled_model() if model is None else model_file(model)
    backend = open_backend(path, threads=threads, device=device)
    return Recognizer(backend, detector=detector, tta=tta, threads=threads, min_face=min_face,
                      reframe=reframe)
