"""Many video files, one at a time: a row per face per analysed frame (with its file) and a
summary per face per video. What `ferkit video FOLDER` writes in-process and what `--ray`
writes from a cluster (ferkit.ray), with the same columns."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from .errors import FerkitError
from .recognizer import Recognizer
from .video import analyse, drawn_frame, frame_rate, new_tracker, open_video
from .videowriter import VideoWriter

# what a folder of videos is searched for
VIDEO_FILES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
ROW_STRINGS = ("file", "label", "error")
SUMMARY_STRINGS = ("file", "dominant")


def video_columns(classes: list[str]) -> list[str]:
    return ["file", "frame", "time_s", "face_id", "x0", "y0", "x1", "y1", "label",
            "confidence", *classes, "error"]


def summary_columns(classes: list[str]) -> list[str]:
    return ["file", "face_id", "frames", "first_s", "last_s", "dominant", *classes]


def video_records(recognizer: Recognizer, path: str, every: int = 1, smooth: float = 0.0,
                  progress: Callable[[int], None] | None = None,
                  annotate: str | Path | None = None) -> list[dict]:
    """One video file analysed whole, as `ferkit video` does: a record per face per analysed
    frame; one record with the error (or "no face") when there is none. `progress(frames)`
    is called as frames are decoded. `annotate`: also write the video with its faces drawn
    there (with its sound), as `ferkit video --annotate` does."""
    classes = recognizer.classes
    empty = dict.fromkeys(video_columns(classes))
    try:
        cap = open_video(path)
    except FerkitError as e:
        return [{**empty, "file": path, "error": str(e)}]
    records = []
    every_frame = analyse(recognizer, cap, new_tracker(cap, every), every, smooth=smooth,
                          pixels=annotate is not None)
    writer = None
    try:
        if annotate is not None:
            writer = VideoWriter(annotate, frame_rate(cap), audio_from=path)
        for frame in every_frame:
            if progress:
                progress(1)
            if writer is not None:
                writer.write(drawn_frame(frame, classes))
            if not frame.analysed:
                continue
            for face, fid in zip(frame.faces, frame.ids, strict=True):
                records.append({"file": path, "frame": frame.number, "time_s": frame.time,
                                "face_id": fid, **dict(zip(("x0", "y0", "x1", "y1"), face.box,
                                                           strict=True)),
                                "label": face.label, "confidence": face.confidence,
                                **{c: face.probs[c] for c in classes}, "error": None})
    finally:
        every_frame.close()  # it may be reading the next frame
        cap.release()
        if writer is not None:
            writer.close()
    return records or [{**empty, "file": path, "error": "no face"}]


class Summaries:
    """Per face per video, from its records: frames seen, first and last time, the dominant
    expression and the share of each."""

    def __init__(self, classes: list[str]):
        self.classes = classes
        self.tracks: dict[tuple[str, int], dict] = {}
        self.errors: dict[str, str] = {}  # file -> why it could not be read

    def add_tracks(self, file: str, tracks) -> None:
        """The faces a tracker followed through one video (video.Track: labels, times)."""
        for t in tracks:
            self.tracks[file, t.id] = {"labels": t.labels, "times": t.times}

    def add(self, record: dict) -> None:
        """A record of video_records: a face seen, or the file's error."""
        if record["error"] not in (None, "no face"):
            self.errors[record["file"]] = record["error"]
        if record["error"] is None:
            t = self.tracks.setdefault((record["file"], record["face_id"]),
                                       {"labels": Counter(), "times": []})
            t["labels"][record["label"]] += 1
            t["times"].append(record["time_s"])

    def rows(self) -> list[dict]:
        by_file = defaultdict(list)
        for (file, fid), t in sorted(self.tracks.items()):
            n = sum(t["labels"].values())
            by_file[file].append({
                "file": file, "face_id": fid, "frames": n, "first_s": min(t["times"]),
                "last_s": max(t["times"]), "dominant": t["labels"].most_common(1)[0][0],
                **{c: t["labels"][c] / n for c in self.classes}})
        return [row for file in by_file for row in by_file[file]]


def summary_line(row: dict) -> str:
    return (f"{row['file']}: face #{row['face_id']}: {row['frames']} frame(s) from "
            f"{row['first_s']:.1f}s to {row['last_s']:.1f}s, mostly {row['dominant'].upper()}")
