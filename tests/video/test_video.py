"""Video: `ferkit video` and `predict_video`, face ids, smoothing, streams, annotated files."""

import csv
import http.server
import io
import itertools
import json
import socket
import threading
import time
from fractions import Fraction

import numpy as np
import pytest
from conftest import (
    ROOT,
    SHARED,
    LocalHTTPServer,
    assert_user_error,
    ferkit,
    ferkit_without,
    free_port,
    requires_photos,
)
from PIL import Image

from ferkit import Face, FerkitError, load
from ferkit.video.frames import Track, analyse, new_tracker

cv2 = pytest.importorskip("cv2", reason="ferkit[video] (OpenCV) is not installed")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """12 frames at 10 fps: the group photo panning slowly, then 4 frames of landscape."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    group = np.asarray(Image.open(SHARED / "photos" / "multi_face.jpg").convert("RGB"))
    empty = np.asarray(Image.open(SHARED / "photos" / "landscape_no_face.jpg").convert("RGB")
                       .resize((960, 627)))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (960, 627))
    for i in range(8):
        writer.write(np.ascontiguousarray(group[i * 3 : i * 3 + 627, i * 4 : i * 4 + 960, ::-1]))
    for _ in range(4):
        writer.write(np.ascontiguousarray(empty[:, :, ::-1]))
    writer.release()
    return path


@requires_photos
def test_faces_keep_their_ids_and_outputs_are_written(clip, tiny_onnx, tmp_path):
    r = ferkit("video", str(clip), "--model", str(tiny_onnx), "--output",
               str(tmp_path / "f.csv"), "--annotate", str(tmp_path / "a.mp4"), "--plot",
               str(tmp_path / "t.png"))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((tmp_path / "f.csv").read_text().splitlines()))
    assert [int(row["frame"]) for row in rows if not row["face"]] == [8, 9, 10, 11]  # no face
    assert {int(row["frame"]) for row in rows if row["face"]} == set(range(8))
    assert sorted({row["face_id"] for row in rows if row["face"]}) == ["1", "2", "3", "4", "5"]
    for fid in "12345":
        assert sum(row["face_id"] == fid for row in rows) == 8
    assert "5 face(s)" in r.stdout and r.stdout.count("mostly") == 5
    out = cv2.VideoCapture(str(tmp_path / "a.mp4"))
    assert int(out.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert Image.open(tmp_path / "t.png").size[0] > 300


@requires_photos
def test_every_k_frames(clip, tiny_onnx, tmp_path):
    r = ferkit("video", str(clip), "--model", str(tiny_onnx), "--every", "3",
               "--output", str(tmp_path / "f.csv"), "--plot", str(tmp_path / "t.svg"))
    assert r.returncode == 0, r.stderr
    assert "<svg" in (tmp_path / "t.svg").read_text()[:1000]  # the format its name says
    rows = list(csv.DictReader((tmp_path / "f.csv").read_text().splitlines()))
    assert [int(row["frame"]) for row in rows if not row["face"]] == [9]  # the landscape
    assert {int(row["frame"]) for row in rows if row["face"]} == {0, 3, 6}


def test_smoothing_steadies_a_flickering_face_and_follows_a_real_change():
    classes = ["happy", "neutral"]

    def face(happy: float) -> Face:
        return Face((0, 0, 40, 40), {"happy": happy, "neutral": 1 - happy}, 0.9)

    # 10 frames/s: mostly neutral with a happy blip every third frame, then happy from 2 s
    seen = [face(0.6 if i % 3 == 2 else 0.35) for i in range(20)] + [face(0.9)] * 10
    raw, steady = Track(1, (0, 0, 40, 40), 0), Track(2, (0, 0, 40, 40), 0)
    raw_labels = [raw.observe(f, i / 10, classes).label for i, f in enumerate(seen)]
    labels = [steady.observe(f, i / 10, classes, smooth=0.5).label for i, f in enumerate(seen)]
    assert raw_labels[:20].count("happy") == 6  # the flicker smoothing is for
    assert labels[:20] == ["neutral"] * 20
    assert labels[21:] == ["happy"] * 9  # the change shows within 0.1 s
    assert raw.probs[5] == [0.6, 0.4] and steady.probs[5][0] < 0.5
    assert steady.labels["neutral"] >= 20  # the summary counts what was shown
    # after a long gap the track's old state is forgotten
    assert steady.observe(face(0.2), 10.0, classes, smooth=0.5).probs["happy"] == (
        pytest.approx(0.2, abs=1e-6))


@requires_photos
def test_smooth_averages_each_face_over_time(clip, tmp_path):
    spreads = []
    for flags in ([], ["--smooth", "1"]):
        out = tmp_path / f"f{len(flags)}.csv"
        r = ferkit("video", str(clip), "--output", str(out), *flags)  # the bundled model
        assert r.returncode == 0, r.stderr
        rows = list(csv.DictReader(out.read_text().splitlines()))
        spreads.append([np.std([float(row["happy"]) for row in rows if row["face_id"] == fid])
                        for fid in "12345"])
    assert all(s < r / 2 for s, r in zip(spreads[1], spreads[0], strict=True)), spreads


def test_video_errors(tiny_onnx, tmp_path):
    assert_user_error(ferkit("video", str(tmp_path / "none.mp4"), "--model", str(tiny_onnx)),
                      "no such video file")
    (tmp_path / "fake.mp4").write_text("not a video")
    assert_user_error(ferkit("video", str(tmp_path / "fake.mp4"), "--model", str(tiny_onnx)),
                      "not a video")
    Image.new("RGB", (64, 48)).save(tmp_path / "photo.png")  # FFmpeg would "play" it
    for flags, says in ((["--max-frames", "0"], "--max-frames must be 1 or more"),
                        (["--smooth", "-1"], "--smooth must be 0 (off) or more seconds"),
                        (["--plot", "t.txt"], "--plot t.txt: use a file name ending in .png"),
                        (["--annotate", "a.png"], "--annotate a.png: use a file name ending")):
        assert_user_error(ferkit("video", str(tmp_path / "photo.png"), "--model",
                                 str(tiny_onnx), *flags), says)
    assert_user_error(ferkit("video", str(tmp_path / "photo.png"), "--model", str(tiny_onnx)),
                      "is a still image, not a video")
    assert_user_error(ferkit("video", "--camera", "7", "--model", str(tiny_onnx)),
                      "cannot open camera 7")
    assert_user_error(ferkit("video", "--model", str(tiny_onnx)), "one of them")


def test_several_videos_are_analysed_one_after_another(tmp_path):
    """A folder of videos without Ray: each file's rows as `ferkit video FILE` writes them,
    with its name; a summary per face per video; a broken file is an error row and the rest
    go on; a video named twice is analysed once."""
    phone = ROOT / "tests" / "data" / "astronaut_phone_rotated.mp4"
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    (videos / "a.mp4").write_bytes(phone.read_bytes())
    (videos / "sub" / "b.mov").write_bytes(phone.read_bytes())
    (videos / "broken.mp4").write_text("not a video")
    writer = cv2.VideoWriter(str(videos / "blank.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 10,
                             (320, 240))
    for _ in range(4):
        writer.write(np.full((240, 320, 3), 120, np.uint8))
    writer.release()
    rows, summary = tmp_path / "rows.csv", tmp_path / "summary.jsonl"
    r = ferkit("video", str(videos), str(videos / "a.mp4"), "--every", "2", "--output",
               str(rows), "--summary", str(summary))
    assert r.returncode == 2, r.stderr
    assert [line for line in r.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {videos / 'broken.mp4'} is not a video OpenCV can read"]
    assert f"{videos / 'blank.mp4'}: no face found" in r.stdout
    assert "4 video(s): 2 face(s) tracked, no face in 1, 1 unreadable" in r.stdout
    table = list(csv.DictReader(rows.read_text().splitlines()))
    assert [row["video"] for row in table].count(str(videos / "a.mp4")) == 5  # frames 0, 2, ..
    single = tmp_path / "single.csv"
    assert ferkit("video", str(phone), "--every", "2", "--output", str(single)).returncode == 0
    expected = list(csv.DictReader(single.read_text().splitlines()))
    for name in ("a.mp4", "sub/b.mov"):
        mine = [row for row in table if row["video"] == str(videos / name)]
        assert [(m["frame"], m["face_id"], m["x0"], m["label"]) for m in mine] == [
            (e["frame"], e["face_id"], e["x0"], e["label"]) for e in expected]
    assert {row["faces"] for row in table if row["video"].endswith("blank.mp4")} == {"0"}
    faces = [json.loads(line) for line in summary.read_text().splitlines()]
    assert [(f["video"], f["face_id"], f["frames"], f["dominant"]) for f in faces] == [
        (str(videos / "a.mp4"), 1, 5, "happy"), (str(videos / "sub" / "b.mov"), 1, 5, "happy")]
    # one video: the same summary, on request
    r = ferkit("video", str(phone), "--every", "2", "--summary", str(tmp_path / "one.csv"))
    assert r.returncode == 0, r.stderr
    [one] = list(csv.DictReader((tmp_path / "one.csv").read_text().splitlines()))
    assert (one["face_id"], one["frames"], one["dominant"]) == ("1", "5", "happy")


def test_several_videos_stopped_by_ctrl_c_keep_the_videos_done(tmp_path, monkeypatch):
    from ferkit.video import files as videos

    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (folder / name).write_bytes((ROOT / "tests/data/astronaut_phone_rotated.mp4").read_bytes())
    real, seen = videos.video_records, []

    def ctrl_c_on_the_second(recognizer, path, *args):
        seen.append(path)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real(recognizer, path, *args)

    monkeypatch.setattr(videos, "video_records", ctrl_c_on_the_second)
    rows, summary = tmp_path / "rows.csv", tmp_path / "summary.csv"
    r = ferkit("video", str(folder), "--every", "5", "--output", str(rows), "--summary",
               str(summary))
    assert r.returncode == 130 and "stopped during" in r.stderr
    assert {row["video"] for row in csv.DictReader(rows.open())} == {str(folder / "a.mp4")}
    assert [row["video"] for row in csv.DictReader(summary.open())] == [str(folder / "a.mp4")]


def test_several_videos_refuse_what_takes_one(tmp_path):
    (tmp_path / "empty").mkdir()
    assert_user_error(ferkit("video", str(tmp_path / "empty")), "no video files in")
    for flags, says in ((["--annotate", "a.mp4"], "annotated into a folder"),
                        (["--plot", "t.png"], "take one video"),
                        (["--output", "rows.txt"], "use a .jsonl, .csv or .parquet"),
                        (["--summary", "s.txt"], "--summary s.txt: use a .jsonl")):
        assert_user_error(ferkit("video", str(tmp_path), *flags), says)
    assert_user_error(ferkit("video", str(tmp_path), "rtsp://127.0.0.1:9/x"), "on its own")
    (tmp_path / "a.mp4").write_bytes((ROOT / "tests/data/astronaut_phone_rotated.mp4").read_bytes())
    assert_user_error(ferkit_without("pyarrow", "video", str(tmp_path), "--output",
                                     str(tmp_path / "rows.parquet")), "Parquet needs pyarrow")


@pytest.fixture
def mjpeg_stream():
    """An IP camera on 127.0.0.1: 10 JPEG frames of the astronaut panning, as MJPEG over HTTP
    (multipart/x-mixed-replace), then the connection ends. Yields its port."""
    astronaut = np.asarray(Image.open(ROOT / "photos" / "astronaut.png").convert("RGB"))
    frames = []
    for i in range(10):
        buf = io.BytesIO()
        Image.fromarray(np.roll(astronaut, 3 * i, axis=1)).save(buf, "JPEG", quality=85)
        frames.append(buf.getvalue())

    class Camera(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            for jpeg in frames:
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                 b"%d\r\n\r\n%s\r\n" % (len(jpeg), jpeg))

    server = LocalHTTPServer(("127.0.0.1", 0), Camera)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_network_stream_is_read_like_a_file_and_its_password_never_shown(mjpeg_stream,
                                                                         tmp_path):
    url = f"http://viewer:s3cret@127.0.0.1:{mjpeg_stream}/video"
    r = ferkit("video", url, "--output", str(tmp_path / "f.csv"))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((tmp_path / "f.csv").read_text().splitlines()))
    assert [int(row["frame"]) for row in rows] == list(range(10))
    assert {row["face_id"] for row in rows} == {"1"} and {row["label"] for row in rows} == {
        "happy"}
    assert "10 frames" in r.stdout and "viewer:***@127.0.0.1" in r.stdout
    assert "s3cret" not in r.stdout + r.stderr


@pytest.fixture
def rtsp_camera():
    """An IP camera on 127.0.0.1: an RTSP server (rtsp-rs) streaming the astronaut moving,
    H.264 at 15 fps (PyAV's x264), until the test ends. Yields its stream's URL."""
    rtsp = pytest.importorskip("rtsp", reason="rtsp-rs (the dev extra) is not installed")
    av = pytest.importorskip("av", reason="PyAV (the video extra) is not installed")
    astronaut = np.asarray(Image.open(ROOT / "photos" / "astronaut.png").convert("RGB")
                           .resize((320, 320)))
    port = free_port()
    server = rtsp.Server(f"127.0.0.1:{port}")
    server.start()
    stop = threading.Event()

    def broadcast():
        encoder = av.CodecContext.create("libx264", "w")
        encoder.width = encoder.height = 320
        encoder.pix_fmt = "yuv420p"
        encoder.time_base = Fraction(1, 15)
        encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "g": "5"}
        for i in itertools.count():
            if stop.is_set():
                return
            shift = 2 * abs(i % 20 - 10)  # to and fro: the face moves, never jumps
            frame = av.VideoFrame.from_ndarray(np.roll(astronaut, shift, axis=1), format="rgb24")
            frame.pts = i
            for packet in encoder.encode(frame):
                server.send_frame(bytes(packet), 90_000 // 15)
            time.sleep(1 / 15)

    thread = threading.Thread(target=broadcast, daemon=True)
    thread.start()
    yield f"rtsp://127.0.0.1:{port}/stream"
    stop.set()
    thread.join(timeout=5)
    server.stop()


def test_an_rtsp_camera_is_read_until_max_frames(rtsp_camera, tmp_path):
    r = ferkit("video", rtsp_camera, "--max-frames", "12", "--output", str(tmp_path / "f.csv"))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((tmp_path / "f.csv").read_text().splitlines()))
    assert [int(row["frame"]) for row in rows] == list(range(12)), rows
    assert {row["face_id"] for row in rows} == {"1"}, rows
    assert {row["label"] for row in rows} == {"happy"}
    frames = list(load().predict_video(rtsp_camera, every=2, max_frames=6))
    assert [f.number for f in frames] == [0, 2, 4]
    assert all(len(f.faces) == 1 and f.faces[0].label == "happy" for f in frames)


def test_a_stream_that_does_not_answer_is_one_line(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert_user_error(ferkit("video", f"rtsp://admin:pw@127.0.0.1:{port}/live"),
                      f"cannot open the stream rtsp://admin:***@127.0.0.1:{port}/live")
    assert_user_error(ferkit("video", "--ray", "--output", str(tmp_path / "o.csv"),
                             "rtsp://camera/live"), "a live stream is read without --ray")


def test_a_phone_video_with_rotation_metadata_is_read_upright(tmp_path):
    """tests/data/astronaut_phone_rotated.mp4: photos/astronaut.png at 256 px coded a quarter
    turn round, with a display rotation of -90 in the MP4 (as a phone held upright records;
    1 s, 10 fps, H.264, made with FFmpeg 9). Read sideways, the face would be SAD."""
    r = ferkit("video", str(ROOT / "tests" / "data" / "astronaut_phone_rotated.mp4"),
               "--output", str(tmp_path / "f.csv"))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((tmp_path / "f.csv").read_text().splitlines()))
    assert len(rows) == 10 and {row["label"] for row in rows} == {"happy"}
    box = [int(rows[0][k]) for k in ("x0", "y0", "x1", "y1")]
    upright = [v / 2 for v in load().predict(ROOT / "photos" / "astronaut.png")[0].box]
    assert np.abs(np.subtract(box, upright)).max() <= 6, (box, upright)


@requires_photos
def test_frames_in_between_are_passed_over_without_their_pixels(clip):
    """--every without --annotate (and predict_video, and a folder of videos): the frames
    between analysed ones are grabbed, not converted to pixels; the analysed ones come out
    the same as when every frame is read."""

    class Counting:  # an OpenCV capture that notes how each frame is read
        def __init__(self):
            self.cap, self.calls = cv2.VideoCapture(str(clip)), []

        def read(self):
            self.calls.append("read")
            return self.cap.read()

        def grab(self):
            self.calls.append("grab")
            return self.cap.grab()

        def get(self, prop):
            return self.cap.get(prop)

    rec, runs = load(), {}
    for pixels in (True, False):
        cap = Counting()
        runs[pixels] = cap.calls, list(analyse(rec, cap, new_tracker(cap, 3), 3, pixels=pixels))
    (every_read, all_frames), (calls, frames) = runs[True], runs[False]
    # 12 frames (then the end, read one frame ahead), every third one analysed
    assert set(every_read) == {"read"} and calls[:12] == ["read", "grab", "grab"] * 4
    assert [f.number for f in frames] == [f.number for f in all_frames] == list(range(12))
    assert all((f.rgb is None) != f.analysed for f in frames)
    for f, g in zip(frames, all_frames, strict=True):
        assert (f.ids, [x.probs for x in f.faces]) == (g.ids, [x.probs for x in g.faces])
        if f.analysed:
            assert np.array_equal(f.rgb, g.rgb)


@requires_photos
def test_the_next_frame_is_decoded_meanwhile_and_reading_stops_with_the_caller(clip):
    """Frames are read one ahead in a background thread; a caller that stops early (and
    then releases the capture) never has it released under a read still going on."""

    class Slow:  # an OpenCV capture that takes its time and notes who reads it and when
        def __init__(self):
            self.cap, self.readers, self.reading, self.torn = cv2.VideoCapture(str(clip)), [], 0, 0

        def read(self):
            self.reading += 1
            self.readers.append(threading.current_thread().name)
            time.sleep(0.05)
            frame = self.cap.read()
            self.reading -= 1
            return frame

        def get(self, prop):
            return self.cap.get(prop)

        def release(self):
            self.torn += self.reading
            self.cap.release()

    cap = Slow()
    frames = analyse(load(), cap, new_tracker(cap, 1), 1)
    assert [next(frames).number, next(frames).number] == [0, 1]
    frames.close()  # frame 2 is being read now
    cap.release()
    assert cap.torn == 0 and len(cap.readers) == 3
    assert all(name.startswith("ferkit-read") for name in cap.readers)


@requires_photos
def test_predict_video_yields_each_analysed_frame_with_ids(clip, tmp_path):
    rec = load()
    frames = list(rec.predict_video(clip, every=2))
    assert [f.number for f in frames] == [0, 2, 4, 6, 8, 10]
    assert [f.time for f in frames] == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert [len(f.faces) for f in frames] == [5, 5, 5, 5, 0, 0]  # then the landscape
    assert all(f.ids == [1, 2, 3, 4, 5] for f in frames[:4])  # each face keeps its id
    assert frames[0].rgb.shape[1:] == (960, 3) and frames[0].rgb.dtype == np.uint8
    assert [face.label for face in frames[0].faces] == [
        face.label for face in rec.predict(frames[0].rgb)]
    first = next(iter(rec.predict_video(clip, max_frames=1)))
    assert first.number == 0 and len(first.faces) == 5
    for source, message in ((tmp_path / "none.mp4", "no such video file"),
                            (ROOT / "photos" / "astronaut.png", "is a still image"),
                            (99, "cannot open camera 99"),
                            ("0", "webcam 0: the number 0")):
        with pytest.raises(FerkitError, match=message):
            rec.predict_video(source)  # at once, not when the loop starts
    with pytest.raises(FerkitError, match="every must be 1 or more"):
        rec.predict_video(clip, every=0)


@requires_photos
def test_an_annotated_video_is_h264_and_keeps_every_frame(clip, tmp_path):
    av = pytest.importorskip("av", reason="ferkit[video] (PyAV) is not installed")
    out = tmp_path / "boxed.mp4"
    r = ferkit("video", str(clip), "--annotate", str(out), "--every", "4")
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as video:
        stream = video.streams.video[0]
        assert stream.codec_context.name == "h264"  # what browsers play (not OpenCV's mp4v)
        frames = [f.to_ndarray(format="rgb24") for f in video.decode(stream)]
    source = cv2.VideoCapture(str(clip))
    assert len(frames) == int(source.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    ok, first = source.read()
    assert frames[0].shape[:2] == tuple(s + s % 2 for s in first.shape[:2])
    # the picture survives encoding: the first frame's box-free corner matches the source
    corner = np.abs(frames[0][:100, -100:].astype(int) - first[:100, -100:, ::-1]).mean()
    assert corner < 8, corner


def test_several_videos_are_annotated_into_a_folder_one_video_each(clip, tmp_path):
    """--annotate FOLDER with several videos: one H.264 video per input, named after it (-2
    for a name seen before), each as `ferkit video FILE --annotate` draws it; none for a
    file that cannot be read."""
    av = pytest.importorskip("av", reason="ferkit[video] (PyAV) is not installed")
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    for name in ("clip.mp4", "sub/clip.mp4"):
        (videos / name).write_bytes(clip.read_bytes())
    (videos / "broken.mp4").write_text("not a video")
    out, single = tmp_path / "boxed", tmp_path / "single.mp4"
    r = ferkit("video", str(videos), "--annotate", str(out), "--every", "4")
    assert r.returncode == 2 and "broken.mp4 is not a video" in r.stderr, r.stderr
    assert f"annotated videos in {out}" in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["clip-2.mp4", "clip.mp4", "index.html"]
    page = (out / "index.html").read_text()
    assert page.count("<video") == 2 and 'src="clip-2.mp4"' in page and "broken" not in page
    assert "#1 mostly happy" in page and "3 video(s): 10 face(s) tracked" in page
    assert ferkit("video", str(clip), "--annotate", str(single), "--every", "4").returncode == 0

    def decoded(path):
        with av.open(str(path)) as video:
            assert video.streams.video[0].codec_context.name == "h264"
            return np.stack([f.to_ndarray(format="rgb24") for f in video.decode(video=0)])

    expected = decoded(single)
    assert len(expected) == 12
    for name in ("clip.mp4", "clip-2.mp4"):
        frames = decoded(out / name)
        assert frames.shape == expected.shape
        assert np.abs(frames.astype(int) - expected).mean() < 1


def test_video_writer_evens_odd_sizes_and_fails_early_on_a_bad_path(tmp_path):
    av = pytest.importorskip("av", reason="ferkit[video] (PyAV) is not installed")
    from ferkit.video.writer import VideoWriter

    rgb = np.zeros((21, 31, 3), np.uint8)
    rgb[:, -1] = 255  # the last column, repeated into the padding
    with VideoWriter(tmp_path / "odd.mp4", 29.97) as writer:
        for _ in range(3):
            writer.write(rgb)
    with av.open(str(tmp_path / "odd.mp4")) as video:
        frames = [f.to_ndarray(format="rgb24") for f in video.decode(video=0)]
        assert float(video.streams.video[0].average_rate) == pytest.approx(29.97, abs=0.01)
    assert len(frames) == 3 and frames[0].shape == (22, 32, 3)
    assert frames[0][:, -2:].mean() > 200 and frames[0][:, :28].mean() < 20
    (tmp_path / "file").write_text("")
    with pytest.raises(FerkitError, match="cannot write a video to"):
        VideoWriter(tmp_path / "file" / "out.mp4", 25)


def test_annotate_without_pyav_is_one_line(tmp_path):
    r = ferkit_without("av", "video", str(ROOT / "tests" / "data" / "astronaut_phone_rotated.mp4"),
                       "--annotate", str(tmp_path / "a.mp4"))
    assert_user_error(r, "needs PyAV: pip install 'ferkit[video]'")
    assert not (tmp_path / "a.mp4").exists()


def test_a_video_without_faces_says_how_to_look_for_smaller_ones(tmp_path):
    path = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    for _ in range(5):
        writer.write(np.full((240, 320, 3), 128, np.uint8))
    writer.release()
    r = ferkit("video", str(path), "--every", "2")
    assert r.returncode == 0 and "No face found." in r.stdout
    assert "no face found in 3 analysed frame(s)" in r.stderr and "--min-face" in r.stderr
    assert "note:" not in ferkit("video", str(path), "--min-face", "30").stderr


def talk_clip(path, seconds: int = 2):
    """A clip with sound: the astronaut for `seconds` at 10 fps and a 440 Hz tone (AAC)."""
    av = pytest.importorskip("av", reason="ferkit[video] (PyAV) is not installed")
    rgb = np.asarray(Image.open(ROOT / "photos" / "astronaut.png").convert("RGB")
                     .resize((256, 256)))
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width = video.height = 256
        video.pix_fmt = "yuv420p"
        sound = out.add_stream("aac", rate=16000)
        sound.layout = "mono"
        for _ in range(10 * seconds):
            out.mux(video.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        tone = np.sin(2 * np.pi * 440 * np.arange(16000 * seconds) / 16000).astype(np.float32)
        for start in range(0, len(tone), 1024):
            frame = av.AudioFrame.from_ndarray(0.3 * tone[None, start:start + 1024],
                                               format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            out.mux(sound.encode(frame))
        out.mux(video.encode())
        out.mux(sound.encode())
    return path


def test_an_annotated_video_keeps_the_sound_up_to_its_last_frame(tmp_path):
    av = pytest.importorskip("av", reason="ferkit[video] (PyAV) is not installed")
    talk = talk_clip(tmp_path / "talk.mp4")
    for extra, seconds in (([], 2.0), (["--max-frames", "10"], 1.0)):
        r = ferkit("video", str(talk), "--annotate", str(tmp_path / "boxed.mp4"), *extra)
        assert r.returncode == 0, r.stderr
        with av.open(str(tmp_path / "boxed.mp4")) as out:
            video, sound = out.streams.video[0], out.streams.audio[0]
            assert sound.codec_context.name == "aac" and sound.sample_rate == 16000
            assert float(video.duration * video.time_base) == pytest.approx(seconds)
            # copied as it is, packet by packet, and cut where the frames end (AAC: 64 ms)
            assert float(sound.duration * sound.time_base) == pytest.approx(seconds, abs=0.07)
            kinds = [p.stream.type[0] for p in out.demux() if p.pts is not None]
        assert "v" in kinds[len(kinds) // 2:] and "a" in kinds[: len(kinds) // 2]  # interleaved
