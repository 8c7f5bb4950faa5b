"""The page in a real browser: headless Chromium, a fake webcam showing a smiling face, and an
upload. Needs Debian's chromium and chromium-driver (.ci/run installs them)."""

import csv
import re
import shutil
import ssl
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import PHOTOS, ROOT, free_port, requires_photos, start_server
from PIL import Image

pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'ferkit[serve]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the dev extra)")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)")

ASTRONAUT = ROOT / "photos" / "astronaut.png"
ELSEWHERE = "ferkit.test"


def write_y4m(image: Path, out: Path, frames: int = 10, fps: int = 10) -> Path:
    """A raw YUV 4:2:0 clip (the y4m format Chromium's fake camera plays, at `fps`) of one
    photo."""
    rgb = np.asarray(Image.open(image).convert("RGB"), np.float32)
    h, w = (s - s % 2 for s in rgb.shape[:2])
    r, g, b = (rgb[:h, :w, i] for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b  # full-range BT.601 (C420jpeg)
    u = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    v = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    sub = lambda c: c.reshape(h // 2, 2, w // 2, 2).mean((1, 3))  # noqa: E731
    planes = b"".join(np.clip(p + 0.5, 0, 255).astype(np.uint8).tobytes()
                      for p in (y, sub(u), sub(v)))
    with open(out, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + planes)
    return out


@pytest.fixture(scope="module")
def server(live_server):
    return live_server


def chrome(clip: Path, mobile: dict | None = None):
    """Headless Chromium whose webcam plays `clip` (the driver path given: no download);
    `mobile`: chromedriver's mobileEmulation (a phone's screen and browser)."""
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    if mobile:
        options.add_experimental_option("mobileEmulation", mobile)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--use-fake-ui-for-media-stream",
                 "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-video-capture={clip.resolve()}",
                 # a name that is not this machine's own address, for the HTTPS tests
                 f"--host-resolver-rules=MAP {ELSEWHERE} 127.0.0.1",
                 "--ignore-certificate-errors"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = chrome(write_y4m(ASTRONAUT, tmp_path_factory.mktemp("camera") / "smile.y4m"))
    yield driver
    driver.quit()


def wait(driver, script: str, timeout: float = 30):
    """Poll a JavaScript expression until it is truthy; returns its value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {script}: "
                         f"{driver.execute_script('return document.body.innerText')}")


def face_labels(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('.face-label')].map(e => e.textContent)")


def test_upload_shows_the_face_and_its_expression(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server)
    wait(browser, "document.getElementById('legend').children.length === 7")
    browser.find_element(By.ID, "file").send_keys(str(ASTRONAUT.resolve()))
    wait(browser, "document.querySelectorAll('.face-label').length > 0")
    labels = face_labels(browser)
    assert len(labels) == 1 and labels[0].startswith("Face 1: HAPPY"), labels
    bars = browser.find_elements(By.CSS_SELECTOR, ".face .bar")
    assert len(bars) == 7
    assert "astronaut.png: 1 face(s)" in browser.find_element(By.ID, "status").text
    # a phone's HEIC: the server reads it; Chromium cannot show it, so the boxes go on grey
    browser.find_element(By.ID, "file").send_keys(
        str((ROOT / "tests" / "data" / "astronaut_sideways.heic").resolve()))
    wait(browser, "document.getElementById('status').textContent.includes('sideways.heic: 1')")
    assert face_labels(browser)[0].startswith("Face 1: HAPPY")
    assert "cannot show the photo itself" in browser.find_element(By.ID, "status").text


def test_the_webcam_shows_happy_for_a_smiling_face(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(server)
    wait(browser, "document.getElementById('legend').children.length === 7")
    browser.find_element(By.ID, "camera").click()
    wait(browser, "window.ferkitStats.frames >= 5")
    stats = browser.execute_script("return window.ferkitStats")
    # every frame of the clip is the smiling astronaut: one face, HAPPY
    assert all(labels == ["happy"] for labels in stats["labels"]), stats["labels"]
    # shown as a mirror: her face, left of the photo's centre, is right of the view's
    assert all(0.5 < centres[0] < 0.7 for centres in stats["centres"]), stats["centres"]
    # the rate counts since the webcam started, not over the last 2 s at once
    rate = re.search(r"([\d.]+) frames/s", browser.find_element(By.ID, "status").text)
    assert float(rate.group(1)) >= 1.5, rate.string
    assert "ms camera to label" in rate.string
    assert face_labels(browser)[0].startswith("Face 1: HAPPY")
    assert stats["errors"] == 0 and stats["transport"] == "ws"
    assert len(stats["latencies"]) == stats["frames"] and min(stats["latencies"]) > 0
    chart = browser.execute_script(
        "const c = document.querySelector('#charts canvas');"
        "return [...c.getContext('2d').getImageData(0, 0, c.width, c.height).data]"
        ".filter((v, i) => i % 4 === 3 && v > 0).length")
    assert chart > 100  # lines have been drawn
    browser.save_screenshot(str(tmp_path / "page.png"))
    browser.find_element(By.ID, "camera").click()
    assert "Start" in browser.find_element(By.ID, "camera").text


STEADY_SCRIPT = """
const face = (happy, x) => ({ box: [x, 0, x + 100, 100], label: happy > 0.5 ? "happy" : "neutral",
                              confidence: Math.max(happy, 1 - happy),
                              probs: { happy, neutral: 1 - happy } });
const labels = [];
// an unsure face, happy every third frame, beside a sure one; a frame every `gap` ms
const [gap, start] = arguments;
for (let i = 0; i < 15; i++) {
  const result = { faces: [face(i % 3 === 2 ? 0.6 : 0.35, 0), face(0.9, 300)] };
  labels.push(window.ferkitSmooth(result, start + i * gap).faces
              .map((f) => [f.label, f.id]));
}
return labels;
"""


def test_steady_labels_average_each_webcam_face_over_time(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server)
    wait(browser, "document.getElementById('legend').children.length === 7")
    for start, gap in ((1e6, 200), (2e6, 40)):  # 5 and 25 frames/s: steady at either rate
        steady = browser.execute_script(STEADY_SCRIPT, gap, start)
        assert [labels[0][0] for labels in steady] == ["neutral"] * 15, (gap, steady)
        # its neighbour's stay its own; each face keeps its id from frame to frame
        assert [labels[1][0] for labels in steady] == ["happy"] * 15
        assert len({labels[0][1] for labels in steady}) == 1
        assert len({labels[1][1] for labels in steady}) == 1
        assert steady[0][0][1] != steady[0][1][1]
    browser.find_element(By.ID, "steady").click()  # off: each frame on its own
    raw = browser.execute_script(STEADY_SCRIPT, 200, 3e6)
    assert [labels[0][0] for labels in raw].count("happy") == 5, raw


def test_the_api_docs_render_offline(server, browser):
    # FastAPI's own /docs and /redoc load their scripts from a CDN: offline, a blank page
    browser.get(f"{server}/docs")
    wait(browser, "document.querySelectorAll('.opblock-summary-path').length >= 4")
    paths = browser.execute_script(
        "return [...document.querySelectorAll('.opblock-summary-path')].map(e => e.innerText)")
    assert {"/predict", "/predict/batch", "/health", "/model"} <= set(paths), paths
    assert "ferkit" in browser.find_element("css selector", ".info .title").text
    browser.get(f"{server}/redoc")
    wait(browser, "document.body.innerText.includes('/predict/batch')")


def test_the_webcam_needs_https_from_another_machine_and_works_over_it(server, browser,
                                                                      tmp_path):
    trustme = pytest.importorskip("trustme", reason="needs trustme (the dev extra)")
    from selenium.webdriver.common.by import By

    # from another machine, over plain HTTP, the browser hides the camera: say what to do
    browser.get(server.replace("127.0.0.1", ELSEWHERE))
    wait(browser, "document.getElementById('legend').children.length === 7")
    browser.find_element(By.ID, "camera").click()
    assert "--ssl-certfile" in wait(
        browser, "document.getElementById('status').textContent.includes('secure page') && "
                 "document.getElementById('status').textContent")
    ca = trustme.CA()
    cert = ca.issue_cert(ELSEWHERE, "127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    proc, url = start_server("--ssl-certfile", str(tmp_path / "cert.pem"),
                             "--ssl-keyfile", str(tmp_path / "key.pem"),
                             scheme="https", context=context)
    try:
        browser.get(url.replace("127.0.0.1", ELSEWHERE))
        wait(browser, "document.getElementById('legend').children.length === 7")
        browser.find_element(By.ID, "camera").click()
        wait(browser, "window.ferkitStats.frames >= 3")
        assert face_labels(browser)[0].startswith("Face 1: HAPPY")
    finally:
        proc.terminate()
        proc.wait(10)


def test_an_annotated_video_plays_in_the_browser(server, browser, tmp_path):
    """What `ferkit video --annotate` writes (H.264) plays in a <video>; OpenCV's own mp4v
    would not ("no supported streams")."""
    pytest.importorskip("av", reason="needs PyAV (ferkit[video])")
    import base64

    from ferkit.video.writer import VideoWriter

    rgb = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    with VideoWriter(tmp_path / "boxed.mp4", 10) as writer:
        for _ in range(10):
            writer.write(rgb)
    browser.get(server)
    played = browser.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const video = document.createElement("video");
        video.muted = true;
        video.src = URL.createObjectURL(new Blob([bytes], { type: "video/mp4" }));
        return await new Promise((done) => {
          video.onloadeddata = () => done([video.videoWidth, video.videoHeight]);
          video.onerror = () => done(video.error.message);
        });""", base64.b64encode((tmp_path / "boxed.mp4").read_bytes()).decode())
    assert played == [512, 512], played


FETCH_SCRIPT = """
return await fetch(arguments[0], { headers: { "Authorization": "Bearer abc" } })
  .then((r) => r.json()).then((j) => j.status, (e) => `blocked: ${e.message}`);
"""


def test_a_page_elsewhere_reads_the_api_only_with_cors(server, browser):
    browser.get(server)  # a page at http://127.0.0.1:PORT, another origin than ferkit.test
    elsewhere = server.replace("127.0.0.1", ELSEWHERE)
    assert browser.execute_script(FETCH_SCRIPT, f"{elsewhere}/health").startswith("blocked")
    proc, url = start_server("--cors", server, "--token", "abc")
    try:
        answer = browser.execute_script(FETCH_SCRIPT,
                                        f"{url.replace('127.0.0.1', ELSEWHERE)}/health")
        assert answer == "ok", answer
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_video_file_plays_in_the_page_with_labels_on_its_frames(server, browser, tmp_path):
    pytest.importorskip("av", reason="needs PyAV (ferkit[video]) to make the clip")
    from selenium.webdriver.common.by import By

    from ferkit.video.writer import VideoWriter

    rgb = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    with VideoWriter(tmp_path / "smile.mp4", 10) as writer:
        for _ in range(30):  # 3 s
            writer.write(rgb)
    browser.get(server)
    wait(browser, "document.getElementById('legend').children.length === 7")
    browser.find_element(By.ID, "file").send_keys(str(tmp_path / "smile.mp4"))
    wait(browser, "window.ferkitStats.frames >= 3")
    assert "Stop the video" in browser.find_element(By.ID, "camera").text
    assert all(labels == ["happy"] for labels in browser.execute_script(
        "return window.ferkitStats.labels")), "every frame shows the smiling astronaut"
    # a video file is shown as it is, not mirrored like the webcam: her face left of centre
    assert all(0.3 < centres[0] < 0.5 for centres in browser.execute_script(
        "return window.ferkitStats.centres"))
    assert face_labels(browser)[0].startswith("Face 1: HAPPY")
    wait(browser, "document.getElementById('status').textContent.includes('played to the end')")
    assert "Start the webcam" in browser.find_element(By.ID, "camera").text


def test_a_photo_with_only_small_faces_offers_to_look_for_them(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    canvas = Image.new("RGB", (2400, 1800), (120, 140, 160))
    canvas.paste(Image.open(ASTRONAUT).convert("RGB").resize((300, 300)), (1200, 700))
    canvas.save(tmp_path / "wide.jpg")  # her face: 4% of the picture
    browser.get(server)
    wait(browser, "document.getElementById('legend').children.length === 7")
    browser.find_element(By.ID, "file").send_keys(str(tmp_path / "wide.jpg"))
    status = wait(browser, "document.getElementById('status').textContent.includes('wide.jpg:')"
                           " && document.getElementById('status').textContent")
    assert "0 face(s)" in status and "looked for on request" in status, status
    browser.find_element(By.ID, "smaller").click()  # the same photo, faces down to 40 px
    wait(browser, "document.querySelectorAll('.face-label').length > 0")
    assert face_labels(browser)[0].startswith("Face 1: HAPPY")
    assert "wide.jpg: 1 face(s)" in browser.find_element(By.ID, "status").text
    assert not browser.find_element(By.ID, "smaller").is_displayed()


def test_why_shows_where_the_expression_was_read_from(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server)
    wait(browser, "document.getElementById('legend').children.length === 7")
    assert not browser.find_element(By.ID, "why").is_displayed()
    browser.find_element(By.ID, "file").send_keys(str(ASTRONAUT.resolve()))
    wait(browser, "document.getElementById('status').textContent.includes('astronaut.png: 1')")
    browser.find_element(By.ID, "why").click()
    width = wait(browser, "!document.getElementById('explained').hidden && "
                          "document.getElementById('explained-img').naturalWidth")
    # the server's picture: the face, then its two most likely expressions
    shown = browser.find_element(By.ID, "explained-img").size["width"]
    assert width > 600 and 0 < shown <= 1280, (width, shown)
    assert "red, the parts" in browser.find_element(By.ID, "status").text
    assert not browser.find_element(By.ID, "why").is_displayed()
    browser.find_element(By.ID, "camera").click()
    wait(browser, "window.ferkitStats.frames >= 1")
    assert not browser.find_element(By.ID, "explained").is_displayed()
    # the webcam: its last frame with a face is explained, and the webcam goes on
    wait(browser, "!document.getElementById('why').hidden")
    browser.execute_script("document.getElementById('explained-img').removeAttribute('src')")
    frames = browser.execute_script("return window.ferkitStats.frames")
    browser.find_element(By.ID, "why").click()
    wait(browser, "!document.getElementById('explained').hidden && "
                  "document.getElementById('explained-img').naturalWidth > 600")
    wait(browser, f"window.ferkitStats.frames > {frames}")
    assert "Stop the webcam" in browser.find_element(By.ID, "camera").text
    browser.find_element(By.ID, "camera").click()
    # stopped: the frame left on screen is the one explained, not the photo before it
    wait(browser, "!document.getElementById('why').hidden")
    browser.find_element(By.ID, "why").click()
    wait(browser, "document.getElementById('status').textContent"
                  ".startsWith('webcam frame.jpg: red')")


def test_the_webcam_session_is_saved_as_csv(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.execute_cdp_cmd("Page.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.get(server)
    wait(browser, "document.getElementById('legend').children.length === 7")
    assert not browser.find_element(By.ID, "save").is_displayed()  # nothing recorded yet
    browser.find_element(By.ID, "camera").click()
    wait(browser, "window.ferkitStats.frames >= 3")
    browser.find_element(By.ID, "camera").click()
    frames = browser.execute_script("return window.ferkitStats.frames")
    browser.find_element(By.ID, "save").click()
    deadline = time.time() + 10
    while not list(tmp_path.glob("ferkit-*.csv")) and time.time() < deadline:
        time.sleep(0.1)
    [saved] = tmp_path.glob("ferkit-*.csv")
    rows = list(csv.DictReader(saved.read_text().splitlines()))
    from ferkit.io.records import video_columns

    # the rows `ferkit video --output x.csv` writes
    assert list(rows[0]) == video_columns(["angry", "disgust", "fear", "happy", "neutral",
                                           "sad", "surprise"])
    assert len(rows) == frames and {row["label"] for row in rows} == {"happy"}
    assert {(row["video"], row["face"], row["face_id"]) for row in rows} == {("webcam", "1",
                                                                              "1")}
    times = [float(row["time_s"]) for row in rows]
    assert times[0] == 0 and times == sorted(times) and times[-1] > 0
    probs = [sum(float(row[c]) for c in list(row)[15:22]) for row in rows]
    assert all(abs(p - 1) < 0.01 for p in probs)


def test_a_photo_dropped_while_the_webcam_runs_stops_it_and_stays(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server)
    wait(browser, "document.getElementById('legend').children.length === 7")
    browser.find_element(By.ID, "camera").click()
    wait(browser, "window.ferkitStats.frames >= 1")
    browser.find_element(By.ID, "file").send_keys(str(ASTRONAUT.resolve()))
    wait(browser, "document.getElementById('status').textContent.includes('astronaut.png: 1')")
    frames = browser.execute_script("return window.ferkitStats.frames")
    time.sleep(1)  # a second of webcam frames: none comes
    assert browser.execute_script("return window.ferkitStats.frames") == frames
    assert "astronaut.png: 1" in browser.find_element(By.ID, "status").text
    assert "Start the webcam" in browser.find_element(By.ID, "camera").text


@requires_photos
def test_the_webcam_runs_at_camera_speed_with_a_chart_per_face(server, tmp_path):
    """The group photo (five faces) as a 30 frames/s camera: labels come faster than the old
    fixed 5 frames/s, each face keeps its id and has its own chart; over plain HTTP too."""
    from selenium.webdriver.common.by import By

    clip = write_y4m(PHOTOS / "multi_face.jpg", tmp_path / "group.y4m", frames=30, fps=30)
    driver = chrome(clip)
    try:
        for transport in ("ws", "http"):
            driver.get(server + ("?transport=http" if transport == "http" else ""))
            wait(driver, "document.getElementById('legend').children.length === 7")
            driver.find_element(By.ID, "camera").click()
            wait(driver, "window.ferkitStats.frames >= 3")
            start = driver.execute_script("return [window.ferkitStats.frames, performance.now()]")
            time.sleep(3)
            stats = driver.execute_script("return window.ferkitStats")
            now = driver.execute_script("return performance.now()")
            rate = (stats["frames"] - start[0]) / ((now - start[1]) / 1000)
            assert rate > 5, (transport, rate)  # the old page: one frame every 200 ms
            assert stats["transport"] == transport and stats["errors"] == 0
            assert all(len(labels) == 5 for labels in stats["labels"][-5:]), stats["labels"]
            charts = driver.execute_script(
                "return [...document.querySelectorAll('#charts figcaption')]"
                ".map(e => e.textContent)")
            assert charts == [f"Face #{i}" for i in range(1, 6)], charts  # the same 5 faces
            assert stats["cameraFrames"] >= stats["frames"]
            driver.find_element(By.ID, "camera").click()
    finally:
        driver.quit()


def test_the_webcam_goes_on_over_http_when_its_websocket_goes(tmp_path):
    """The server restarts under the page: the socket is gone, the page says so once and
    sends its frames as POST /predict from then on."""
    from selenium.webdriver.common.by import By

    port = free_port()
    proc, url = start_server(port=port)
    driver = chrome(write_y4m(ASTRONAUT, tmp_path / "smile.y4m"))
    try:
        driver.get(url)
        wait(driver, "document.getElementById('legend').children.length === 7")
        driver.find_element(By.ID, "camera").click()
        wait(driver, "window.ferkitStats.frames >= 3")
        assert driver.execute_script("return window.ferkitStats.transport") == "ws"
        proc.terminate()
        proc.wait(10)
        proc, _ = start_server(port=port)
        frames = driver.execute_script("return window.ferkitStats.frames")
        wait(driver, f"window.ferkitStats.frames >= {frames + 3}")
        assert driver.execute_script("return window.ferkitStats.transport") == "http"
        assert face_labels(driver)[0].startswith("Face 1: HAPPY")
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(10)


PHONE = {"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3.0, "touch": True},
         "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, "
                      "like Gecko) Chrome/131.0 Mobile Safari/537.36"}


def test_on_a_phone_sized_screen_the_page_fits_and_the_front_camera_works(server, tmp_path):
    """A phone's screen (390x844 CSS pixels, touch, a phone's browser): nothing wider than the
    screen, the picture and its faces one above the other, and the webcam labels a face."""
    from selenium.webdriver.common.by import By

    driver = chrome(write_y4m(ASTRONAUT, tmp_path / "smile.y4m"), mobile=PHONE)
    try:
        driver.get(server)
        wait(driver, "document.getElementById('legend').children.length === 7")
        assert driver.execute_script("return window.innerWidth") == 390
        driver.find_element(By.ID, "camera").click()
        wait(driver, "window.ferkitStats.frames >= 3")
        assert face_labels(driver)[0].startswith("Face 1: HAPPY")
        overflow = driver.execute_script(
            "return [...document.querySelectorAll('body *')].filter(e => e.offsetParent !== null"
            " && e.getBoundingClientRect().right > window.innerWidth + 0.5)"
            ".map(e => e.tagName + '#' + e.id + '.' + e.className)")
        assert overflow == [], overflow
        assert driver.execute_script(
            "return document.documentElement.scrollWidth") <= 390
        view, aside = (driver.find_element(By.CSS_SELECTOR, s).rect for s in ("#view", "aside"))
        assert aside["y"] >= view["y"] + view["height"]  # below the picture, not squeezed
        assert view["width"] >= 300  # the picture takes the screen's width
        driver.save_screenshot(str(tmp_path / "phone.png"))
    finally:
        driver.quit()
