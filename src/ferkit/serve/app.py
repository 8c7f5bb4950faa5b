"""`ferkit serve`: an HTTP API (FastAPI) and a web page with the webcam, in one process.

    pip install 'ferkit[serve]'
    ferkit serve                       # http://127.0.0.1:8000: the page; /docs: the API
    ferkit serve --host 0.0.0.0 --ssl-certfile cert.pem --ssl-keyfile key.pem  # other machines

Routes: POST /predict (one image: a multipart upload or a raw image/* body), POST
/predict/batch (several uploads, one result each), POST /explain (one image -> a PNG of where
each face's expression was read from), GET /health, GET /model, GET / (the page).
Requests run in parallel on a pool of worker threads, each ONNX Runtime session with one
intra-op thread; past `workers + queue` requests in flight the server answers 503 with
Retry-After. It reads only the bytes sent to it and bounds every size.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import secrets
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from .. import __version__
from ..errors import FerkitError
from ..io.images import CorruptImage, ImageTooLarge, NotAnImage, full_size
from ..io.records import to_json
from ..io.results import Result
from ..recognition.explanation import explain, explanation_figure
from ..recognition.recognizer import BUNDLED, Recognizer

WEB = Path(__file__).parent / "web"
STATUS = {ImageTooLarge: 413, NotAnImage: 415, CorruptImage: 400}
# per request `min_face`: the smallest allowed (the detector's work grows as 1 / min_face^2),
# and how many such detectors are kept
MIN_FACE_FLOOR = 20
MAX_VARIANTS = 4
# An upload over the limit is still read, up to this much, and thrown away before the 413
# goes out: a client that sends its whole body before reading (Python's urllib) would
# otherwise find the connection reset and never see the answer.
DRAIN_MAX_BYTES = 64 * 1024 * 1024
EXPLAIN_MAX_FACES = 8  # POST /explain: ~65 classifier inputs per face


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


class Limits:
    """Everything a request may cost."""

    def __init__(self, max_upload_mb: float = 20, max_batch: int = 32, workers: int = 2,
                 queue: int = 16):
        self.max_bytes = int(max_upload_mb * 1024 * 1024)
        self.max_batch = max_batch
        self.workers = workers
        self.queue = queue


class Service:
    """What the routes share: the recogniser (and a few that look for smaller faces), the
    worker pool and how busy it is, the limits and the token."""

    def __init__(self, recognizer: Recognizer, limits: Limits, token: str | None):
        self.recognizer, self.limits, self.token = recognizer, limits, token
        self.pool = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="ferkit")
        self.in_flight = 0
        self.model_info = describe(recognizer)
        self.variants: dict[float, Recognizer] = {}  # per request min_face -> its recogniser
        self.variants_lock = threading.Lock()

    async def compute(self, fn, *args):
        """Run fn in the worker pool; 503 when workers and queue are all taken."""
        if self.in_flight >= self.limits.workers + self.limits.queue:
            raise ApiError(503, "the server is busy; retry shortly", {"Retry-After": "1"})
        self.in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
        finally:
            self.in_flight -= 1

    def check_token(self, request: Request) -> None:
        if not self.token_ok(request.headers.get("authorization", "")):
            raise ApiError(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})

    def token_ok(self, authorization: str) -> bool:
        return self.token is None or secrets.compare_digest(
            authorization.encode(), f"Bearer {self.token}".encode())

    def recogniser_for(self, min_face: float | None, detect: bool = True) -> Recognizer:
        """The served recogniser, or one that looks for smaller faces (a few kept, the
        classifier shared)."""
        if not detect or min_face is None or min_face == self.recognizer.min_face:
            return self.recognizer
        with self.variants_lock:
            if min_face not in self.variants:
                if len(self.variants) >= MAX_VARIANTS:
                    self.variants.pop(next(iter(self.variants)))
                self.variants[min_face] = self.recognizer.with_min_face(min_face)
            return self.variants[min_face]

    @staticmethod
    def check_min_face(min_face: float | None) -> None:
        if min_face is not None and not min_face >= MIN_FACE_FLOOR:  # NaN too
            raise ApiError(422, f"min_face: at least {MIN_FACE_FLOOR} pixels (smaller faces "
                                "cost this server too much per picture)")

    def predict_bytes(self, data: bytes, name: str, detect: bool, tta: bool | None,
                      min_face: float | None = None) -> dict:
        """One image's record, with the time decoding and recognising took."""
        rec = self.recogniser_for(min_face, detect)
        t0 = time.perf_counter()
        image = rec.read(data, name, detect=detect)
        t1 = time.perf_counter()
        faces = rec.predict(image, detect=detect, tta=tta)
        t2 = time.perf_counter()
        out = Result(name, faces, size=full_size(image)).to_dict()
        out["timing_ms"] = {"decode": round((t1 - t0) * 1e3, 2),
                            "recognise": round((t2 - t1) * 1e3, 2)}
        return out

    def predict_many(self, items: list[tuple[bytes, str]], detect: bool, tta: bool | None,
                     min_face: float | None) -> list:
        """A record per image; one that cannot be read gets its error and status."""
        results = []
        for data, name in items:
            try:
                results.append(self.predict_bytes(data, name, detect, tta, min_face))
            except FerkitError as e:
                results.append({**Result(name, error=str(e)).to_dict(), "status": status_of(e)})
        return results

    async def live_answer(self, data: bytes | None, detect: bool,
                          min_face: float | None) -> dict:
        """The answer to one webcam frame sent over /ws: its record, or its error."""
        if data is None:
            return {"error": "send each frame as a binary message (a JPEG)", "status": 415}
        if len(data) > self.limits.max_bytes:
            return {"error": too_large_message(self.limits), "status": 413}
        try:
            return await self.compute(self.predict_bytes, data, "frame", detect, None, min_face)
        except ApiError as e:
            return {"error": e.message, "status": e.status}
        except FerkitError as e:
            return {**Result("frame", error=str(e)).to_dict(), "status": status_of(e)}

    def explain_bytes(self, data: bytes, name: str, detect: bool, min_face: float | None,
                      top: int) -> bytes:
        """`ferkit explain`'s picture of one image, as PNG bytes."""
        rec = self.recogniser_for(min_face, detect)
        found = explain(rec, rec.read(data, name, detect=detect), detect=detect,
                        max_faces=EXPLAIN_MAX_FACES)
        if not found:
            raise ApiError(422, f"no face found in {name} to explain")
        buf = io.BytesIO()
        explanation_figure(found, top).save(buf, "PNG")
        return buf.getvalue()


def create_app(recognizer: Recognizer, limits: Limits | None = None,
               token: str | None = None, cors: list[str] | None = None) -> FastAPI:
    """The FastAPI application around one Recognizer. cors: the origins whose pages may call
    the API from a browser ("*": any)."""
    service = Service(recognizer, limits or Limits(), token)
    # FastAPI's /docs and /redoc fetch their scripts from a CDN; these pages are served here
    app = FastAPIOffline(title="ferkit", version=__version__,
                         description="Facial expression recognition: every face in an image, "
                                     "a probability per expression.")
    add_error_handlers(app)
    app.add_middleware(BodyLimit, limits=service.limits)
    if cors:  # added last, so outermost: a 413 from BodyLimit still says who may read it
        app.add_middleware(CORSMiddleware, allow_origins=cors, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"],
                           expose_headers=["Retry-After"], max_age=600)
    add_image_routes(app, service)
    add_live_route(app, service)
    app.mount("/static", StaticFiles(directory=WEB), name="static")
    app.state.pool = service.pool
    app.state.model_info = service.model_info
    return app


def add_error_handlers(app: FastAPI) -> None:
    """Every error a JSON {"error": ...} with its status; a bug a 500, and the server stays up."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        return JSONResponse({"error": e.message}, status_code=e.status, headers=e.headers)

    @app.exception_handler(FerkitError)
    async def ferkit_error(request: Request, e: FerkitError):
        return JSONResponse({"error": str(e)}, status_code=status_of(e))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError):
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}"},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        return JSONResponse({"error": str(e.detail)}, status_code=e.status_code,
                            headers=getattr(e, "headers", None))

    @app.exception_handler(Exception)
    async def crash(request: Request, e: Exception):
        print(f"ferkit serve: internal error on {request.url.path}: {e!r}", file=sys.stderr)
        return JSONResponse({"error": "internal error"}, status_code=500)


def add_image_routes(app: FastAPI, service: Service) -> None:
    """/health, /model, /predict, /predict/batch, /explain and the page."""
    limits = service.limits

    @app.get("/health")
    async def health() -> dict:
        """Up and answering; also how busy."""
        return {"status": "ok", "in_flight": service.in_flight, "workers": limits.workers}

    @app.get("/model")
    async def model(request: Request) -> dict:
        """Classes, input size, SHA-256 and measured accuracy of the model being served."""
        service.check_token(request)
        return service.model_info

    @app.post("/predict", responses={413: {}, 415: {}, 400: {}, 503: {}})
    async def predict(request: Request, detect: bool = True, tta: bool | None = None,
                      min_face: float | None = None) -> dict:
        """One image, as a multipart upload (field `file`) or a raw `image/*` body; the JSON
        of `ferkit predict --json`, plus timing. min_face: the smallest face to look for,
        in pixels, for this request (as `--min-face`)."""
        service.check_token(request)
        service.check_min_face(min_face)
        [(data, name)] = await read_images(request, limits, many=False)
        t0 = time.perf_counter()
        out = await service.compute(service.predict_bytes, data, name, detect, tta, min_face)
        out["timing_ms"]["total"] = round((time.perf_counter() - t0) * 1e3, 2)
        return out

    @app.post("/predict/batch", responses={413: {}, 503: {}})
    async def predict_batch(request: Request, detect: bool = True,
                            tta: bool | None = None, min_face: float | None = None) -> dict:
        """Several images (multipart fields `files`); one result each, in order; an image
        that cannot be read gets its error and status in its own slot."""
        service.check_token(request)
        service.check_min_face(min_face)
        items = await read_images(request, limits, many=True)
        return {"results": await service.compute(service.predict_many, items, detect, tta,
                                                 min_face)}

    @app.post("/explain", response_class=Response, responses={
        200: {"content": {"image/png": {}}}, 413: {}, 415: {}, 422: {}, 503: {}})
    async def explain_image(request: Request, detect: bool = True, min_face: float | None = None,
                            top: int = 2) -> Response:
        """Where each face's expression was read from (`ferkit explain`): one image, uploaded
        as for /predict; a PNG with, per face (the 8 largest), the evidence for its `top`
        most likely expressions."""
        service.check_token(request)
        service.check_min_face(min_face)
        classes = service.recognizer.classes
        if not 1 <= top <= len(classes):
            raise ApiError(422, f"top: 1 to {len(classes)} expressions")
        [(data, name)] = await read_images(request, limits, many=False)
        picture = await service.compute(service.explain_bytes, data, name, detect, min_face, top)
        return Response(picture, media_type="image/png")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(WEB / "index.html")


def add_live_route(app: FastAPI, service: Service) -> None:
    """/ws: the page's webcam, frame after frame on one WebSocket."""

    @app.websocket("/ws")
    async def live(ws: WebSocket, detect: bool = True, min_face: float | None = None,
                   token: str = ""):
        """Webcam frames, one after another on one connection: each binary message an image
        (a JPEG frame), each answer the JSON /predict gives for it, or {"error", "status"}.
        What the page sends its webcam through (a browser cannot give a WebSocket an
        Authorization header: the token comes as ?token=)."""
        if not service.token_ok(f"Bearer {token}" if token else ""):
            await ws.close(code=1008, reason="missing or wrong token")
            return
        await ws.accept()
        try:
            service.check_min_face(min_face)
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                answer = await service.live_answer(message.get("bytes"), detect, min_face)
                await ws.send_text(to_json(answer))
        except ApiError as e:
            await ws.close(code=1008, reason=e.message)
        except (WebSocketDisconnect, RuntimeError):
            return  # the page closed (RuntimeError: it closed while we answered)


def status_of(e: FerkitError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(e, kind)), 400)


class BodyLimit:
    """413 before reading a body whose Content-Length is over the limit. Plain ASGI:
    Starlette's @app.middleware costs every request an extra task and stream."""

    def __init__(self, app, limits: Limits):
        self.app = app
        self.limits = limits

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.limits.max_bytes:
                if int(length) <= self.limits.max_bytes + DRAIN_MAX_BYTES:
                    await drain(receive)
                return await too_large(self.limits)(scope, receive, send)
        await self.app(scope, receive, send)


async def drain(receive, limit: int = DRAIN_MAX_BYTES) -> None:
    """Read what is left of a request's body, up to `limit` bytes, and drop it."""
    read = 0
    while read <= limit:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def too_large(limits: Limits) -> JSONResponse:
    return JSONResponse({"error": too_large_message(limits)}, status_code=413)


def too_large_message(limits: Limits) -> str:
    return f"the request is larger than the {limits.max_bytes / 1024 / 1024:g} MB limit"


async def read_images(request: Request, limits: Limits, many: bool) -> list[tuple[bytes, str]]:
    """(bytes, name) of the uploaded images: multipart fields `file`/`files`, or a raw
    image/* body; the body is read up to the size limit and no further."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        if not request.headers.get("content-length"):  # the size limit needs it up front
            raise ApiError(411, "a multipart upload needs a Content-Length header")
        try:
            form = await request.form(max_files=limits.max_batch + 1,
                                      max_part_size=limits.max_bytes)
        except MultiPartException as e:
            raise ApiError(400, f"bad multipart body: {e.message}") from e
        uploads = [v for k, v in form.multi_items() if k in ("file", "files")
                   and hasattr(v, "read")]
        if not uploads:
            raise ApiError(400, "no image: send a multipart field 'file' (or 'files')")
        if len(uploads) > (limits.max_batch if many else 1):
            raise ApiError(400, f"too many images: at most "
                           f"{limits.max_batch if many else 1} per request")
        return [(await u.read(), u.filename or "upload") for u in uploads]
    if kind.startswith("image/") or kind == "application/octet-stream":
        if many:
            raise ApiError(415, "/predict/batch takes multipart/form-data with fields 'files'")
        body = bytearray()
        chunks = request.stream()
        async for chunk in chunks:
            body += chunk
            if len(body) > limits.max_bytes:
                read = len(body)
                async for rest in chunks:  # drained, as BodyLimit does, so the 413 is read
                    read += len(rest)
                    if read > limits.max_bytes + DRAIN_MAX_BYTES:
                        break
                raise ApiError(413, too_large_message(limits))
        return [(bytes(body), request.headers.get("x-filename", "upload"))]
    raise ApiError(415, f"send an image as multipart/form-data or an image/* body, not "
                        f"{kind or 'no content type'}")


def describe(recognizer: Recognizer) -> dict:
    """What GET /model says about the model being served."""
    path = Path(recognizer.backend.path)
    # one of the bundled models ("int8", "fp32") and its numbers, or None
    bundled = next(((name, card) for name, (file, _, card) in BUNDLED.items()
                    if path.resolve() == file.resolve()), None)
    return {
        "model": bundled[0] if bundled else path.name,
        "arch": recognizer.config.get("arch"),
        "classes": recognizer.classes,
        "input_size": recognizer.img_size,
        "tta": recognizer.tta,
        "precision": recognizer.config.get("precision", "fp32"),
        "temperature": recognizer.temperature,
        "detector": type(recognizer.detector).__name__.lower(),  # as --detector names it
        # the smallest face looked for: pixels, or null for the default share of each picture
        "min_face": recognizer.min_face,
        # the shorter side a picture can be reduced to before it is sent (the server would
        # reduce it so): the page's webcam frames are sent at this size
        "frame_side": recognizer.min_side(),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "accuracy": bundled[1] if bundled else recognizer.config.get("metrics"),
        "ferkit_version": __version__,
    }

