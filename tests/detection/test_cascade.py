"""The cascade, the default detector for pictures: BlazeFace's faces where it finds some,
CenterFace's where it finds none, and no face where there is none."""

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image, ImageFilter

from ferkit.commands.predict import get_args_parser as predict_parser
from ferkit.commands.video import get_args_parser as video_parser
from ferkit.detection import DEFAULT_DETECTOR, VIDEO_DETECTOR, open_detector
from ferkit.detection.blazeface import BlazeFace
from ferkit.detection.cascade import Cascade
from ferkit.detection.centerface import CenterFace
from ferkit.recognition.recognizer import load

ASTRONAUT = ROOT / "photos" / "astronaut.png"


def out_of_focus_face() -> np.ndarray:
    """A face out of focus, filling most of a small picture: BlazeFace finds none in it."""
    face = Image.open(ASTRONAUT).convert("RGB").crop((140, 40, 310, 210)).resize((96, 96))
    return np.asarray(face.filter(ImageFilter.GaussianBlur(4)))


def test_a_face_blazeface_misses_is_found_by_centerface():
    blurred = out_of_focus_face()
    assert BlazeFace().detect(blurred) == []
    [face] = Cascade().detect(blurred)
    [sharper] = CenterFace().detect(blurred)
    assert face.box == pytest.approx(sharper.box)  # CenterFace's, re-framed by its own check
    x0, y0, x1, y1 = face.box
    assert abs((x0 + x1) / 2 - 48) < 15 and abs((y0 + y1) / 2 - 48) < 20 and x1 - x0 > 40
    # the default for pictures: the recogniser reads a face where BlazeFace alone has none
    [found] = load().predict(blurred)
    assert found.box == load(detector="centerface").predict(blurred)[0].box
    assert load(detector="blazeface").predict(blurred) == []


def test_blazefaces_faces_come_re_framed_and_centerface_is_not_loaded_for_them():
    rgb = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    cascade = Cascade()
    [face] = cascade.detect(rgb)
    assert cascade._second is None  # loaded only for a picture BlazeFace finds no face in
    # the same boxes as the recogniser's own re-framing of BlazeFace's faces
    assert [f.box for f in load().predict(rgb)] == \
        [f.box for f in load(detector="blazeface").predict(rgb)]
    [raw] = Cascade(reframe=False).detect(rgb)
    assert raw.box == pytest.approx(BlazeFace().detect(rgb)[0].box)
    assert face.box != pytest.approx(raw.box)
    # and a recogniser built with reframe=False hands that on to its cascade
    assert load(reframe=False).detector.first.face_check is None


def test_no_face_is_made_up_in_textures_and_noise():
    skimage = pytest.importorskip("skimage.data", reason="textures: the dev extra")
    cascade = open_detector("cascade")
    pictures = {name: getattr(skimage, name)() for name in ("brick", "grass", "gravel",
                                                             "coffee", "rocket")}
    pictures["noise"] = np.random.default_rng(0).integers(0, 256, (240, 320, 3), np.uint8)
    for name, picture in pictures.items():
        rgb = np.asarray(Image.fromarray(picture).convert("RGB"))
        assert cascade.detect(rgb) == [], name
    assert cascade._second is not None  # both detectors looked


def test_pictures_default_to_the_cascade_and_videos_to_blazeface():
    assert DEFAULT_DETECTOR == "cascade" and VIDEO_DETECTOR == "blazeface"
    assert predict_parser().parse_args(["x.jpg"]).detector == DEFAULT_DETECTOR
    assert video_parser().parse_args(["x.mp4"]).detector == VIDEO_DETECTOR
    rec = load()
    assert isinstance(rec.detector, Cascade)
    smaller = rec.with_min_face(40)  # remade by its name, with the new smallest face
    assert isinstance(smaller.detector, Cascade) and smaller.detector.min_face == 40
    assert smaller.detector.first.min_face == 40


def test_centerface_shares_the_cascades_networks_and_finds_the_same_faces():
    cascade = Cascade(min_face=30)
    cascade.warm()  # loaded before any picture needs it, and only once
    second = cascade._second
    assert isinstance(second, CenterFace) and cascade.second is second
    assert second.verifier is cascade.first and second.face_check is cascade.first.face_check
    # the shared BlazeFace looks for smaller faces than CenterFace's own would: no matter
    blurred = out_of_focus_face()
    [face] = cascade.detect(blurred)
    [alone] = CenterFace(min_face=30).detect(blurred)
    assert face.box == pytest.approx(alone.box) and face.score == pytest.approx(alone.score)
    # without re-framing the cascade has no face check, and CenterFace keeps one of its own
    plain = Cascade(reframe=False)
    assert plain.first.face_check is None and plain.second.face_check is not None
    # what re-frames the cascade's faces, as reports (bench/scenes.py) and variants read it
    assert cascade.face_check is cascade.first.face_check and plain.face_check is None


def test_a_recogniser_warms_its_detector_whatever_it_is():
    rec = load()
    assert rec.detector._second is None
    rec.warm()  # what `ferkit serve` does before its first request
    assert rec.detector._second is not None
    load(detector="blazeface").warm()  # nothing loads on first need there

    class NoFaces:  # a detector of the caller's own, with detect() only
        def detect(self, rgb):
            return []

    rec = load(detector=NoFaces())
    rec.warm()
    assert rec.predict(out_of_focus_face()) == []


def test_a_detector_by_name_is_re_framed_and_one_given_keeps_its_boxes():
    """The face check belongs to the detector (open_detector's reframe), not to the
    recogniser: BlazeFace by name comes re-framed, a detector object as it is."""
    rgb = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    [raw] = BlazeFace().detect(rgb)
    [framed] = open_detector("blazeface").detect(rgb)
    assert framed.box != pytest.approx(raw.box)
    assert open_detector("blazeface", reframe=False).detect(rgb)[0].box == pytest.approx(raw.box)
    assert load(detector=BlazeFace()).predict(rgb)[0].box == \
        load(detector="blazeface", reframe=False).predict(rgb)[0].box
    assert load(detector=open_detector("blazeface")).predict(rgb)[0].box == \
        load(detector="blazeface").predict(rgb)[0].box
    # min_face variants (what `ferkit serve` makes per request) keep the re-framing
    assert load(detector="blazeface").with_min_face(40).detector.face_check is not None
    assert load(detector=BlazeFace()).with_min_face(40).detector.face_check is None
    assert load(reframe=False).with_min_face(40).detector.first.face_check is None
