"""Inference speed and memory on this machine's CPU, one JSON line per measurement.

    python bench/inference.py                   # the bundled (int8) model, against fp32
    python bench/inference.py --model best_model.onnx --threads 2
    python bench/inference.py --model fp32 --baseline none   # fp32 alone
    python bench/inference.py --compare model_int8.onnx   # and any other classifier

classifier_batch1 / classifier_five / classifier_batched: the model alone on ONNX Runtime:
  one face, five (a group photo's), 256 per call; the model, its baseline and any --compare
  models are timed in rounds that take them in turn (medians of 7), so that a shared
  machine's drift hits each alike and the ratios of one run are fair ones;
comparison: each model against the baseline (--baseline, default fp32: the bundled model
  before quantisation): time ratios at batch 1 and for five faces, the batched throughput
  ratio, the group photo end to end with each (ms, alternating too), and accuracy on FER2013
  PublicTest (../shared/fer2013/test, all 3,589 crops), the difference in points;
group_photo: detect + crop + classify the 1000x667 group photo (and a 4000x3000 version),
  after warm-up, with each shipped detector;
targets: issue 12's bars in one line, each with its value and whether it is met: the timed
  model against the baseline (batched >= 2x, batch 1 <= 0.6x the time, accuracy within 0.5
  points) and its group photo with the default detector (<= 10 ms; 4000x3000 <= 60 ms);
photo_file: `predict(path)` on the 4000x3000 version saved as a JPEG: decode included (it is
  decoded at the reduced size the detector needs), against a full decode alone;
photo_folder: `predict_many` over 24 such files (what `ferkit predict DIR` runs);
video: `predict_video` over a 640x480 and a 1920x1080 clip of the group photo panning (mp4v,
  100 frames), decode to tracked faces, per frame (needs OpenCV: the video extra);
photos: faces found and labels on ../shared/photos;
predict_cold: `ferkit predict PHOTO` from process start to printed answer (no torch import);
folder_no_detect: `ferkit predict DIR --no-detect` on 1,000 FER2013 crops, end to end;
folder_rss: peak memory of `ferkit predict` over 1,000 and 10,000 images (constant memory).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import FER, ROOT, SHARED, device_name, emit, require

from ferkit.detection import DETECTORS
from ferkit.io.images import open_image, to_gray
from ferkit.recognition.recognizer import load

PHOTOS = SHARED / "photos"


def alternating(fns: dict, repeat: int, rounds: int = 7) -> dict:
    """Median seconds per call of each function, over rounds that run them in turn."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(repeat):
                fn()
            times[name].append((time.perf_counter() - t0) / repeat)
    return {name: statistics.median(t) for name, t in times.items()}


def accuracy(rec, faces: list, labels: list[str]) -> float:
    probs = np.concatenate([rec.classify(faces[i : i + 256]) for i in range(0, len(faces), 256)])
    return float(np.mean([rec.classes[i] == t for i, t in zip(probs.argmax(1), labels,
                                                               strict=True)]))


def timed(fn, repeat: int) -> float:
    """Median seconds of fn() over `repeat` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fer_files(n: int | None, split: str = "train") -> list[Path]:
    """n files of FER2013's split, repeated if need be (None: all of them once)."""
    files = sorted(p for c in sorted((FER / split).iterdir()) for p in c.iterdir())
    return files if n is None else [files[i % len(files)] for i in range(n)]


def link_folder(files: list[Path], folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, f in enumerate(files):
        (folder / f"{i:05d}_{f.name}").symlink_to(f)
    return folder


# Runs the CLI, then reports the process's own peak RSS (VmHWM). getrusage would not do:
# Linux carries the forking parent's peak (this big benchmark process) into the child's.
CHILD = """
import runpy, sys
try:
    runpy.run_module("ferkit", run_name="__main__", alter_sys=True)
finally:
    status = open("/proc/self/status").read()
    print("VmHWM", status.split("VmHWM:")[1].split()[0], file=sys.stderr)
"""


def run_cli(*args: str) -> tuple[float, int, str]:
    """(seconds, peak RSS in MB, stdout) of `python -m ferkit ARGS`, from process start."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True,
                       env=env, check=False)
    seconds = time.perf_counter() - t0
    if r.returncode not in (0, 2):
        sys.exit(r.stderr)
    peak_kb = int(r.stderr.rsplit("VmHWM", 1)[1].split()[0])
    return seconds, peak_kb // 1024, r.stdout


def video_speed(rec, group, cpu: str, frames: int = 100) -> None:
    """Milliseconds per frame of predict_video on clips of `group` panning sideways."""
    try:
        import cv2
    except ImportError:
        print("note: OpenCV is not installed (the video extra): no video timings")
        return
    bgr = np.ascontiguousarray(np.asarray(group)[:, :, ::-1])
    with tempfile.TemporaryDirectory() as tmp:
        for width, height in ((640, 480), (1920, 1080)):
            path = str(Path(tmp) / f"pan_{width}.mp4")
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 25, (width, height))
            base = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
            for i in range(frames):
                writer.write(np.roll(base, i * width // 400, axis=1))
            writer.release()
            seconds = timed(lambda path=path: list(rec.predict_video(path)), 3)
            faces = sum(len(f.faces) for f in rec.predict_video(path))
            emit(kind="video", clip=f"{width}x{height} mp4v", frames=frames,
                 ms_per_frame=round(seconds / frames * 1e3, 1),
                 faces_per_frame=round(faces / frames, 2), device=cpu)


def compare_models(models: dict, one: dict, five: dict, batched: dict, group: np.ndarray,
                   cpu: str) -> list[dict]:
    """Each model against the first: speed ratios from the alternating timings, the group
    photo end to end (alternating too), accuracy on PublicTest."""
    photo = alternating({name: lambda r=r: r.predict(group) for name, r in models.items()}, 20)
    files = fer_files(None, split="test")
    faces, labels = [to_gray(open_image(f)) for f in files], [f.parent.name for f in files]
    scores = {name: accuracy(r, faces, labels) for name, r in models.items()}
    first, *others = models
    rows = []
    for name in others:
        rows.append(dict(kind="comparison", model=name, against=first,
             batch1_time_ratio=round(one[name] / one[first], 3),
             five_faces_time_ratio=round(five[name] / five[first], 3),
             batched_throughput_ratio=round(batched[first] / batched[name], 3),
             group_photo_ms=round(photo[name] * 1e3, 1),
             group_photo_ms_first=round(photo[first] * 1e3, 1),
             publictest_accuracy=round(scores[name], 4),
             publictest_accuracy_first=round(scores[first], 4),
             accuracy_points=round(100 * (scores[name] - scores[first]), 2),
             faces=len(faces), device=cpu))
        emit(**rows[-1])
    return rows


def targets(comparison: dict | None, photo_ms: dict, model: str, cpu: str) -> None:
    """The bars of the int8 and group-photo targets (issue 12), met or not, in one line:
    the timed model against the baseline, and its group photo after warm-up."""
    bars = {"group_photo_ms<=10": (round(photo_ms[1000], 1), photo_ms[1000] <= 10),
            "photo_4000x3000_ms<=60": (round(photo_ms[4000], 1), photo_ms[4000] <= 60)}
    if comparison:
        c = comparison
        bars.update({
            "batched_throughput_ratio>=2": (c["batched_throughput_ratio"],
                                            c["batched_throughput_ratio"] >= 2),
            "batch1_time_ratio<=0.6": (c["batch1_time_ratio"], c["batch1_time_ratio"] <= 0.6),
            "accuracy_points_within_0.5": (c["accuracy_points"], abs(c["accuracy_points"]) <= 0.5),
        })
    emit(kind="targets", model=Path(model).name,
         against=comparison["against"] if comparison else None,
         **{bar: {"value": value, "met": met} for bar, (value, met) in bars.items()},
         all_met=all(met for _, met in bars.values()), device=cpu)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a .onnx model, or fp32 (default: the bundled int8 model)")
    p.add_argument("--baseline", default="fp32", metavar="MODEL",
                   help="the classifier the others are compared with (default: fp32, the "
                   "bundled model before quantisation; none: no comparison)")
    p.add_argument("--compare", action="append", default=[], metavar="MODEL",
                   help="also time this classifier against the baseline, same crops")
    p.add_argument("--threads", type=int, default=None,
                   help="threads the classifier and the detector may use (default: all cores)")
    p.add_argument("--skip-10k", action="store_true", help="skip the 10,000-image RSS run")
    args = p.parse_args()
    require(FER)
    require(PHOTOS)

    rec = load(args.model, threads=args.threads)
    model = str(rec.backend.path)
    cpu = device_name()
    crops = [to_gray(open_image(f)) for f in fer_files(256)]
    tta = rec.tta
    emit(kind="model", path=model, img_size=rec.img_size, tta=tta,
         size_mb=round(Path(model).stat().st_size / 1e6, 2), device=cpu)

    # the baseline first: compare_models takes every other model against the first
    models = {}
    for other in ([] if args.baseline == "none" else [args.baseline]) + [None] + args.compare:
        r = rec if other is None else load(other, threads=args.threads, tta=tta)
        models.setdefault(Path(r.backend.path).name, r)
    group = open_image(PHOTOS / "multi_face.jpg").convert("RGB")
    one, five, batched = (
        alternating({name: lambda r=r, n=n: r.classify(crops[:n]) for name, r in models.items()},
                    repeat)
        for n, repeat in ((1, 200), (5, 60), (len(crops), 3)))
    for name in models:
        emit(kind="classifier_batch1", model=name, ms_per_face=round(one[name] * 1e3, 3),
             tta=tta, device=cpu)
        emit(kind="classifier_five", model=name, ms=round(five[name] * 1e3, 3), tta=tta,
             device=cpu)
        emit(kind="classifier_batched", model=name, batch=len(crops),
             faces_per_s=round(len(crops) / batched[name]), tta=tta, device=cpu)
    comparisons = (compare_models(models, one, five, batched, np.asarray(group), cpu)
                   if len(models) > 1 else [])

    # the 12 Mpx photo: the group photo upscaled to 4000x3000 (camera size), faces and all
    photo_ms = {}  # the default detector's, by width
    for name in DETECTORS:
        r = rec if name == "blazeface" else load(args.model, threads=args.threads,
                                                 detector=name)
        for image in (group, group.resize((4000, 3000), resample=3)):
            rgb = np.asarray(image)
            detect = timed(lambda rgb=rgb, r=r: r.detector.detect(rgb), 20)
            full = timed(lambda rgb=rgb, r=r: r.predict(rgb), 20)
            emit(kind="group_photo", image=f"multi_face.jpg {image.width}x{image.height}",
                 detector=name, detect_ms=round(detect * 1e3, 1),
                 detect_classify_ms=round(full * 1e3, 1), faces=len(r.predict(rgb)), device=cpu)
            if name == "blazeface":
                photo_ms[image.width] = full * 1e3
    targets(comparisons[0] if comparisons else None, photo_ms, model, cpu)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "group_12mpx.jpg"
        group.resize((4000, 3000), resample=3).save(path, quality=90)
        decode = timed(lambda: open_image(path), 10)
        file = timed(lambda: rec.predict(path), 10)
        emit(kind="photo_file", image="multi_face.jpg 4000x3000 JPEG q90",
             decode_full_ms=round(decode * 1e3, 1), predict_path_ms=round(file * 1e3, 1),
             decoded_at=list(rec.read(path).size), faces=len(rec.predict(path)), device=cpu)
        files = [path] * 24  # a folder of camera photos: the next one decoded meanwhile
        folder = timed(lambda: list(rec.predict_many(files)), 3)
        emit(kind="photo_folder", image="multi_face.jpg 4000x3000 JPEG q90", photos=len(files),
             photos_per_s=round(len(files) / folder, 1), device=cpu)

    video_speed(rec, group, cpu)

    for name in sorted(os.listdir(PHOTOS)):
        faces = rec.predict(PHOTOS / name)
        emit(kind="photos", image=name, faces=len(faces), labels=[f.label for f in faces],
             confidence=[round(f.confidence, 3) for f in faces])

    cold = [run_cli("predict", "--model", model, str(PHOTOS / "single_face.jpg"))[0]
            for _ in range(5)]
    code = "import sys, ferkit.cli; ferkit.cli.main(sys.argv[1:]); print('torch' in sys.modules)"
    torch_loaded = subprocess.run(
        [sys.executable, "-c", code, "predict", "--model", model, str(PHOTOS / "single_face.jpg")],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    ).stdout.strip().endswith("True")
    emit(kind="predict_cold", seconds_median=round(statistics.median(cold), 3),
         seconds_min=round(min(cold), 3), imports_torch=torch_loaded, device=cpu)

    with tempfile.TemporaryDirectory() as tmp:
        for n in (1000,) + (() if args.skip_10k else (10000,)):
            folder = link_folder(fer_files(n), Path(tmp) / f"f{n}")
            out = Path(tmp) / f"r{n}.csv"
            seconds, rss, _ = run_cli("predict", "--model", model, str(folder), "--no-detect",
                                      "--quiet", "--output", str(out))
            rows = sum(1 for _ in out.open()) - 1
            emit(kind="folder_no_detect", images=n, rows=rows, seconds=round(seconds, 2),
                 images_per_s=round(n / seconds), peak_rss_mb=rss, device=cpu)


if __name__ == "__main__":
    main()
