import contextlib
import http.server
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from ferkit.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FERKIT_SHARED", ROOT.parent / "shared"))
CLASSES = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def requires(path: Path):
    return pytest.mark.skipif(not path.exists(), reason=f"needs {path} (the team's shared data)")


requires_fer = requires(SHARED / "fer2013")
requires_weights = requires(SHARED / "weights" / "mobilenet_v2_imagenet_fp16.pth")
requires_photos = requires(SHARED / "photos")
PHOTOS = SHARED / "photos"
# faces in each of ../shared/photos, for every detector
FACES_IN_PHOTOS = {"astronaut.png": 1, "single_face.jpg": 1, "multi_face.jpg": 5,
                   "landscape_no_face.jpg": 0}


def face_like(seed: int, size: int = 48) -> np.ndarray:
    """A grey image with structure (gradients, blobs), so flips and rotations change it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = 80 + 100 * xx + 40 * np.sin(6 * yy + seed)
    cy, cx = rng.uniform(0.2, 0.8, 2)
    img += 60 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.01)
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)


def make_dataset(root: Path, per_class: int = 4, classes=CLASSES, splits=("train", "test")):
    for s, split in enumerate(splits):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                seed = 1000 * s + 100 * c + i
                Image.fromarray(face_like(seed)).save(folder / f"{i}.jpg")
    return root


def calibration_folder(root: Path) -> Path:
    """40 synthetic faces in happy/ and sad/, and one broken file."""
    for i in range(40):
        folder = root / ("happy" if i % 2 else "sad")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(face_like(i)).save(folder / f"{i}.png")
    (root / "sad" / "broken.jpg").write_text("not an image")
    return root


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    """data/{train,test}/<7 classes>/*.jpg, 4 synthetic 48x48 images each."""
    return make_dataset(tmp_path / "data")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint trained for one epoch on synthetic data (32px, no pretraining)."""
    root = tmp_path_factory.mktemp("trained")
    data = make_dataset(root / "data")
    train(data, root / "out", "--img-size", "32", "--pretrained", "none", "--batch-size", "8")
    return root / "out" / "best_model.pth"


@pytest.fixture(scope="session")
def tiny_onnx(tiny_checkpoint) -> Path:
    out = tiny_checkpoint.with_name("model.onnx")
    r = ferkit("export", "--model", str(tiny_checkpoint), "--output", str(out))
    assert r.returncode == 0, r.stderr
    return out


def train(data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    r = ferkit(
        "train", "--data", str(data), "--output-dir", str(out), "--epochs", "1",
        "--cache-dir", "none", "--no-progress", *extra,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def run(*args: str, cwd: Path = ROOT, env: dict | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a python command line as a user would (stdin closed, outputs captured)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **(env or {})}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=full_env,
        stdin=subprocess.DEVNULL, timeout=timeout,
    )


def ferkit(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`ferkit ARGS` run in this process by the entry point `python -m ferkit` calls: its exit
    status and what it printed (stdin empty, as a closed one, and never a terminal)."""
    out, err = io.StringIO(), io.StringIO()
    empty = io.TextIOWrapper(io.BytesIO(b""))
    with (contextlib.chdir(cwd), contextlib.redirect_stdout(out),
          contextlib.redirect_stderr(err), mock.patch.object(sys, "stdin", empty)):
        try:
            code = cli_main(list(args))
        except SystemExit as e:  # --help, --version
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
    return subprocess.CompletedProcess(["ferkit", *args], code, out.getvalue(), err.getvalue())


def ferkit_process(*args: str, **kw) -> subprocess.CompletedProcess:
    """`python -m ferkit ARGS` in a process of its own: for what one process cannot show
    (what gets imported, signals, a server that listens, native output on the descriptors)."""
    return run("-m", "ferkit", *args, **kw)


def ferkit_without(module: str, *args: str) -> subprocess.CompletedProcess:
    """`ferkit ARGS` in a Python where `module` cannot be imported (as if not installed)."""
    code = (f"import sys; sys.modules[{module!r}] = None; from ferkit.cli import main; "
            f"sys.exit(main({list(args)!r}))")
    return run("-c", code)


def assert_user_error(r: subprocess.CompletedProcess, fragment: str) -> None:
    """Exit status 2, one `error:` line naming the problem, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in r.stderr


FER2013_ORDER = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]  # CSV 0..6


def write_fer_csv(path: Path, per_class: dict[str, int], bad_rows: list[str] = ()) -> Path:
    """A fer2013.csv (`emotion,pixels,Usage`): per_class rows of each of the 7 labels for
    each usage, made of synthetic faces, then `bad_rows` as given."""
    lines = ["emotion,pixels,Usage"]
    for u, (usage, n) in enumerate(per_class.items()):
        for label in range(7):
            for i in range(n):
                pixels = " ".join(map(str, face_like(10_000 * u + 100 * label + i).ravel()))
                lines.append(f"{label},{pixels},{usage}")
    lines += bad_rows
    path.write_text("\n".join(lines) + "\n")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalHTTPServer(http.server.ThreadingHTTPServer):
    """A test's HTTP server on 127.0.0.1 that stays quiet when a client hangs up mid-answer
    (as a video reader does once it has its frames); any other error is still printed."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def live_server():
    """`ferkit serve` with its defaults (a 20 MB upload limit), on a port of 127.0.0.1."""
    proc, url = start_server()
    yield url
    proc.terminate()
    proc.wait(10)


def start_server(*args: str, scheme: str = "http", context=None, port: int | None = None):
    """`ferkit serve` on a free port (or `port`); its process and its URL once /health
    answers."""
    port = port or free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "ferkit", "serve", "--port", str(port), *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    url = f"{scheme}://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=1, context=context)
            return proc, url
        except OSError:
            assert proc.poll() is None, proc.stderr.read()
            assert time.time() < deadline, "the server did not start"
            time.sleep(0.2)
