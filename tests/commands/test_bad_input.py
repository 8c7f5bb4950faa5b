"""Every command, given what users get wrong (a missing path, an empty folder, a non-image,
a corrupt image, a dataset with nothing usable, a wrong flag value): one `error:` line
naming the cause and exit status 2, never a traceback."""

from __future__ import annotations

import pytest
from conftest import ROOT, assert_user_error, ferkit, free_port, run, write_fer_csv

ASTRONAUT = ROOT / "photos" / "astronaut.png"


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """missing, an empty folder, a text file named .jpg, a truncated PNG, a text file named
    like a model, a truncated model, datasets (folders and a FER2013 CSV) of nothing usable."""
    root = tmp_path_factory.mktemp("bad")
    (root / "empty").mkdir()
    (root / "notes.jpg").write_text("not an image")
    (root / "cut.png").write_bytes(ASTRONAUT.read_bytes()[:3000])
    (root / "notes.onnx").write_text("not a model")
    (root / "notes.pth").write_text("not a checkpoint")
    (root / "cut.onnx").write_bytes((ROOT / "src/ferkit/assets/ferkit_mobilenet_v2.onnx")
                                    .read_bytes()[:5000])
    for split in ("train", "test"):  # 2 classes x 60 unreadable files
        for cls, (name, data) in (("happy", ("x.jpg", b"text")),
                                  ("sad", ("y.png", ASTRONAUT.read_bytes()[:3000]))):
            folder = root / "unreadable" / split / cls
            folder.mkdir(parents=True)
            for i in range(60):
                (folder / f"{i}{name}").write_bytes(data)
    write_fer_csv(root / "letters.csv", {}, [f"3,{'a ' * 2304},{usage}" for usage in
                                             ("Training", "PublicTest") for _ in range(50)])
    return root


# (command line with {bad} for the folder above, what the one error line says)
CASES = [
    # predict
    ("predict {bad}/missing.jpg", "no such file: "),
    ("predict {bad}/empty", "no image files in "),
    ("predict {bad}/notes.jpg", "is not an image Pillow can read"),
    ("predict {bad}/cut.png", "is corrupt or truncated"),
    ("predict {astronaut} --batch-size 0", "--batch-size 0: use 1 or more"),
    ("predict {astronaut} --min-face -5", "smallest face must be a positive size"),
    ("predict {astronaut} --detector haar", "unknown face detector 'haar'"),
    ("predict {astronaut} --output faces.txt", "--output faces.txt: use a .jsonl, .csv or"),
    ("predict {astronaut} --model {bad}/notes.onnx", "notes.onnx"),
    ("predict {astronaut} --model {bad}/cut.onnx", "cut.onnx"),
    ("predict {astronaut} --batch-size x", "invalid int value: 'x'"),
    # video
    ("video {bad}/missing.mp4", "no such video file: "),
    ("video {bad}/empty", "no video files in "),
    ("video {bad}/notes.jpg", "is not a video OpenCV can read"),
    ("video {bad}/cut.png", "is a still image, not a video"),
    ("video {astronaut} --every 0", "every must be 1 or more"),
    ("video {astronaut} --smooth -1", "--smooth must be 0 (off) or more seconds"),
    # explain
    ("explain {bad}/missing.jpg", "no such file: "),
    ("explain {bad}/empty", "is a directory, expected an image file"),
    ("explain {bad}/notes.jpg", "is not an image Pillow can read"),
    ("explain {bad}/cut.png", "is corrupt or truncated"),
    ("explain {astronaut} --top 0", "--top"),
    # crop
    ("crop {bad}/missing {bad}/out", "no such folder: "),
    ("crop {bad}/empty {bad}/out", "no image files in "),
    ("crop {bad}/notes.jpg {bad}/out", "is not a folder"),
    ("crop {bad}/unreadable/train {bad}/out", "all 120 photos in"),
    ("crop {bad}/empty {bad}/out --size 0", "--size"),
    # evaluate, compare, calibrate: a missing, empty or unusable dataset
    ("evaluate --data {bad}/missing", "no such dataset folder: "),
    ("evaluate --data {bad}/empty", "has no class folders"),
    ("evaluate --data {bad}/unreadable/test", "all 120 files of"),
    ("evaluate --data {bad}/letters.csv --split PublicTest",
     "all 50 PublicTest rows of {bad}/letters.csv were skipped: "),
    ("evaluate --data {bad}/unreadable/test --batch-size 0", "--batch-size 0"),
    ("compare int8 fp32 --data {bad}/missing", "no such dataset folder: "),
    ("compare int8 fp32 --data {bad}/empty", "has no class folders"),
    ("compare int8 fp32 --data {bad}/unreadable/test", "all 120 files of"),
    ("compare int8 fp32 --data {bad}/letters.csv --split PublicTest",
     "all 50 PublicTest rows of"),
    ("compare int8 --data {bad}/unreadable/test", "give two or more models"),
    ("calibrate --model fp32 --data {bad}/missing --output {bad}/c.onnx",
     "no such dataset folder: "),
    ("calibrate --model fp32 --data {bad}/empty --output {bad}/c.onnx", "has no class folders"),
    ("calibrate --model fp32 --data {bad}/unreadable/test --output {bad}/c.onnx",
     "all 120 files of"),
    ("calibrate --model fp32 --data {bad}/letters.csv --output {bad}/c.onnx",
     "calibrate reads image folders"),
    ("calibrate --model fp32 --data {bad}/unreadable/test --output {bad}/c.txt",
     "must end in .onnx"),
    # export
    ("export --model {bad}/missing.pth --output {bad}/m.onnx", "missing.pth"),
    ("export --model {bad}/notes.pth --output {bad}/m.onnx", "notes.pth"),
    ("export --model fp32 --output {bad}/m.onnx --int8 {bad}/missing",
     "no such folder for calibration"),
    ("export --model fp32 --output {bad}/m.onnx --int8 {bad}/empty", "no images under"),
    ("export --model fp32 --output {bad}/m.onnx --int8 {bad}/unreadable/train",
     "all 120 files under"),
    ("export --model fp32 --output {bad}/m.onnx --int8 {bad}/notes.jpg",
     "no such folder for calibration"),
    # train
    ("train --data {bad}/missing --output-dir {bad}/run", "no such dataset folder: "),
    ("train --data {bad}/empty --output-dir {bad}/run", "has no train/ folder"),
    ("train --data {bad}/unreadable --output-dir {bad}/run --pretrained none --epochs 1",
     "all 120 files of"),
    ("train --data {bad}/letters.csv --output-dir {bad}/run --pretrained none --epochs 1",
     "all 50 Training rows of {bad}/letters.csv were skipped: "),
    ("train --data {bad}/unreadable --output-dir {bad}/run --epochs x", "invalid int value"),
]


@pytest.mark.parametrize("line,says", CASES, ids=[f"{c[0].split()[0]}-{i}"
                                                  for i, c in enumerate(CASES)])
def test_each_command_says_what_is_wrong_in_one_line(bad, line, says):
    fill = {"bad": bad, "astronaut": ASTRONAUT}
    argv = [part.format(**fill) for part in line.split()]
    r = ferkit(*argv)
    code, err = r.returncode, r.stderr
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(
        "warning: ")]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert says.format(**fill) in lines[0], lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("flags,says", [
    (["--model", "{bad}/missing.onnx"], "no such model"),
    (["--model", "{bad}/notes.onnx"], "notes.onnx"),
    (["--model", "{bad}/cut.onnx"], "cut.onnx"),
    (["--model", "{bad}/empty"], "empty"),
    (["--port", "-1"], "--port"),
    (["--workers", "0"], "--workers"),
    (["--max-upload-mb", "0"], "--max-upload-mb"),
    (["--detector", "haar"], "unknown face detector"),
])
def test_serve_refuses_bad_options_before_it_listens(bad, flags, says):
    r = run("-m", "ferkit", "serve", "--port", str(free_port()),
            *[f.format(bad=bad) for f in flags], timeout=120)
    assert_user_error(r, says.format(bad=bad))
