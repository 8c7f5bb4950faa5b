"""`ferkit video`: faces and expressions over time in a video file, a webcam or a network
stream; several video files one after another, or on Ray."""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from contextlib import ExitStack, closing
from pathlib import Path

from ..detection import VIDEO_DETECTOR
from ..errors import FerkitError
from ..extras import require
from ..io.atomic import check_figure_name
from ..io.inputs import expand_inputs, is_single
from ..io.records import Writer, check_output_name, get_writer, summary_columns
from ..recognition.recognizer import load
from ..video.frames import (
    VIDEO_SUFFIXES,
    Track,
    analyse,
    check_reading,
    check_smooth,
    drawn_frame,
    frame_rate,
    is_stream,
    new_tracker,
    open_source,
)
from ..video.timeline import plot_timeline
from ..video.writer import VideoWriter
from .common import MODEL_HELP, add_detector_args, small_faces_note


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
    add_detector_args(p, default=VIDEO_DETECTOR)
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

    from ..video.files import Summaries

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


def check_several(args: argparse.Namespace) -> None:
    """The flags several videos can take, before any work."""
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


def main_files(args: argparse.Namespace) -> int:
    """Several video files (files, folders, globs) in this process, one after another: the
    rows and summary `--ray` writes, with the same columns."""
    from tqdm import tqdm

    from ..io.annotate import annotated_name, write_index
    from ..video.files import VIDEO_FILES, Summaries, summary_line, video_records

    check_several(args)
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
        from .. import ray as ferkit_ray
    except ImportError as e:
        raise FerkitError(f"--ray needs Ray Data ({e.name}): pip install 'ferkit[ray]'") from e
    from ..video.files import summary_line

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
