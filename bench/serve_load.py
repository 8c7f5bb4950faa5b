"""A bounded closed-loop load on `ferkit serve`, on 127.0.0.1 only.

    python bench/serve_load.py [--clients 4 8] [--seconds 20] [--image PHOTO] [--model fp32]
    python bench/serve_load.py --page [--transport ws http] [--camera-fps 30] [--image PHOTO]

Starts the server (one process, as `ferkit serve` does), then N clients each send the image
(a raw image/jpeg body) and wait for the answer, again and again for T seconds. Prints
requests/s, p50/p99 latency, errors and the server's RSS before and after, as JSON lines.

--page: the webcam page in headless Chromium, its fake camera showing PHOTO (default
photos/astronaut.png) at --camera-fps, frames sent over each --transport (ws: /ws, one
WebSocket; http: a POST /predict per frame). After 3 s of warm-up, over --seconds: frames
labelled per second, camera frames per second, frames dropped (camera frames never sent:
the page sends the newest frame once the last one's labels are drawn), and camera-to-label
time per frame (from the frame's capture to its labels drawn: median and p95).
"""

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from _common import ROOT, SHARED, device_name, emit

DEFAULT_IMAGE = SHARED / "photos" / "single_face.jpg"


def start_server(*extra: str) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "ferkit", "serve", "--port", str(port),
                             *extra], env=env, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc, port
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                sys.exit("error: the server did not start")
            time.sleep(0.2)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load(port: int, body: bytes, clients: int, seconds: float) -> dict:
    latencies, errors = [], []
    stop = time.perf_counter() + seconds

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/predict", body, {"Content-Type": "image/jpeg"})
                r = conn.getresponse()
                r.read()
                (latencies if r.status == 200 else errors).append(time.perf_counter() - t0)
            except OSError as e:
                errors.append(str(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    pick = lambda q: round(1e3 * latencies[min(int(q * len(latencies)), len(latencies) - 1)], 1)  # noqa: E731
    return dict(requests=len(latencies), errors=len(errors),
                requests_per_s=round(len(latencies) / elapsed, 1),
                p50_ms=pick(0.5) if latencies else None, p99_ms=pick(0.99) if latencies else None)


def page(port: int, seconds: float, image: Path, transport: str, camera_fps: int) -> dict:
    """The webcam page's frame rate, dropped frames and camera-to-label time."""
    sys.path.insert(0, str(ROOT / "tests"))
    import tempfile

    from selenium.webdriver.common.by import By
    from test_serve_browser import chrome, write_y4m

    query = "?transport=http" if transport == "http" else ""
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_y4m(image, Path(tmp) / "camera.y4m", frames=camera_fps, fps=camera_fps)
        driver = chrome(clip)
        try:
            driver.get(f"http://127.0.0.1:{port}/{query}")
            time.sleep(1)
            driver.find_element(By.ID, "camera").click()
            time.sleep(3)  # warm-up: the socket, the first frames
            before = driver.execute_script("return window.ferkitStats")
            time.sleep(seconds)
            after = driver.execute_script("return window.ferkitStats")
            if os.environ.get("SCREENSHOT"):
                driver.save_screenshot(os.environ["SCREENSHOT"])
        finally:
            driver.quit()
    frames = after["frames"] - before["frames"]
    camera = after["cameraFrames"] - before["cameraFrames"]
    latencies = sorted(after["latencies"][before["frames"]:after["frames"]])
    pick = lambda q: round(latencies[min(int(q * len(latencies)), len(latencies) - 1)], 1)  # noqa: E731
    first = after["firstLabelAt"] - after["cameraStartedAt"] if after["firstLabelAt"] else None
    return dict(transport=after["transport"], camera_fps=camera_fps,
                first_labelled_frame_s=round(first / 1e3, 2) if first else None,
                frames=frames, frames_per_s=round(frames / seconds, 1),
                camera_frames_per_s=round(camera / seconds, 1),
                dropped=camera - frames, dropped_share=round(1 - frames / camera, 3)
                if camera else None,
                camera_to_label_median_ms=pick(0.5) if latencies else None,
                camera_to_label_p95_ms=pick(0.95) if latencies else None,
                errors=after["errors"] - before["errors"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, nargs="+", default=[4, 8])
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--image", type=Path,
                   help=f"the photo sent (default {DEFAULT_IMAGE.name}; --page: the camera "
                        "shows it, default photos/astronaut.png)")
    p.add_argument("--page", action="store_true", help="measure the webcam page instead")
    p.add_argument("--transport", nargs="+", choices=["ws", "http"], default=["ws", "http"],
                   help="--page: how the page sends its frames")
    p.add_argument("--camera-fps", type=int, default=30, help="--page: the fake camera's rate")
    p.add_argument("--model", help="what the server serves (default: its default, int8)")
    args = p.parse_args()
    proc, port = start_server(*(["--model", args.model] if args.model else []))
    try:
        if args.page:
            image = args.image or ROOT / "photos" / "astronaut.png"
            for transport in args.transport:
                emit(test="webcam page", image=image.name, seconds=args.seconds,
                     **page(port, args.seconds, image, transport, args.camera_fps),
                     device=device_name())
            return
        args.image = args.image or DEFAULT_IMAGE
        body = args.image.read_bytes()
        load(port, body, 2, 2)  # warm-up
        for clients in args.clients:
            before = rss_mb(proc.pid)
            result = load(port, body, clients, args.seconds)
            emit(image=args.image.name, model=args.model or "int8", clients=clients,
                 seconds=args.seconds, **result,
                 rss_before_mb=round(before, 1), rss_after_mb=round(rss_mb(proc.pid), 1),
                 device=device_name())
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
