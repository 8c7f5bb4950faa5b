"""Faces over time: a video file, a webcam or a network stream (an IP camera's rtsp:// or
http:// URL) opened, every K-th frame through detect -> crop -> classify, and each face kept
under one id across frames by box overlap (a small IoU tracker)."""

from __future__ import annotations

import itertools
import math
import os
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import numpy as np

from ..detection.boxes import iou
from ..errors import FerkitError
from ..extras import require
from ..io.ahead import read_ahead
from ..io.records import frame_record
from ..io.results import Face


class Recogniser(Protocol):
    """What reading faces from video needs of a recogniser (ferkit.Recognizer is one)."""

    classes: list[str]
    threads: int | None

    def predict(self, image, *, detect: bool = True, bgr: bool = False,
                tta: bool | None = None) -> list[Face]: ...

# Containers --annotate writes (H.264, videowriter.py).
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
# URL schemes FFmpeg reads live video from (IP cameras, streaming servers)
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt")
STREAM_TIMEOUT_MS = 10_000  # to connect, and between two frames


@dataclass
class Track:
    id: int
    box: tuple[int, int, int, int]
    last_seen: int
    labels: Counter = field(default_factory=Counter)
    times: list[float] = field(default_factory=list)
    probs: list[list[float]] = field(default_factory=list)

    def observe(self, face: Face, t: float, classes: list[str], smooth: float = 0.0) -> Face:
        """Record the face seen at `t` seconds. With `smooth` > 0 its probabilities, and so its
        label, become a moving average over the track, older frames weighing less by
        exp(-age / smooth): an ambiguous face stops flickering between two labels."""
        probs = [face.probs[c] for c in classes]
        if smooth > 0 and self.probs:
            keep = math.exp(-(t - self.times[-1]) / smooth)
            probs = [keep * old + (1 - keep) * new
                     for old, new in zip(self.probs[-1], probs, strict=True)]
            face = replace(face, probs=dict(zip(classes, probs, strict=True)))
        self.labels[face.label] += 1
        self.times.append(t)
        self.probs.append(probs)
        return face


class IouTracker:
    """Greedy IoU matching of this frame's faces to the tracks seen recently."""

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 15):
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.tracks: list[Track] = []
        self.active: list[Track] = []

    def update(self, faces: list[Face], step: int) -> list[int]:
        """Ids for `faces` (processed frame number `step`)."""
        alive = [t for t in self.active if step - t.last_seen <= self.max_missed]
        pairs = sorted(
            ((iou(f.box, t.box), i, t) for i, f in enumerate(faces) for t in alive),
            key=lambda p: -p[0],
        )
        ids: list[int | None] = [None] * len(faces)
        used = set()
        for overlap, i, track in pairs:
            if overlap < self.iou_threshold or ids[i] is not None or track.id in used:
                continue
            ids[i] = track.id
            used.add(track.id)
            track.box, track.last_seen = faces[i].box, step
        for i, face in enumerate(faces):
            if ids[i] is None:
                track = Track(len(self.tracks) + 1, face.box, step)
                self.tracks.append(track)
                alive.append(track)
                ids[i] = track.id
        self.active = alive
        return ids


def open_source(source: str | Path | int):
    """(capture, name) for a webcam number, a stream URL or a video file."""
    import cv2

    if isinstance(source, int):
        cap = cv2.VideoCapture(source)
        if not cap.isOpened():
            raise FerkitError(f"cannot open camera {source}")
        return cap, f"camera {source}"
    if is_stream(source):
        return open_stream(str(source)), shown_url(str(source))
    return open_video(source), str(source)


def is_stream(source: str | Path) -> bool:
    return urlsplit(str(source)).scheme.lower() in STREAM_SCHEMES


def shown_url(url: str) -> str:
    """The URL without the password it may carry (rtsp://user:pass@camera/...)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


def open_stream(url: str):
    """An OpenCV capture of a live stream; it never rewinds, so it is not probed first."""
    import cv2

    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG,
                           [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS,
                            cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS])
    if not cap.isOpened():
        raise FerkitError(f"cannot open the stream {shown_url(url)} (no answer, or not video "
                          "FFmpeg reads)")
    return cap


def open_video(path: str | Path):
    """An OpenCV capture of a video file, checked to yield frames."""
    import cv2

    path = Path(path)
    if not path.is_file():
        webcam = f" (webcam {path}: the number {path}, or --camera {path})" \
            if str(path).isdigit() else ""
        raise FerkitError(f"no such video file: {path}{webcam}")
    if is_still_image(path):
        raise FerkitError(f"{path} is a still image, not a video")
    cap = cv2.VideoCapture(str(path))
    readable = cap.isOpened() and cap.read()[0]
    cap.release()
    if not readable:
        raise FerkitError(f"{path} is not a video OpenCV can read")
    # Opened anew rather than rewound: not every container seeks back to frame 0.
    return cv2.VideoCapture(str(path))


def is_still_image(path: Path) -> bool:
    """An image Pillow reads with one frame (FFmpeg would play it as a 1-frame video, or not
    at all); animated GIFs and WebPs stay videos."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return getattr(img, "n_frames", 1) == 1
    except (UnidentifiedImageError, OSError):
        return False


def quiet_opencv() -> None:
    """FFmpeg's own log lines would follow our one-line errors: silence them (before import)."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")


@dataclass
class Frame:
    """One decoded frame; `faces`/`ids` are those of the last analysed frame, so a skipped
    frame can still be annotated. `rgb` is None for a skipped frame read without its pixels."""

    number: int
    time: float
    rgb: np.ndarray | None
    faces: list[Face]
    ids: list[int]
    analysed: bool

    def record(self, video: str) -> dict:
        """This analysed frame as the result schema has it (ferkit.io.records)."""
        size = None if self.rgb is None else (self.rgb.shape[1], self.rgb.shape[0])
        return frame_record(video, self.number, self.time, self.faces, self.ids, size)


def analyse(recognizer: Recogniser, cap, tracker: IouTracker, every: int = 1,
            max_frames: int | None = None, smooth: float = 0.0,
            pixels: bool = True) -> Iterator[Frame]:
    """Every frame of an open capture, every `every`-th through detect -> crop -> classify;
    faces get track ids and their tracks collect labels, times and probabilities (averaged
    over ~`smooth` seconds: Track.observe). What `ferkit video` and the Ray pipeline
    (ferkit.ray) both run. pixels=False: the frames in between are passed over without
    converting their pixels (rgb None; a 1080p frame read in ~1/3 of the time)."""
    import cv2

    check_smooth(smooth)
    fps = frame_rate(cap)
    classes = recognizer.classes

    def read(number: int) -> tuple[bool, np.ndarray | None]:
        if number % every == 0 or pixels:
            ok, frame = cap.read()
            # OpenCV's conversion, far faster than numpy's frame[:, :, ::-1]
            return ok, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok else None
        return cap.grab(), None

    faces, ids = [], []
    numbers = itertools.count() if max_frames is None else range(max_frames)
    # The next frame is decoded while this one is analysed (not on one thread: Ray). Closing
    # this generator stops that reading: close it before releasing the capture.
    with closing(read_ahead(read, numbers, enabled=recognizer.threads != 1)) as decoded:
        for number, (ok, rgb) in decoded:
            if not ok:
                break
            t = number / fps
            analysed = number % every == 0
            if analysed:
                faces = recognizer.predict(rgb)
                ids = tracker.update(faces, number // every)
                faces = [tracker.tracks[fid - 1].observe(face, t, classes, smooth)
                         for face, fid in zip(faces, ids, strict=True)]
            yield Frame(number, t, rgb, faces, ids, analysed)


def drawn_frame(frame: Frame, classes: list[str]) -> np.ndarray:
    """A frame's RGB pixels with its faces boxed, labelled and numbered, for --annotate."""
    from PIL import Image

    from ..io.annotate import draw_faces

    drawn = draw_faces(Image.fromarray(frame.rgb), frame.faces, classes, frame.ids, copy=False)
    return np.asarray(drawn)


def frames(recognizer: Recogniser, source: str | Path | int, every: int = 1, smooth: float = 0.0,
           max_frames: int | None = None) -> Iterator[Frame]:
    """The analysed frames (every `every`-th) of a video file, stream URL or webcam number:
    Recognizer.predict_video. Opened now, so a bad source fails here, not in the loop; the
    capture is released when the loop ends or is left."""
    check_reading("reading video", every, max_frames, smooth)
    cap, _ = open_source(source)

    def analysed() -> Iterator[Frame]:
        with ExitStack() as stack:
            stack.callback(cap.release)
            every_frame = stack.enter_context(closing(analyse(
                recognizer, cap, new_tracker(cap, every), every, max_frames, smooth,
                pixels=False)))
            for frame in every_frame:
                if frame.analysed:
                    yield frame

    return analysed()


def check_reading(what: str, every: int, max_frames: int | None, smooth: float,
                  flag: str = "") -> None:
    """OpenCV is there (and quiet), and the frame options are sane; `flag`: "--" where they
    came from the command line."""
    require(what, "cv2")
    quiet_opencv()
    if every < 1:
        raise FerkitError(f"{flag}every must be 1 or more, not {every}")
    if max_frames is not None and max_frames < 1:
        raise FerkitError(f"{flag}max{'-' if flag else '_'}frames must be 1 or more, "
                          f"not {max_frames}")
    check_smooth(smooth, f"{flag}smooth")


def check_smooth(smooth: float, name: str = "smooth") -> None:
    if not smooth >= 0:
        raise FerkitError(f"{name} must be 0 (off) or more seconds, not {smooth}")


def frame_rate(cap) -> float:
    """The capture's frames per second; 25 where the container does not say."""
    import cv2

    return cap.get(cv2.CAP_PROP_FPS) or 25.0


def new_tracker(cap, every: int) -> IouTracker:
    return IouTracker(max_missed=max(3, round(frame_rate(cap) / every)))
