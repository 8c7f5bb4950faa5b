"""Ray Data against the local CLI on one machine, to estimate scaling to N nodes.

    python bench/ray_scale.py [--data ../shared/fer2013/train] [--actors 1 2]

Prints JSON lines: the local CLI's images/s on the crops (`--no-detect`), Ray's with 1 and 2
actors (end to end, start-up included, and without the fixed cost), whether every label
equals the CLI's, the start-up of a local Ray, the fixed cost of a job (actors started, model
loaded, pipeline filled and drained: a one-image job on a started Ray), and each actor's RSS.
"""

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import FER, ROOT, device_name, emit, require


def cli(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ferkit", "predict", *args], check=True,
                   stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - t0


def labels(path: Path) -> dict[str, str]:
    with open(path) as f:
        return {row["image"]: row["label"] for row in csv.DictReader(f)}


def actor_rss_mb() -> list[float]:
    """RSS of the processes Ray titled as Ray Data's map workers."""
    out = []
    for proc in Path("/proc").iterdir():
        try:
            if b"MapWorker" in (proc / "cmdline").read_bytes():
                status = (proc / "status").read_text()
                kb = next(int(line.split()[1]) for line in status.splitlines()
                          if line.startswith("VmRSS:"))
                out.append(round(kb / 1024, 1))
        except (OSError, StopIteration):
            continue
    return out


def in_process(data: Path, actors: list[int]) -> None:
    """Start-up, fixed cost and RSS inside one process (Ray started once)."""
    t0 = time.perf_counter()
    import ferkit.ray as fray

    fray.start(num_cpus=None)
    emit(test="local ray start-up", seconds=round(time.perf_counter() - t0, 2),
         device=device_name())
    one = [str(next(data.rglob("*.jpg")))]
    for n in actors:
        t0 = time.perf_counter()
        list(fray.predict_images(one, actors=n, detect=False, progress=False))
        emit(test="fixed cost per job", actors=n, seconds=round(time.perf_counter() - t0, 2),
             device=device_name())
    import threading

    rss: list[list[float]] = []
    stop = threading.Event()

    def sample():
        while not stop.wait(0.5):
            rss.append(actor_rss_mb())

    sampler = threading.Thread(target=sample)
    sampler.start()
    list(fray.predict_images([str(data)], actors=max(actors), detect=False, progress=False))
    stop.set()
    sampler.join()
    peak = max(rss, key=sum, default=[])
    emit(test="actor memory", actors=max(actors), rss_mb_per_actor=peak, device=device_name())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=FER / "train")
    p.add_argument("--actors", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    require(args.data)
    n = sum(1 for _ in args.data.rglob("*.jpg"))
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "local.csv"
        seconds = cli([str(args.data), "--no-detect", "--quiet", "--output", str(local)])
        local_rate = n / seconds
        emit(test="local CLI", images=n, seconds=round(seconds, 1),
             images_per_s=round(local_rate), device=device_name())
        expected = labels(local)
        for actors in args.actors:
            out = Path(tmp) / f"ray{actors}.csv"
            seconds = cli([str(args.data), "--no-detect", "--ray", "--actors", str(actors),
                           "--output", str(out)])
            emit(test="ray", actors=actors, images=n, seconds=round(seconds, 1),
                 images_per_s=round(n / seconds),
                 share_of_local=round(n / seconds / local_rate, 3),
                 labels_identical=labels(out) == expected, device=device_name())
    in_process(args.data, args.actors)


if __name__ == "__main__":
    main()
