"""`ferkit serve`: every route, every error, concurrency and overload, in-process."""

import io
import json
import re
import socket
import threading
import time

import numpy as np
import pytest
from conftest import ROOT, assert_user_error, ferkit, free_port, run, start_server
from PIL import Image

pytest.importorskip("fastapi", reason="needs the serve extra: pip install 'ferkit[serve]'")
from fastapi.testclient import TestClient  # noqa: E402

from ferkit import load  # noqa: E402
from ferkit.detection import DEFAULT_DETECTOR  # noqa: E402
from ferkit.recognition.explanation import explain, explanation_figure  # noqa: E402
from ferkit.recognition.recognizer import (
    BUNDLED_FP32_CARD,
    BUNDLED_FP32_SHA256,
    BUNDLED_INT8_CARD,
    BUNDLED_INT8_SHA256,
)
from ferkit.serve.app import Limits, create_app  # noqa: E402

ASTRONAUT = ROOT / "photos" / "astronaut.png"


@pytest.fixture(scope="module")
def recognizer():
    return load(threads=1)


@pytest.fixture(scope="module")
def client(recognizer):
    app = create_app(recognizer, Limits(max_upload_mb=1, max_batch=3, workers=2, queue=4))
    with TestClient(app) as c:
        yield c


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def upload(client, data: bytes, name: str = "photo.png", **params):
    return client.post("/predict", files={"file": (name, data, "image/png")}, params=params)


def assert_good_request_works(client):
    r = upload(client, ASTRONAUT.read_bytes())
    assert r.status_code == 200 and r.json()["faces"][0]["label"] == "happy"


def test_health_model_docs_and_page(client):
    assert client.get("/health").json()["status"] == "ok"
    model = client.get("/model").json()
    assert model["sha256"] == BUNDLED_INT8_SHA256 and model["classes"][3] == "happy"
    assert model["input_size"] > 0 and 0.5 < model["accuracy"]["fer2013_publictest_accuracy"] < 1
    # the temperature the file carries (the bundled model is calibrated), not a default
    assert model["precision"] == "int8" and model["temperature"] == load().temperature != 1.0
    assert model["detector"] == DEFAULT_DETECTOR and model["min_face"] is None  # default share
    assert "/predict/batch" in client.get("/openapi.json").json()["paths"]
    for docs in ("/docs", "/redoc"):  # served offline: every script from this server
        scripts = re.findall(r'<script src="([^"]+)"', client.get(docs).text)
        assert scripts and all(client.get(src).status_code == 200 for src in scripts), scripts
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "getUserMedia" in client.get("/static/app.js").text


def test_each_bundled_model_is_described_as_itself():
    from ferkit.serve.app import describe

    default, fp32 = describe(load(threads=1)), describe(load("fp32", threads=1))
    assert (default["model"], fp32["model"]) == ("int8", "fp32")
    assert (default["precision"], fp32["precision"]) == ("int8", "fp32")
    assert (default["sha256"], fp32["sha256"]) == (BUNDLED_INT8_SHA256, BUNDLED_FP32_SHA256)
    assert (default["accuracy"], fp32["accuracy"]) == (BUNDLED_INT8_CARD, BUNDLED_FP32_CARD)
    assert fp32["accuracy"] != default["accuracy"]


def test_min_face_per_request_finds_faces_the_default_does_not(client):
    # two people photographed from afar: faces ~100 px in a 2400x1800 picture (5.6%)
    canvas = Image.new("RGB", (2400, 1800), (110, 120, 130))
    astronaut = Image.open(ASTRONAUT).convert("RGB")
    canvas.paste(astronaut, (200, 600))
    canvas.paste(astronaut, (1500, 700))
    buf = io.BytesIO()
    canvas.save(buf, "JPEG", quality=85)
    data = buf.getvalue()
    # the default looks for faces of 18% of the picture; the cascade's CenterFace may still
    # find one of these (it does with a 112 px classifier, whose picture is reduced less)
    default = upload(client, data, "far.jpg").json()["faces"]
    assert len(default) < 2
    found = upload(client, data, "far.jpg", min_face=40).json()["faces"]
    assert [f["label"] for f in found] == ["happy", "happy"]
    assert [f["box"][0] // 100 for f in found] == [3, 16]  # in the picture's own pixels
    assert upload(client, data, "far.jpg").json()["faces"] == default  # default unchanged
    batch = client.post("/predict/batch", files=[("files", ("far.jpg", data, "image/jpeg"))],
                        params={"min_face": 40}).json()["results"]
    assert len(batch[0]["faces"]) == 2
    for bad in ("0", "5", "nan"):
        r = upload(client, data, "far.jpg", min_face=bad)
        assert r.status_code == 422 and "at least 20 pixels" in r.json()["error"], r.text
    assert_good_request_works(client)


def test_explain_returns_the_picture_the_cli_writes(client, recognizer, tmp_path):
    r = client.post("/explain", files={"file": ("astronaut.png", ASTRONAUT.read_bytes(),
                                                "image/png")}, params={"top": 3})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png", r.text
    out = tmp_path / "cli.png"
    cli = ferkit("explain", str(ASTRONAUT), "-o", str(out), "--top", "3")
    assert cli.returncode == 0, cli.stderr
    served = np.asarray(Image.open(io.BytesIO(r.content)), np.int16)
    written = np.asarray(Image.open(out), np.int16)
    assert served.shape == written.shape and np.abs(served - written).mean() < 0.5
    # nine faces: the eight largest are explained (a bound on what one request costs)
    canvas = Image.new("RGB", (900, 900), (120, 120, 120))
    for i in range(9):
        canvas.paste(Image.open(ASTRONAUT).convert("RGB").resize((300, 300)),
                     (300 * (i % 3), 300 * (i // 3)))
    rec = recognizer.with_min_face(40)
    assert len(rec.predict(np.asarray(canvas))) == 9
    r = client.post("/explain", files={"file": ("nine.png", png(canvas), "image/png")},
                    params={"min_face": 40})
    assert r.status_code == 200, r.text
    eight = explanation_figure(explain(rec, np.asarray(canvas), max_faces=8))
    assert Image.open(io.BytesIO(r.content)).size == eight.size
    blank = png(Image.new("RGB", (400, 300), (128, 128, 128)))
    for data, params, status, fragment in [(blank, {}, 422, "no face found in blank.png"),
                                           (ASTRONAUT.read_bytes(), {"top": 0}, 422, "top"),
                                           (b"not an image", {}, 415, "not an image")]:
        r = client.post("/explain", files={"file": ("blank.png", data, "image/png")},
                        params=params)
        assert r.status_code == status and fragment in r.json()["error"], r.text
    assert_good_request_works(client)


def test_predict_returns_what_the_cli_prints(client, tmp_path):
    answer = upload(client, ASTRONAUT.read_bytes(), "astronaut.png").json()
    cli = run("predict.py", str(ASTRONAUT), "--json")
    assert cli.returncode == 0, cli.stderr
    expected = json.loads(cli.stdout)
    assert {**answer, "image": expected["image"], "timing_ms": None} == {**expected,
                                                                          "timing_ms": None}
    assert answer["image"] == "astronaut.png" and answer["timing_ms"]["total"] > 0


def test_raw_image_body_options_and_no_face(client, recognizer):
    body = ASTRONAUT.read_bytes()
    raw = client.post("/predict", content=body, headers={"Content-Type": "image/png"}).json()
    assert raw["faces"][0]["label"] == "happy"
    whole = client.post("/predict", content=body, params={"detect": "false"},
                        headers={"Content-Type": "image/png"}).json()
    assert whole["faces"][0]["box"] == [0, 0, 512, 512]
    tta = upload(client, body, tta="true").json()["faces"][0]["probs"]
    expected = recognizer.predict(ASTRONAUT, tta=True)[0].probs
    assert tta == pytest.approx(expected, abs=1e-5)
    assert tta != raw["faces"][0]["probs"]
    heic = (ROOT / "tests" / "data" / "astronaut_sideways.heic").read_bytes()
    phone = client.post("/predict", content=heic, headers={"Content-Type": "image/heic"})
    assert phone.status_code == 200 and phone.json()["faces"][0]["label"] == "happy"
    blank = upload(client, png(Image.new("RGB", (200, 200), "gray"))).json()
    assert blank["faces"] == []


def test_batch_reports_a_bad_image_in_its_own_slot(client):
    files = [("files", ("a.png", ASTRONAUT.read_bytes(), "image/png")),
             ("files", ("notes.txt", b"not an image", "text/plain")),
             ("files", ("grey.png", png(Image.new("L", (64, 64), 128)), "image/png"))]
    r = client.post("/predict/batch", files=files, params={"detect": "false"})
    assert r.status_code == 200
    a, bad, grey = r.json()["results"]
    assert a["image"] == "a.png" and len(a["faces"]) == 1
    assert bad["status"] == 415 and "not an image" in bad["error"]
    assert (grey["width"], grey["height"]) == (64, 64)
    too_many = client.post("/predict/batch", files=files + files[:1])
    assert too_many.status_code == 400 and "at most 3" in too_many.json()["error"]


def huge_png() -> bytes:
    """100 Mpx of one colour: a few KB on disk, over Pillow's decompression-bomb limit."""
    return png(Image.new("1", (10_000, 10_000)))


def truncated_png() -> bytes:
    return ASTRONAUT.read_bytes()[:5000]


@pytest.mark.parametrize("make, status, fragment", [
    (lambda: b"hello, not an image", 415, "not an image"),
    (truncated_png, 400, "corrupt or truncated"),
    (huge_png, 413, "too large"),
    (lambda: bytes(1_200_000), 413, "1 MB limit"),
    (lambda: b"", 415, "empty"),
])
def test_bad_uploads_get_their_status_and_the_server_stays_up(client, make, status, fragment):
    r = upload(client, make())
    assert r.status_code == status, r.text
    assert fragment in r.json()["error"]
    assert_good_request_works(client)


def test_bad_requests_are_json_errors(client):
    r = client.post("/predict", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "multipart/form-data" in r.json()["error"]
    r = client.post("/predict", files={"other": ("a.png", b"x", "image/png")})
    assert r.status_code == 400 and "field 'file'" in r.json()["error"]
    r = client.post("/predict", content=b"x", params={"detect": "maybe"},
                    headers={"Content-Type": "image/png"})
    assert r.status_code == 422 and "detect" in r.json()["error"]
    r = client.post("/predict", content=bytes(2_000_000), headers={"Content-Type": "image/png"})
    assert r.status_code == 413
    assert client.get("/nothing").json() == {"error": "Not Found"}
    assert_good_request_works(client)


def test_the_token_is_required_when_set(recognizer):
    with TestClient(create_app(recognizer, token="s3cret")) as c:
        r = upload(c, ASTRONAUT.read_bytes())
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.get("/model").status_code == 401
        r = upload(c, ASTRONAUT.read_bytes(), "a.png")
        assert r.status_code == 401
        ok = c.post("/predict", files={"file": ("a.png", ASTRONAUT.read_bytes())},
                    headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert c.get("/health").status_code == 200  # for load balancers: no token


def test_concurrent_requests_all_succeed_with_the_same_answer(client):
    body = ASTRONAUT.read_bytes()
    answers, errors = [], []

    def worker():
        for _ in range(3):
            r = upload(client, body)
            (answers if r.status_code == 200 else errors).append(r.json())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(answers) == 18
    assert all(a["faces"] == answers[0]["faces"] for a in answers)


class SlowRecognizer:
    """The real recogniser, held at a gate so a test can fill the server."""

    def __init__(self, real):
        self.real, self.gate = real, threading.Event()
        self.backend, self.config, self.classes = real.backend, real.config, real.classes
        self.img_size, self.tta, self.temperature = real.img_size, real.tta, real.temperature
        self.detector, self.read, self.min_face = real.detector, real.read, real.min_face
        self.min_side = real.min_side

    def predict(self, *args, **kw):
        self.gate.wait(30)
        return self.real.predict(*args, **kw)


def test_overload_answers_503_with_retry_after(recognizer):
    slow = SlowRecognizer(recognizer)
    with TestClient(create_app(slow, Limits(workers=1, queue=0))) as c:
        first = threading.Thread(target=lambda: upload(c, ASTRONAUT.read_bytes()))
        first.start()
        deadline = time.time() + 10
        while c.get("/health").json()["in_flight"] < 1:
            assert time.time() < deadline
            time.sleep(0.01)
        r = upload(c, ASTRONAUT.read_bytes())
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        slow.gate.set()
        first.join()
        assert upload(c, ASTRONAUT.read_bytes()).status_code == 200


def test_cli_port_in_use_and_bad_options():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        r = ferkit("serve", "--port", str(s.getsockname()[1]))
    assert_user_error(r, "cannot listen on 127.0.0.1")
    assert_user_error(ferkit("serve", "--workers", "0"), "--workers and --max-batch must be")
    assert_user_error(ferkit("serve", "--max-batch", "0"), "--workers and --max-batch must be")
    for port in ("0", "65536"):
        assert_user_error(ferkit("serve", "--port", port), "use a port number from 1 to 65535")


def test_cli_warns_when_binding_every_network():
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "ferkit", "serve", "--host", "0.0.0.0", "--port",
         str(free_port())], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": ""}, stdin=subprocess.DEVNULL)
    try:
        line = proc.stderr.readline()
        assert "warning: binding 0.0.0.0" in line and "--token" in line
    finally:
        proc.kill()
        proc.communicate()


def test_image_from_bytes_matches_the_file_path():
    from ferkit.io.images import image_from_bytes, open_image

    a = np.asarray(image_from_bytes(ASTRONAUT.read_bytes()))
    assert np.array_equal(a, np.asarray(open_image(ASTRONAUT)))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A certificate for 127.0.0.1 from a throwaway authority; (cert, key, client context)."""
    trustme = pytest.importorskip("trustme", reason="needs trustme (the dev extra)")
    import ssl

    d = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    issued.cert_chain_pems[0].write_to_path(str(d / "cert.pem"))
    issued.private_key_pem.write_to_path(str(d / "key.pem"))
    ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(d / "other_key.pem"))
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return d / "cert.pem", d / "key.pem", context


def test_serves_https_with_a_certificate(certificate):
    import urllib.request

    cert, key, context = certificate
    proc, url = start_server("--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
                             scheme="https", context=context)
    try:
        request = urllib.request.Request(f"{url}/predict", data=ASTRONAUT.read_bytes(),
                                         headers={"Content-Type": "image/png"})
        with urllib.request.urlopen(request, context=context, timeout=30) as r:
            assert json.load(r)["faces"][0]["label"] == "happy"
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_bad_certificates_are_one_line(certificate, tmp_path):
    from cryptography.hazmat.primitives import serialization

    cert, key, _ = certificate
    tls = lambda c, k: ferkit("serve", "--ssl-certfile", str(c), "--ssl-keyfile", str(k))  # noqa: E731
    assert_user_error(ferkit("serve", "--ssl-certfile", str(cert)), "needs both")
    assert_user_error(tls(cert, tmp_path / "none.pem"), "none.pem: no such file")
    assert_user_error(tls(cert, key.parent / "other_key.pem"), "the key is not this certificate")
    assert_user_error(tls(key, cert), "not a PEM certificate")
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    (tmp_path / "locked.pem").write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    assert_user_error(tls(cert, tmp_path / "locked.pem"), "locked.pem is encrypted")


def test_cors_lets_the_named_origins_read_answers_errors_included(recognizer):
    app = create_app(recognizer, Limits(max_upload_mb=0.01), token="s3cret",
                     cors=["https://app.example.org"])
    with TestClient(app) as c:
        preflight = c.options("/predict", headers={
            "Origin": "https://app.example.org", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example.org"
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        auth = {"Authorization": "Bearer s3cret", "Origin": "https://app.example.org"}
        r = c.post("/predict", content=ASTRONAUT.read_bytes(),
                   headers={**auth, "Content-Type": "image/png"})
        assert r.status_code == 413  # over 0.01 MB: the page can still read why
        assert r.headers["access-control-allow-origin"] == "https://app.example.org"
        assert c.get("/model", headers=auth).headers["access-control-allow-origin"]
        other = c.get("/model", headers={**auth, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    with TestClient(create_app(recognizer)) as c:  # none named: no page elsewhere reads it
        r = c.get("/health", headers={"Origin": "https://app.example.org"})
        assert "access-control-allow-origin" not in r.headers


def test_cli_cors_origin_must_be_an_origin():
    for bad in ("localhost:3000", "https://app.example.org/page", "ftp://x.org"):
        assert_user_error(ferkit("serve", "--cors", bad), "not an origin")


def oversized_bodies() -> list[tuple[str, bytes, str]]:
    """(what, a 25 MB body, its content type): a raw image body and a multipart upload."""
    body = b"\xff\xd8" + bytes(25 * 1024 * 1024)
    boundary = "ferkit-test-boundary"
    multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                 f"filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode() + body + (
        f"\r\n--{boundary}--\r\n").encode()
    return [("raw", body, "image/jpeg"),
            ("multipart", multipart, f"multipart/form-data; boundary={boundary}")]


def test_an_oversized_upload_reaches_urllib_as_the_413_json(live_server):
    """urllib sends the whole body before it reads the answer: the server reads the rest of
    an oversized body (up to a bound) and drops it, so the 413 is read, not a reset."""
    import urllib.error
    import urllib.request

    for what, body, kind in oversized_bodies():
        request = urllib.request.Request(f"{live_server}/predict", data=body,
                                         headers={"Content-Type": kind})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=60)
        assert answer.value.code == 413, what
        assert "larger than the 20 MB limit" in json.loads(answer.value.read())["error"], what
    with urllib.request.urlopen(f"{live_server}/health", timeout=10) as r:
        assert json.load(r)["status"] == "ok"  # still up


def test_an_oversized_upload_reaches_requests_as_the_413_json(live_server):
    import requests

    for what, body, kind in oversized_bodies():
        r = requests.post(f"{live_server}/predict", data=body, headers={"Content-Type": kind},
                          timeout=60)
        assert r.status_code == 413, what
        assert "larger than the 20 MB limit" in r.json()["error"], what
    # streamed without a length (chunked): the limit holds as the body comes in
    chunks = (bytes(1024 * 1024) for _ in range(25))
    r = requests.post(f"{live_server}/predict", data=chunks,
                      headers={"Content-Type": "image/jpeg"}, timeout=60)
    assert r.status_code == 413 and "20 MB limit" in r.json()["error"]


def test_the_websocket_answers_each_frame_as_predict_does(client):
    """/ws: the page's webcam route; each binary message a frame, each answer what /predict
    answers for it (timing aside), in order; a text message or a bad frame gets its error
    and the connection stays."""
    frame = ASTRONAUT.read_bytes()
    expected = upload(client, frame, "frame").json()
    with client.websocket_connect("/ws") as ws:
        for _ in range(3):
            ws.send_bytes(frame)
            answer = json.loads(ws.receive_text())
            assert {**answer, "timing_ms": None} == {**expected, "timing_ms": None}
        ws.send_text("hello")
        assert json.loads(ws.receive_text())["status"] == 415
        ws.send_bytes(b"not an image")
        bad = json.loads(ws.receive_text())
        assert bad["status"] == 415 and "not an image" in bad["error"] and bad["faces"] == []
        ws.send_bytes(frame)
        assert json.loads(ws.receive_text())["faces"][0]["label"] == "happy"
    with client.websocket_connect("/ws?detect=false") as ws:
        ws.send_bytes(frame)
        assert json.loads(ws.receive_text())["faces"][0]["box"] == [0, 0, 512, 512]


def test_the_websocket_needs_the_token_when_one_is_set(recognizer):
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from ferkit.serve.app import create_app

    client = TestClient(create_app(recognizer, token="abc"))
    for query in ("", "?token=wrong"):
        with pytest.raises(WebSocketDisconnect) as closed, \
                client.websocket_connect(f"/ws{query}") as ws:
            ws.receive_text()
        assert closed.value.code == 1008
    with client.websocket_connect("/ws?token=abc") as ws:
        ws.send_bytes(ASTRONAUT.read_bytes())
        assert json.loads(ws.receive_text())["faces"][0]["label"] == "happy"
