"""One result schema on every surface (ferkit.io.records): the Python API, `ferkit predict
--json`, `--output` in every format, `ferkit serve` and `--ray` give the same records for the
same hard inputs, with both detectors; every JSON output parses strictly."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, ferkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from scenes import backgrounds, face_sources, hard_inputs, scene

import ferkit as fk
from ferkit.detection import DETECTORS
from ferkit.detection.blazeface import BlazeFace
from ferkit.io.records import (
    INTEGERS,
    SCHEMA_VERSION,
    STRINGS,
    image_columns,
    image_record,
    nested,
    rows,
    to_json,
)

CLASSES = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]


def strict(text: str):
    """json.loads that refuses NaN and Infinity, as a strict JSON parser does."""

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def typed(row: dict) -> dict:
    """A CSV row with its cells as the schema's types ('' is None)."""
    return {k: None if v == "" else int(v) if k in INTEGERS else v if k in STRINGS
            else float(v) for k, v in row.items()}


def assert_same_records(expected: list[dict], got: list[dict], surface: str) -> None:
    """The same pictures, sizes, errors, faces, boxes and labels, probabilities within
    1e-5; pictures matched by file name (the server knows only the upload's name)."""
    by_name = {Path(r["image"]).name: r for r in got}
    assert sorted(by_name) == sorted(Path(r["image"]).name for r in expected), surface
    for want in expected:
        have = by_name[Path(want["image"]).name]
        where = f"{surface}: {want['image']}"
        assert have["schema_version"] == SCHEMA_VERSION, where
        assert (have["width"], have["height"]) == (want["width"], want["height"]), where
        assert (have["error"] is None) == (want["error"] is None), where
        assert len(have["faces"]) == len(want["faces"]), where
        for a, b in zip(want["faces"], have["faces"], strict=True):
            assert (a["face"], a["box"], a["label"]) == (b["face"], b["box"], b["label"]), where
            assert max(abs(a["probs"][c] - b["probs"][c]) for c in CLASSES) <= 1e-5, where
            assert abs(a["confidence"] - b["confidence"]) <= 1e-5, where
            assert (a["detection_score"] is None) == (b["detection_score"] is None), where
            if a["detection_score"] is not None:
                assert abs(a["detection_score"] - b["detection_score"]) <= 1e-4, where


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[Path]:
    return hard_inputs(tmp_path_factory.mktemp("hard") / "photos")


@pytest.fixture(scope="module", params=DETECTORS)
def expected(request, inputs) -> tuple[str, list[dict]]:
    """(detector, the Python API's records for the hard inputs)."""
    rec = fk.load(detector=request.param)
    return request.param, [result.to_dict() for result in rec.predict_many(inputs)]


def test_the_hard_set_is_hard_and_every_record_serialises(inputs, monkeypatch):
    """The set sends faces through BlazeFace's second look (whose scores were numpy floats
    once) and holds unreadable files; every record is plain JSON."""
    looks = []
    real = BlazeFace.second_look
    monkeypatch.setattr(BlazeFace, "second_look",
                        lambda self, rgb, dets: looks.append(len(dets)) or real(self, rgb, dets))
    records = [r.to_dict() for r in fk.load().predict_many(inputs)]
    assert sum(looks) >= 3
    assert sum(len(r["faces"]) for r in records) >= 10
    assert sum(r["error"] is not None for r in records) == 2  # corrupt.png, notes.jpg
    assert any(not r["faces"] and r["error"] is None for r in records)  # no face
    for record in records:
        assert strict(to_json(record)) == record
        for face in record["faces"]:
            assert all(type(v) is int for v in face["box"])
            assert all(type(v) is float for v in face["probs"].values())
            assert type(face["detection_score"]) is float


def test_cli_json_and_every_output_format_give_the_api_records(expected, inputs, tmp_path):
    detector, api = expected
    folder = str(inputs[0].parent)
    outputs = {}
    for n, suffix in enumerate((".jsonl", ".csv", ".parquet")):
        out = tmp_path / f"faces{suffix}"
        r = ferkit("predict", folder, "--detector", detector, "--output", str(out),
                   *(["--json"] if n == 0 else ["--quiet"]))
        assert r.returncode == 2, r.stderr  # two unreadable files
        assert "Traceback" not in r.stderr
        assert sum(line.startswith("error: ") for line in r.stderr.splitlines()) == 2, r.stderr
        if n == 0:
            assert_same_records(api, [strict(line) for line in r.stdout.splitlines()], "--json")
        outputs[suffix] = out
    jsonl = [strict(line) for line in outputs[".jsonl"].read_text().splitlines()]
    assert_same_records(api, jsonl, ".jsonl")
    table = list(csv.DictReader(outputs[".csv"].read_text().splitlines()))
    assert list(table[0]) == image_columns(CLASSES)
    assert_same_records(api, list(nested(map(typed, table), CLASSES)), ".csv")
    import pyarrow.parquet as pq

    parquet = pq.read_table(outputs[".parquet"]).to_pylist()
    assert_same_records(api, list(nested(parquet, CLASSES)), ".parquet")
    # one row per face, the picture's fields repeated; a picture without a face: one row
    assert len(table) == sum(max(len(r["faces"]), 1) for r in api) == len(parquet)


def test_the_server_answers_the_api_records(expected, inputs):
    from fastapi.testclient import TestClient

    from ferkit.serve.app import create_app

    detector, api = expected
    client = TestClient(create_app(fk.load(detector=detector)))
    answers = []
    for path in inputs:
        r = client.post("/predict", files={"file": (path.name, path.read_bytes())})
        assert r.status_code < 500, r.text
        answer = strict(r.text)
        if r.status_code != 200:  # one JSON error of its own: the record says so
            assert set(answer) == {"error"}, answer
            answer = image_record(path.name, error=answer["error"])
        answers.append(answer)
    assert_same_records(api, answers, "/predict")
    r = client.post("/predict/batch", files=[("files", (p.name, p.read_bytes()))
                                             for p in inputs])
    assert r.status_code == 200, r.text
    batch = strict(r.text)["results"]
    assert_same_records(api, batch, "/predict/batch")
    assert all(b["status"] in (400, 415, 422) for b in batch if b["error"])


@pytest.mark.parametrize("detector", DETECTORS)
def test_ray_writes_the_api_records(detector, inputs, tmp_path):
    pytest.importorskip("ray.data", reason="needs the ray extra: pip install 'ferkit[ray]'")
    rec = fk.load(detector=detector)
    api = [result.to_dict() for result in rec.predict_many(inputs)]
    out = tmp_path / "faces.jsonl"
    r = ferkit("predict", str(inputs[0].parent), "--detector", detector, "--ray", "--output",
               str(out))
    assert r.returncode == 2, r.stderr  # two unreadable files
    assert "Traceback" not in r.stderr
    assert_same_records(api, [strict(line) for line in out.read_text().splitlines()], "--ray")


def test_rows_and_nested_are_inverse():
    faces = [fk.Face((1, 2, 30, 40), dict.fromkeys(CLASSES, 1 / 7), np.float32(0.7)),
             fk.Face((50, 2, 90, 40), {**dict.fromkeys(CLASSES, 0.0), "sad": 1.0}, None)]
    records = [image_record("a.jpg", faces, (100, 80)), image_record("b.jpg", [], (10, 10)),
               image_record("c.jpg", error="c.jpg is not an image"),
               image_record("a.jpg", faces[:1], (100, 80))]  # the same picture again
    flat = [row for record in records for row in rows(record, CLASSES)]
    assert [row["face"] for row in flat] == [1, 2, None, None, 1]
    assert [row["faces"] for row in flat] == [2, 2, 0, None, 1]
    assert list(nested(flat, CLASSES)) == records
    assert type(records[0]["faces"][0]["detection_score"]) is float  # numpy's, made plain


# --- properties over generated scenes -------------------------------------------------------

FACES = face_sources()[:4]
BACKGROUNDS = backgrounds()
RECOGNISERS = {name: fk.load(detector=name) for name in DETECTORS}

scenes = st.builds(
    lambda bg, size, faces, tint, noise, seed: scene(
        BACKGROUNDS[bg % len(BACKGROUNDS)],
        [(FACES[i % len(FACES)], side, roll) for i, side, roll in faces], size, tint, noise,
        seed)[0],
    bg=st.integers(0, 100),
    size=st.tuples(st.integers(48, 720), st.integers(48, 540)),
    faces=st.lists(st.tuples(st.integers(0, 100), st.integers(12, 320),
                             st.floats(-45, 45, allow_nan=False)), max_size=4),
    tint=st.tuples(*[st.floats(0.5, 1.3, allow_nan=False)] * 3),
    noise=st.floats(0, 40, allow_nan=False),
    seed=st.integers(0, 2**16),
)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(picture=scenes, detector=st.sampled_from(DETECTORS))
def test_every_result_of_a_generated_scene_is_valid(picture: Image.Image, detector: str):
    rec = RECOGNISERS[detector]
    [result] = rec.predict_many([picture])
    record = result.to_dict()
    assert strict(to_json(record)) == record
    assert (record["width"], record["height"]) == picture.size and record["error"] is None
    for face in record["faces"]:
        x0, y0, x1, y1 = face["box"]
        assert 0 <= x0 <= x1 <= picture.width and 0 <= y0 <= y1 <= picture.height, face
        assert math.isclose(sum(face["probs"].values()), 1.0, abs_tol=1e-5)
        assert face["label"] in rec.classes and face["probs"][face["label"]] == face[
            "confidence"]
    [again] = rec.predict_many([picture])
    assert again.to_dict() == record


def test_the_bundled_photo_is_happy_in_the_schema():
    """The schema's fields on the demo photo, as a user reads them in the README."""
    record = fk.load().predict_many([ROOT / "photos" / "astronaut.png"]).__next__().to_dict()
    assert list(record) == ["schema_version", "image", "width", "height", "faces", "error"]
    assert record["faces"][0]["label"] == "happy" and record["width"] == 512
