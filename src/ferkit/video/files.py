"""Many video files, one at a time: a record per analysed frame (ferkit.io.records) and a
summary per face per video. What `ferkit video FOLDER` writes in-process and what `--ray`
writes from a cluster (ferkit.ray), the same records."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from ..errors import FerkitError
from ..io.records import SCHEMA_VERSION, frame_record
from .frames import Recogniser, analyse, drawn_frame, frame_rate, new_tracker, open_video
from .writer import VideoWriter

# what a folder of videos is searched for
VIDEO_FILES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


def video_records(recognizer: Recogniser, path: str, every: int = 1, smooth: float = 0.0,
                  progress: Callable[[int], None] | None = None,
                  annotate: str | Path | None = None) -> list[dict]:
    """One video file analysed whole, as `ferkit video` does: a record per analysed frame
    (ferkit.io.records.frame_record); one with the error when it cannot be read. `progress(frames)`
    is called as frames are decoded. `annotate`: also write the video with its faces drawn
    there (with its sound), as `ferkit video --annotate` does."""
    classes = recognizer.classes
    try:
        cap = open_video(path)
    except FerkitError as e:
        return [frame_record(path, None, None, error=str(e))]
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
            if frame.analysed:
                records.append(frame.record(path))
    finally:
        every_frame.close()  # it may be reading the next frame
        cap.release()
        if writer is not None:
            writer.close()
    return records


class Summaries:
    """Per face per video, from its records: frames seen, first and last time, the dominant
    expression and the share of each."""

    def __init__(self, classes: list[str]):
        self.classes = classes
        self.tracks: dict[tuple[str, int], dict] = {}
        self.errors: dict[str, str] = {}  # video -> why it could not be read

    def add_tracks(self, file: str, tracks) -> None:
        """The faces a tracker followed through one video (video.Track: labels, times)."""
        for t in tracks:
            self.tracks[file, t.id] = {"labels": t.labels, "times": t.times}

    def add(self, record: dict) -> None:
        """A frame's record (video_records): its faces seen, or the video's error."""
        if record["error"]:
            self.errors[record["video"]] = record["error"]
        for face in record["faces"]:
            t = self.tracks.setdefault((record["video"], face["face_id"]),
                                       {"labels": Counter(), "times": []})
            t["labels"][face["label"]] += 1
            t["times"].append(record["time_s"])

    def rows(self) -> list[dict]:
        by_file = defaultdict(list)
        for (video, fid), t in sorted(self.tracks.items()):
            n = sum(t["labels"].values())
            by_file[video].append({
                "schema_version": SCHEMA_VERSION, "video": video, "face_id": fid, "frames": n,
                "first_s": min(t["times"]), "last_s": max(t["times"]),
                "dominant": t["labels"].most_common(1)[0][0],
                **{c: t["labels"][c] / n for c in self.classes}})
        return [row for file in by_file for row in by_file[file]]


def summary_line(row: dict) -> str:
    return (f"{row['video']}: face #{row['face_id']}: {row['frames']} frame(s) from "
            f"{row['first_s']:.1f}s to {row['last_s']:.1f}s, mostly {row['dominant'].upper()}")
