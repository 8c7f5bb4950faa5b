"""`ferkit video`: faces and expressions over time in a video file, a webcam or a network
stream (an IP camera's rtsp:// or http:// URL).

Every K-th frame goes through detect -> crop -> classify; faces keep an id across frames by
box overlap (a small IoU tracker); the summary gives each face's dominant expression and its
share of time per expression, and a plot shows the expressions over time.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from .ahead import read_ahead
from .atomic import check_figure_name
from .errors import FerkitError
from .extras import require
from .predict import MODEL_HELP, add_detector_args, expand_inputs, is_single, small_faces_note
from .recognizer import Face, load
from .records import Writer, check_output_name, frame_record, get_writer, summary_columns
from .videowriter import VideoWriter

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


def iou(a, b) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Expressions over time in a video or a webcam.",
                                add_help=add_help)
    # fmt: off
    p.add_argument("input", nargs="*",
                   help="a video file (anything OpenCV/FFmpeg reads) or a stream URL "
                   "(rtsp://, http://: an IP camera); or several files, folders and globs, "
                   "analysed one after another (or on Ray with --ray)")
    p.add_argument("--camera", type=int, metavar="N", help="read webcam N instead of a file")
    p.add_argument("--model", help=MODEL_HELP)
    p.add_argument("--every", type=int, default=1, metavar="K", help="analyse every K-th frame")
    p.add_argument("--annotate", metavar="OUT.mp4",
                   help="write the video with boxes and labels (several videos: a folder, "
                        "one video each)")
    p.add_argument("--output", metavar="FILE",
                   help="the analysed frames: .jsonl (an object per frame) or .csv / .parquet "
                        "(a row per face per frame), one file for one video or many")
    p.add_argument("--plot", metavar="OUT.png", help="plot of expressions over time")
    p.add_argument("--max-frames", type=int, help="stop after this many frames (webcams, streams)")
    p.add_argument("--smooth", type=float, default=0.0, metavar="SECONDS",
                   help="average each face's probabilities over about this many seconds, so "
                        "that labels do not flicker (default 0: each frame on its own)")
    add_detector_args(p)
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="average with the mirrored face (default: the model's own setting)")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help="one Ray actor task per video file (files, folders, globs): a local "
                        "Ray, or the cluster at ADDRESS ('auto'); needs --output")
    p.add_argument("--summary", metavar="FILE",
                   help="a row per face per video: frames seen, first and last time, "
                   "dominant expression, share of each (.csv, .jsonl, .parquet)")
    p.add_argument("--actors", type=int, default=2, help="with --ray: model actors")
    # fmt: on
    return p


def open_capture(args):
    """(capture, name) for `--camera N` or the video file given."""
    if (args.input is None) == (args.camera is None):
        raise FerkitError("give a video file or --camera N (one of them)")
    return open_source(args.input if args.camera is None else args.camera)


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
        """This analysed frame as the result schema has it (ferkit.records)."""
        size = None if self.rgb is None else (self.rgb.shape[1], self.rgb.shape[0])
        return frame_record(video, self.number, self.time, self.faces, self.ids, size)


def analyse(recognizer, cap, tracker: IouTracker, every: int = 1,
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
            # OpenCV's conversion: ~0.1 ms for 1080p, where frame[:, :, ::-1] took 7-13 ms
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

    from .annotate import draw_faces

    drawn = draw_faces(Image.fromarray(frame.rgb), frame.faces, classes, frame.ids, copy=False)
    return np.asarray(drawn)


def frames(recognizer, source: str | Path | int, every: int = 1, smooth: float = 0.0,
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


def main(args: argparse.Namespace) -> int:
    check_smooth(args.smooth, "--smooth")
    if args.ray is not None:
        return main_ray(args)
    if len(args.input) > 1 or (args.input and not is_stream(args.input[0])
                               and not is_single(args.input)):
        return main_files(args)
    args.input = args.input[0] if args.input else None
    check_reading("`ferkit video`", args.every, args.max_frames, args.smooth, flag="--")
    check_output_name(args.output)
    check_output_name(args.summary, "--summary")
    if args.annotate:
        require("`ferkit video --annotate`", "av")
    import cv2
    if args.annotate and Path(args.annotate).suffix.lower() not in VIDEO_SUFFIXES:
        raise FerkitError(f"--annotate {args.annotate}: use a file name ending in "
                          f"{', '.join(VIDEO_SUFFIXES)}")
    check_figure_name("--plot", args.plot)
    recognizer = load(args.model, tta=args.tta, detector=args.detector,
                      min_face=args.min_face)
    classes = recognizer.classes
    cap, name = open_capture(args)
    fps = frame_rate(cap)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    total = total if total > 0 else None  # a stream does not say (or says -2^63)
    tracker = new_tracker(cap, args.every)
    from tqdm import tqdm

    from .videos import Summaries

    frames = analysed = 0
    with ExitStack() as stack:
        stack.callback(cap.release)
        writer = stack.enter_context(get_writer(args.output, classes, video=True))
        sound = None if args.camera is not None or is_stream(args.input) else args.input
        drawn = (stack.enter_context(VideoWriter(args.annotate, fps, audio_from=sound))
                 if args.annotate else None)
        bar = stack.enter_context(tqdm(total=total, unit="frame", desc="video", file=sys.stderr,
                                       disable=not sys.stderr.isatty()))
        try:
            for frame in stack.enter_context(closing(analyse(
                    recognizer, cap, tracker, args.every, args.max_frames, args.smooth,
                    pixels=bool(args.annotate)))):
                if frame.analysed:
                    writer.write(frame.record(name))
                if drawn:
                    drawn.write(drawn_frame(frame, classes))
                frames = frame.number + 1
                analysed += frame.analysed
                bar.update(1)
        except KeyboardInterrupt:
            print("\nstopped", file=sys.stderr)
    print(summary(name, frames, fps, args.every, tracker.tracks, classes))
    if not tracker.tracks and analysed and args.min_face is None:
        print(small_faces_note(analysed, "analysed frame(s)"), file=sys.stderr)
    if args.plot:
        plot_timeline(tracker.tracks, classes, args.plot, name)
        print(f"wrote {args.plot}")
    if args.summary:  # the tracker already holds each face's labels and times
        summaries = Summaries(classes)
        summaries.add_tracks(name, tracker.tracks)
        write_summary(args.summary, summaries)
    return 0


def write_summary(path: str, summaries) -> None:
    with Writer(path, summary_columns(summaries.classes), flag="--summary") as writer:
        for row in summaries.rows():
            writer.write(row)
    print(f"wrote {path}")


def main_files(args: argparse.Namespace) -> int:
    """Several video files (files, folders, globs) in this process, one after another: the
    rows and summary `--ray` writes, with the same columns."""
    from tqdm import tqdm

    from .annotate import annotated_name, write_index
    from .videos import VIDEO_FILES, Summaries, summary_line, video_records

    if args.camera is not None or args.plot or args.max_frames:
        raise FerkitError("several videos write --output, --summary and --annotate FOLDER; "
                          "--camera, --plot and --max-frames take one video")
    if any(is_stream(i) for i in args.input):
        raise FerkitError("a live stream is read on its own, not with other videos")
    check_reading("`ferkit video`", args.every, None, args.smooth, flag="--")
    if args.annotate:
        require("`ferkit video --annotate`", "av")
        if Path(args.annotate).suffix.lower() in VIDEO_SUFFIXES or Path(args.annotate).is_file():
            raise FerkitError(f"--annotate {args.annotate}: several videos are annotated into "
                              "a folder, one video each; give a folder")
    check_output_name(args.output)
    check_output_name(args.summary, "--summary")
    empty: list[str] = []
    # a video named twice (a file and its folder) is analysed once: the summary is per file
    paths = list(dict.fromkeys(str(p) for p in expand_inputs(args.input, VIDEO_FILES, empty,
                                                             "video files")))
    if empty:
        raise FerkitError("; ".join(empty))
    if args.annotate:
        try:
            Path(args.annotate).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise FerkitError(f"--annotate {args.annotate}: cannot make that folder "
                              f"({e.strerror})") from e
    recognizer = load(args.model, tta=args.tta, detector=args.detector,
                      min_face=args.min_face)
    classes = recognizer.classes
    summaries = Summaries(classes)
    faceless, done = [], 0
    # each video's annotated copy: FOLDER/<name>.mp4, -2, -3... for names seen before
    taken: set[str] = set()
    annotated = {path: Path(args.annotate) / annotated_name(path, taken, ".mp4")
                 for path in paths} if args.annotate else {}
    with get_writer(args.output, classes, video=True) as writer, \
            tqdm(unit="frame", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
        try:
            for i, path in enumerate(paths, 1):
                bar.set_description(f"video {i}/{len(paths)}")
                records = video_records(recognizer, path, args.every, args.smooth,
                                        bar.update, annotated.get(path))
                for record in records:
                    writer.write(record)
                    summaries.add(record)
                if not any(r["faces"] or r["error"] for r in records):
                    faceless.append(path)
                done = i
        except KeyboardInterrupt:  # the videos analysed so far are kept and summarised
            print(f"\nstopped during {paths[done]}: {done} of {len(paths)} video(s) written",
                  file=sys.stderr)
    for row in summaries.rows():
        print(summary_line(row))
    for path in faceless:
        print(f"{path}: no face found")
    if faceless and args.min_face is None:
        print(small_faces_note(len(faceless), "video(s)"), file=sys.stderr)
    for error in summaries.errors.values():  # each names its file
        print(f"error: {error}", file=sys.stderr)
    if args.summary:
        write_summary(args.summary, summaries)
    tally = (f"{done} video(s): {len(summaries.tracks)} face(s) tracked"
             + (f", no face in {len(faceless)}" if faceless else "")
             + (f", {len(summaries.errors)} unreadable" if summaries.errors else ""))
    if args.annotate:
        faces = defaultdict(list)
        for row in summaries.rows():
            faces[row["video"]].append(f"#{row['face_id']} mostly {row['dominant']}")
        write_index(Path(args.annotate), tally, [
            (annotated[path].name, path, ", ".join(faces[path]) or "no face found")
            for path in paths[:done] if annotated[path].exists()], videos=True)
    print(tally + (f" -> {args.output}" if args.output else "")
          + (f"; annotated videos in {args.annotate} (index.html shows them all)"
             if args.annotate else ""))
    return 130 if done < len(paths) else 2 if summaries.errors else 0


def main_ray(args: argparse.Namespace) -> int:
    """`--ray`: every video file one unit of work on Ray Data; rows to --output."""
    if not args.input or not args.output:
        raise FerkitError("--ray needs video files (or folders) and --output FILE")
    if args.camera is not None or args.annotate or args.plot or args.max_frames:
        raise FerkitError("--ray writes --output and --summary; --camera, --annotate, --plot "
                          "and --max-frames are local")
    if any(is_stream(i) for i in args.input):
        raise FerkitError("--ray reads video files; a live stream is read without --ray")
    try:
        from . import ray as ferkit_ray
    except ImportError as e:
        raise FerkitError(f"--ray needs Ray Data ({e.name}): pip install 'ferkit[ray]'") from e
    from .videos import summary_line

    with ferkit_ray.native_logs_to():
        done = ferkit_ray.predict_videos(
            args.input, args.output, summary=args.summary, model=args.model, every=args.every,
            tta=args.tta, detector=args.detector, min_face=args.min_face, smooth=args.smooth,
            actors=args.actors, address=args.ray or None,
            progress=sys.stderr.isatty())
    for error in done["errors"].values():  # each names its file
        print(f"error: {error}", file=sys.stderr)
    for row in done["summary"]:
        print(summary_line(row))
    print(f"wrote {args.output}" + (f" and {args.summary}" if args.summary else ""))
    return 2 if done["errors"] else 0


def summary(name: str, frames: int, fps: float, every: int, tracks: list[Track],
            classes: list[str]) -> str:
    lines = [f"{name}: {frames} frames ({frames / fps:.1f}s), analysed every {every}, "
             f"{len(tracks)} face(s)"]
    if not tracks:
        lines.append("No face found.")
    for t in tracks:
        n = sum(t.labels.values())
        dominant = t.labels.most_common(1)[0][0]
        shares = ", ".join(f"{c} {t.labels[c] / n:.0%}" for c in classes if t.labels[c])
        lines.append(f"face #{t.id}: {n} frame(s) from {t.times[0]:.1f}s to {t.times[-1]:.1f}s, "
                     f"mostly {dominant.upper()} ({shares})")
    return "\n".join(lines)


def plot_timeline(tracks: list[Track], classes: list[str], path: str, title: str) -> None:
    """One panel per face (the 6 seen longest): each expression's probability over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .atomic import save_figure

    shown = sorted(tracks, key=lambda t: -len(t.times))[:6] or [None]
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 2.6 * len(shown)), squeeze=False,
                             sharex=True)
    for ax, track in zip(axes[:, 0], shown, strict=True):
        if track is None:
            ax.text(0.5, 0.5, "no face found", ha="center", va="center")
            continue
        probs = np.array(track.probs)
        for i, c in enumerate(classes):
            ax.plot(track.times, probs[:, i], label=c, lw=1.5)
        ax.set(ylabel="probability", ylim=(0, 1), title=f"face #{track.id}")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("time (s)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=len(classes), fontsize=8, loc="upper center",
               bbox_to_anchor=(0.5, 0.995))
    fig.suptitle(title, y=1.02)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    try:
        save_figure(fig, path, dpi=110)
    finally:
        plt.close(fig)
