"""Images given as http(s) URLs, served by a throwaway HTTP server on 127.0.0.1."""

import functools
import http.server
import threading

import pytest
from conftest import ROOT, LocalHTTPServer, assert_user_error, ferkit, free_port

from ferkit import FerkitError, load
from ferkit.io.urls import fetch, is_url, url_name

ASTRONAUT = ROOT / "photos" / "astronaut.png"
REQUESTED: list[str] = []  # the paths the test site was asked for


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """http://127.0.0.1:PORT serving the astronaut, a text file and a redirect to file://."""
    root = tmp_path_factory.mktemp("site")
    (root / "astronaut.png").write_bytes(ASTRONAUT.read_bytes())
    (root / "notes.txt").write_text("not a photo")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            REQUESTED.append(self.path)
            if self.path == "/elsewhere":
                self.send_response(302)
                self.send_header("Location", f"file://{ASTRONAUT}")
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = LocalHTTPServer(
        ("127.0.0.1", free_port()), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_api_and_the_cli_read_an_image_url(site):
    url = f"{site}/astronaut.png?size=full"
    (face,) = load().predict(url)
    assert face.label == "happy"
    r = ferkit("predict", url, "--json")
    assert r.returncode == 0 and f'"image": "{url}"' in r.stdout and "happy" in r.stdout


def test_url_errors_are_one_line(site, tmp_path):
    assert_user_error(ferkit("predict", f"{site}/missing.png"), "HTTP 404")
    assert_user_error(ferkit("predict", f"{site}/notes.txt"), "is not an image")
    assert_user_error(ferkit("predict", f"http://127.0.0.1:{free_port()}/x.png"),
                      "cannot fetch")
    assert_user_error(ferkit("predict", f"{site}/elsewhere"), "cannot fetch")  # no file://
    with pytest.raises(FerkitError, match="over 0 MB"):
        fetch(f"{site}/astronaut.png", max_bytes=1000)


def test_annotating_a_url_names_the_picture_after_its_path(site, tmp_path):
    (tmp_path / "local.png").write_bytes(ASTRONAUT.read_bytes())
    r = ferkit("predict", f"{site}/astronaut.png?v=2.1", str(tmp_path / "local.png"),
               "--annotate", str(tmp_path / "out"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["astronaut.png",
                                                                       "local.png"]
    # two inputs of one name: both kept
    r = ferkit("predict", f"{site}/astronaut.png", str(tmp_path / "local.png"),
               f"{site}/astronaut.png?again", "--annotate", str(tmp_path / "twice"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "twice").glob("*.png")) == [
        "astronaut-2.png", "astronaut.png", "local.png"]


def test_which_strings_are_urls():
    assert is_url("https://example.org/a.jpg") and is_url("HTTP://example.org/")
    assert not is_url("photos/a.jpg") and not is_url("s3://bucket/a.jpg")
    assert not is_url(ROOT / "http:" / "x")  # a Path is always a file
    assert url_name("https://example.org/a/b.jpg?x=1") == "b.jpg"
    assert url_name("https://example.org/") == "image"


def test_with_ray_an_image_url_is_fetched_by_the_actors_like_a_path():
    pytest.importorskip("ray.data", reason="needs the ray extra")
    from ferkit.ray import split_inputs

    uris, paths = split_inputs(["https://example.org/a.jpg", "s3://bucket/photos/"])
    assert uris == ["s3://bucket/photos/"]  # object storage: Ray lists and reads it
    assert paths == ["https://example.org/a.jpg"]  # the actors read it as they read paths


def test_a_url_is_fetched_once_even_when_annotated(site, tmp_path):
    r = ferkit("predict", f"{site}/astronaut.png?once", "--annotate", str(tmp_path / "a.png"))
    assert r.returncode == 0 and (tmp_path / "a.png").stat().st_size > 0, r.stderr
    assert REQUESTED.count("/astronaut.png?once") == 1
