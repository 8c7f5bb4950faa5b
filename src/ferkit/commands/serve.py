"""`ferkit serve`: the HTTP API and the webcam page (ferkit.serve.app) on uvicorn."""

from __future__ import annotations

import argparse
import os
import socket
import ssl
import sys
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import FerkitError
from ..parallel import available_cores
from ..recognition.recognizer import load
from ..serve.app import Limits, create_app
from .common import MODEL_HELP, add_detector_args


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Serve the HTTP API and the webcam page.",
                                add_help=add_help)
    # fmt: off
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (127.0.0.1: this machine only; 0.0.0.0: every network)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", help=MODEL_HELP)
    add_detector_args(p)
    p.add_argument("--max-upload-mb", type=float, default=20, help="larger requests get 413")
    p.add_argument("--max-batch", type=int, default=32, help="images per /predict/batch")
    p.add_argument("--token", default=os.environ.get("FERKIT_TOKEN"),
                   help="require 'Authorization: Bearer TOKEN' (default: $FERKIT_TOKEN, or none)")
    p.add_argument("--workers", type=int, default=available_cores(),
                   help="requests computed in parallel, one ONNX Runtime thread each")
    p.add_argument("--queue", type=int, default=16,
                   help="requests waiting beyond the workers before 503 (overload)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("--cors", action="append", metavar="ORIGIN",
                   help="let web pages from ORIGIN (https://app.example.org; * for any) call "
                        "the API from a browser; repeat for several")
    p.add_argument("--ssl-certfile", metavar="PEM",
                   help="serve HTTPS with this certificate (with --ssl-keyfile): browsers give "
                        "the webcam only to https:// pages or to this machine's own address")
    p.add_argument("--ssl-keyfile", metavar="PEM", help="the certificate's private key")
    # fmt: on
    return p


def cors_origin(value: str) -> str:
    """An origin as browsers send it (scheme://host[:port]), or *."""
    if value.strip() == "*":
        return "*"
    parts = urlsplit(value.strip())
    if (parts.scheme not in ("http", "https") or not parts.netloc
            or parts.path not in ("", "/") or parts.query or parts.fragment):
        raise FerkitError(f"--cors {value}: not an origin; give scheme://host[:port], e.g. "
                          "https://app.example.org (or * for any)")
    return f"{parts.scheme}://{parts.netloc}"




def main(args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers < 1 or args.queue < 0 or args.max_upload_mb <= 0 or args.max_batch < 1:
        raise FerkitError("--workers and --max-batch must be >= 1, --queue >= 0 and "
                          "--max-upload-mb > 0")
    if not 0 < args.port < 65536:
        raise FerkitError(f"--port {args.port}: use a port number from 1 to 65535")
    check_tls(args.ssl_certfile, args.ssl_keyfile)
    cors = [cors_origin(origin) for origin in args.cors or ()]
    recognizer = load(args.model, threads=1, detector=args.detector, min_face=args.min_face)
    recognizer.warm()  # the detector now, not on the first request (CenterFace: ~0.2 s)
    limits = Limits(args.max_upload_mb, args.max_batch, args.workers, args.queue)
    app = create_app(recognizer, limits, token=args.token, cors=cors)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: binding {args.host}: other machines can reach this server"
              + ("" if args.token else "; consider --token")
              + ("" if args.ssl_certfile else "; their browsers give the webcam only to "
                 "https:// pages (--ssl-certfile, --ssl-keyfile)"), file=sys.stderr)
    check_port(args.host, args.port)
    scheme = "https" if args.ssl_certfile else "http"
    print(f"ferkit serve: {scheme}://{args.host}:{args.port}/ (page), /docs (API); "
          f"{args.workers} worker(s), model {app.state.model_info['model']}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                access_log=args.access_log, ssl_certfile=args.ssl_certfile,
                ssl_keyfile=args.ssl_keyfile, ws_max_size=limits.max_bytes + 1024)
    return 0


def check_tls(certfile: str | None, keyfile: str | None) -> None:
    """One clear line for a missing, unreadable, encrypted or mismatched certificate or key,
    before the model loads (uvicorn would print a traceback)."""
    if certfile is None and keyfile is None:
        return
    if certfile is None or keyfile is None:
        raise FerkitError("HTTPS needs both --ssl-certfile and --ssl-keyfile")
    for path in (certfile, keyfile):
        if not Path(path).is_file():
            raise FerkitError(f"{path}: no such file")

    def encrypted() -> str:
        raise FerkitError(f"{keyfile} is encrypted; give its decrypted copy "
                          f"(openssl pkey -in {keyfile} -out key.pem)")

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            certfile, keyfile, password=encrypted)
    except ssl.SSLError as e:
        why = ("the key is not this certificate's" if e.reason == "KEY_VALUES_MISMATCH"
               else "not a PEM certificate and its PEM private key")
        raise FerkitError(f"cannot serve HTTPS with {certfile} and {keyfile}: {why}") from e
    except OSError as e:
        raise FerkitError(f"cannot read {certfile} or {keyfile}: {e.strerror or e}") from e


def check_port(host: str, port: int) -> None:
    """One clear line for a port in use (uvicorn would log it and exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise FerkitError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
