"""Ray Data: `ferkit predict` and `ferkit video` on a cluster, with the same records.

    pip install 'ferkit[ray]'
    ferkit predict photos/ --ray --output faces.parquet            # a local Ray
    ferkit predict "s3://bucket/crawl/" --ray auto --output s3://bucket/faces/  # a cluster

    import ferkit.ray
    ferkit.ray.predict_images(["photos/"], "faces.parquet", actors=2)
    ferkit.ray.predict_videos(["talks/"], "frames.csv", summary="videos.csv", every=5)

Images are read as bytes by Ray's read tasks (local paths or object-storage URIs) and decoded
by ferkit's own image code inside model actors, each of which loads the model once and runs
ONNX Runtime with one thread; a video file is one unit of work, its frames decoded and its
faces tracked inside an actor as `ferkit video` does. An unreadable image, a corrupt video or a
missing file becomes a record with its error; the job goes on.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import ray
import ray.data

from .detection import DEFAULT_DETECTOR, VIDEO_DETECTOR
from .errors import FerkitError
from .io.inputs import expand_inputs
from .io.records import (
    Writer,
    arrow_schema,
    check_output_name,
    get_writer,
    image_columns,
    nested,
    rows,
    summary_columns,
    video_columns,
)
from .io.results import Result
from .io.urls import is_url
from .recognition.recognizer import load
from .video.files import VIDEO_FILES, Summaries, video_records


def start(address: str | None = None, num_cpus: int | None = None) -> None:
    """Join the cluster at `address` ("auto": the running one) or start a local Ray; quiet."""
    if not ray.is_initialized():
        kw = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        try:
            if address:
                ray.init(address=address, **kw)
            else:
                ray.init(num_cpus=num_cpus, **kw)
        except ConnectionError as e:
            raise FerkitError(f"cannot join the Ray cluster at {address}: {e}") from e
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # ferkit shows one bar of its own
    ctx.print_on_execution_start = False
    ctx.execution_options.preserve_order = True  # rows in input order, as the CLI writes them
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    # e.g. "the operator only received 1 input(s)" for a small job: advice for Ray tuners
    warnings.filterwarnings("ignore", category=UserWarning, module=r"ray\.data")


DRIVER_LOG = Path(tempfile.gettempdir()) / "ferkit-ray-driver.log"


@contextmanager
def native_logs_to(path: Path = DRIVER_LOG):
    """Send what Ray's C++ core writes to the process's stderr (e.g. a warning at ERROR level
    for every Ray Data actor, which may not restart with its constructor arguments) to a
    file, while Python's sys.stderr (ferkit's errors, the progress bar) stays on the
    terminal. For the command line, where a user reads stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 2)
    os.close(target)
    terminal, sys.stderr = sys.stderr, open(os.dup(saved), "w", buffering=1)  # noqa: SIM115
    try:
        yield
    finally:
        sys.stderr.close()
        sys.stderr = terminal
        os.dup2(saved, 2)
        os.close(saved)


def _cpus(actors: int) -> tuple[float, float]:
    """(CPUs per actor, per read task): actors leave room for the read tasks, or the reads
    starve and the job hangs (2 actors x 1 CPU on a 2-CPU node)."""
    total = ray.cluster_resources().get("CPU", 1)
    return min(1.0, max(0.25, (total - 0.5) / actors)), 0.25


class ImageActor:
    """Loads the model once; turns batches of (path, bytes) into rows, one per face."""

    def __init__(self, model: str | None, detect: bool, tta: bool | None, detector: str,
                 min_face: float | None):
        self.recognizer = load(model, tta=tta, threads=1, detector=detector, min_face=min_face)
        self.detect = detect

    def __call__(self, batch):
        paths = batch.column("path").to_pylist()
        # object storage: bytes read by Ray's read tasks; local paths: read here (see
        # predict_images)
        data = (batch.column("bytes").to_pylist() if "bytes" in batch.column_names
                else [None] * len(paths))
        results, images = [], []
        for path, blob in zip(paths, data, strict=True):
            try:
                image = self.recognizer.read(path if blob is None else blob, path,
                                             detect=self.detect)
                images.append((len(results), image))
                results.append(Result(path))
            except FerkitError as e:
                results.append(Result(path, error=str(e)))
            except Exception as e:  # one odd file must not fail a job of millions
                results.append(Result(path, error=f"{path}: {type(e).__name__}: {e}"))
        found = self.recognizer.predict_many([im for _, im in images], detect=self.detect)
        for (i, _), result in zip(images, found, strict=True):
            results[i] = replace(result, source=results[i].source)
        classes = self.recognizer.classes
        flat = [row for result in results for row in result.rows(classes)]
        return pa.Table.from_pylist(flat, schema=arrow_schema(image_columns(classes)))


def split_inputs(specs: Iterable[str], suffixes: set[str] | None = None):
    """(object-storage URIs for Ray to list and read, local paths) from files, folders,
    globs and URIs; a missing local path stays in, to become a record with its error. A folder
    without a single file to read is an error."""
    from .io.inputs import IMAGE_SUFFIXES

    uris, paths, empty = [], [], []
    for spec in specs:
        if "://" in spec and not is_url(spec):  # http(s) images are fetched by the actors
            uris.append(spec)
        else:
            paths += [str(p) for p in expand_inputs(
                [spec], suffixes or IMAGE_SUFFIXES, empty,
                "image files" if suffixes is None else "video files")]
    if empty:
        raise FerkitError("; ".join(empty))
    return uris, paths


def _paths_dataset(paths: list[str], per_block: int):
    return ray.data.from_items([{"path": p} for p in paths],
                               override_num_blocks=max(1, -(-len(paths) // per_block)))


def predict_images(inputs: Iterable[str], output: str | None = None, *, model: str | None = None,
                   detect: bool = True, tta: bool | None = None,
                   detector: str = DEFAULT_DETECTOR,
                   min_face: float | None = None, actors: int = 2,
                   batch_size: int = 64, address: str | None = None,
                   num_cpus: int | None = None, progress: bool = True) -> Iterator[dict]:
    """Every image's record (as `ferkit predict --json` prints it: ferkit.io.records), computed
    by Ray Data; with `output` (.parquet, .csv, .jsonl) also written there, as `ferkit
    predict --output` writes it. Yields the records in input order; consume the iterator to
    run the job.

    Object-storage URIs are read by Ray's read tasks (read_binary_files); local and shared
    paths are read inside the actors: on many small files read_binary_files managed ~300-500
    files/s on 2 cores, slower than the model itself."""
    start(address, num_cpus)
    uris, paths = split_inputs(inputs)
    # checks the model, the detector's name and min_face here, before any actor starts
    classes = load(model, detector=detector, min_face=min_face).classes
    actor_cpus, read_cpus = _cpus(actors)
    sources = []
    if paths:
        sources.append(_paths_dataset(paths, 4 * batch_size))
    if uris:
        sources.append(ray.data.read_binary_files(uris, include_paths=True, num_cpus=read_cpus))
    mapped = [ds.map_batches(
        ImageActor, fn_constructor_kwargs=dict(model=model, detect=detect, tta=tta,
                                               detector=detector, min_face=min_face),
        compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=actor_cpus,
        batch_size=batch_size, batch_format="pyarrow") for ds in sources]
    batches: Iterator = iter(())
    if mapped:
        ds = mapped[0].union(*mapped[1:]) if len(mapped) > 1 else mapped[0]
        batches = ds.iter_batches(batch_format="pyarrow", batch_size=None)
    total = len(paths) if not uris else None
    with get_writer(output, classes) as writer, _bar(total, "images", progress) as bar:
        for batch in batches:
            for record in nested(batch.to_pylist(), classes):
                writer.write(record)
                bar.update(1)
                yield record


class VideoActor:
    """Loads the model once; each video file is analysed whole (frames decoded and faces
    tracked here, as `ferkit video` does) into rows, one per face per analysed frame."""

    def __init__(self, model: str | None, every: int, tta: bool | None, detector: str,
                 min_face: float | None, smooth: float = 0.0):
        from .video.frames import quiet_opencv

        quiet_opencv()
        self.recognizer = load(model, tta=tta, threads=1, detector=detector, min_face=min_face)
        self.every = every
        self.smooth = smooth

    def __call__(self, batch: dict):
        classes = self.recognizer.classes
        flat = [row for path in batch["path"]
                for record in video_records(self.recognizer, str(path), self.every,
                                            self.smooth)
                for row in rows(record, classes)]
        return pa.Table.from_pylist(flat, schema=arrow_schema(video_columns(classes)))


def predict_videos(inputs: Iterable[str], output: str | None = None, *,
                   summary: str | None = None, model: str | None = None, every: int = 1,
                   tta: bool | None = None, detector: str = VIDEO_DETECTOR,
                   min_face: float | None = None, smooth: float = 0.0, actors: int = 2,
                   address: str | None = None, num_cpus: int | None = None,
                   progress: bool = True) -> dict:
    """Faces over time in every video (files, folders, globs), one Ray actor task per file:
    a record per analysed frame (ferkit.io.records: as `ferkit video --output` writes) to
    `output`, and a summary per face per video (dominant expression, share of each) to
    `summary`. `smooth`: as `ferkit video --smooth`. Returns {"summary": rows, "errors":
    {file: error}}."""
    from .video.frames import check_smooth

    if every < 1:
        raise FerkitError("every must be 1 or more")
    check_smooth(smooth)
    check_output_name(output)
    check_output_name(summary, "--summary")  # before the work, not after it
    start(address, num_cpus)
    _, paths = split_inputs(inputs, VIDEO_FILES)  # a missing file: an error row
    # checks the model, the detector's name and min_face here, before any actor starts
    classes = load(model, detector=detector, min_face=min_face).classes
    actor_cpus, _ = _cpus(actors)
    ds = _paths_dataset(paths, 1)
    ds = ds.map_batches(
        VideoActor, fn_constructor_kwargs=dict(model=model, every=every, tta=tta,
                                               detector=detector, min_face=min_face,
                                               smooth=smooth),
        compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=actor_cpus, batch_size=1,
        batch_format="numpy")
    summaries = Summaries(classes)
    with get_writer(output, classes, video=True) as writer, \
            _bar(len(paths), "videos", progress) as bar:
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            done = set()
            for record in nested(batch.to_pylist(), classes):
                writer.write(record)
                summaries.add(record)
                done.add(record["video"])
            bar.update(len(done))
    summary_rows = summaries.rows()
    with Writer(summary, summary_columns(classes), flag="--summary") as writer:
        for row in summary_rows:
            writer.write(row)
    return {"summary": summary_rows, "errors": summaries.errors}


def _bar(total: int | None, unit: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit=unit[:-1], desc=f"ray: {unit}", file=sys.stderr,
                disable=not enabled, dynamic_ncols=True)
