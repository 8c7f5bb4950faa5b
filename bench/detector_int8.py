"""Would int8 make the face detectors faster on this CPU? Quantises ferkit's two shipped
detectors and compares each with the original: speed on the group photo, recall and false
faces on scenes of the scene benchmark (bench/scenes.py).

    python bench/detector_int8.py                   # both detectors, 100 scenes
    python bench/detector_int8.py --detector centerface --scenes 400 --keep int8/

Quantisation as for the classifier (ferkit/quantize.py): ONNX Runtime's static quantisation,
QDQ, weights int8 per channel in 7 bits (--8-bit: 8), activations uint8, calibrated on the
inputs the detector itself gives its model (every pyramid level and second look) over other
scenes than those scored. One JSON line per detector and precision: detect_ms (median over
rounds that alternate the two, group photo 1000x667), recall at IoU >= 0.5 and false faces
per scene, counted as bench/scenes.py counts them (detection only, nothing classified).
"""

import argparse
import contextlib
import io
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import FER, SHARED, device_name, emit, require
from scenes import backgrounds, face_files, make_scene, score

from ferkit.detection import DETECTORS, open_detector
from ferkit.detection.blazeface import BLAZEFACE
from ferkit.detection.centerface import CENTERFACE
from ferkit.detection.framing import FRAME_SCALE, crop_square
from ferkit.export.int8 import fold_fp16_weights
from ferkit.io.images import open_image

MODELS = {"blazeface": BLAZEFACE, "centerface": CENTERFACE}


class Recorder:
    """Keeps every input a detector's ONNX Runtime sessions are given."""

    def __init__(self, detector):
        self.feeds = []
        sessions = ([detector.session] if hasattr(detector, "session") else
                    [s for s in (detector.passes.alone, detector.passes.paired) if s])
        for session in sessions:  # BlazeFace runs its passes alone or two at a time
            session.run = self.recording(session.run)

    def recording(self, run):
        def recorded(outputs, feeds):
            self.feeds.append(feeds)
            return run(outputs, feeds)

        return recorded


def quantize(name: str, images: list[np.ndarray], output: Path, reduce_range: bool = True
             ) -> Path:
    """An int8 copy of a shipped detector, calibrated on what it gives its model for `images`
    (7-bit weights unless `reduce_range` is False: see ferkit/quantize.py)."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    detector = open_detector(name, reframe=False)  # the detector's own network alone
    recorder = Recorder(detector)
    for rgb in images:
        detector.detect(rgb)
    # one picture per call: the pyramid's levels differ in size
    feeds = iter([{k: v[i : i + 1] for k, v in f.items()} for f in recorder.feeds
                  for i in range(len(next(iter(f.values()))))])

    class Inputs(CalibrationDataReader):
        def get_next(self):
            return next(feeds, None)

    proto = onnx.load(MODELS[name])
    fold_fp16_weights(proto)
    # per-channel DequantizeLinear needs opset 13; both converted detectors are older
    proto = version_converter.convert_version(proto, 13)
    with tempfile.TemporaryDirectory() as tmp:
        fp32, pre = Path(tmp) / "fp32.onnx", Path(tmp) / "pre.onnx"
        onnx.save(proto, fp32)
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        with contextlib.redirect_stdout(io.StringIO()):  # the calibrator's chatter
            quantize_static(str(pre), str(output), Inputs(), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, reduce_range=reduce_range)
    return output


def scenes(count: int, seed: int) -> list[tuple[np.ndarray, list]]:
    """(scene, pasted face squares) pairs from the scene benchmark's generator."""
    rng, bgs, faces = random.Random(seed), backgrounds(None), face_files(FER / "test")
    return [(np.asarray(scene), boxes)
            for scene, boxes, _, _ in (make_scene(rng, bgs, faces) for _ in range(count))]


def recall_and_false(detector, scored) -> tuple[float, float]:
    found = false = total = 0
    for rgb, boxes in scored:
        squares = [crop_square(d.box, FRAME_SCALE) for d in detector.detect(rgb)]
        match, f, _ = score(boxes, squares)
        found += sum(m is not None for m in match)
        false += f
        total += len(boxes)
    return round(found / max(total, 1), 4), round(false / len(scored), 4)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--detector", choices=DETECTORS, action="append",
                   help="one detector (default: both)")
    p.add_argument("--scenes", type=int, default=100, help="scenes scored (seed 0)")
    p.add_argument("--calibration", type=int, default=64, help="scenes calibrated on (seed 1)")
    p.add_argument("--rounds", type=int, default=10, help="timing rounds, 10 calls each")
    p.add_argument("--keep", type=Path, help="keep the int8 models in this folder")
    p.add_argument("--8-bit", dest="eight_bit", action="store_true",
                   help="8-bit weights (saturate ONNX Runtime's int8 sums on CPUs without VNNI)")
    args = p.parse_args()
    require(FER / "test")
    group = np.asarray(open_image(SHARED / "photos" / "multi_face.jpg").convert("RGB"))
    photos = [np.asarray(open_image(f).convert("RGB"))
              for f in sorted((SHARED / "photos").iterdir())]
    calibration = photos + [rgb for rgb, _ in scenes(args.calibration, seed=1)]
    scored = scenes(args.scenes, seed=0)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for name in args.detector or DETECTORS:
            int8 = quantize(name, calibration, folder / f"{name}_int8.onnx",
                            reduce_range=not args.eight_bit)
            detectors = {"fp": open_detector(name, reframe=False),
                         "int8": open_detector(name, reframe=False, model=int8)}
            times = {k: [] for k in detectors}
            for d in detectors.values():
                d.detect(group)  # warm-up
            for _ in range(args.rounds):  # alternate, so that a busy spell hits both
                for k, d in detectors.items():
                    for _ in range(10):
                        t0 = time.perf_counter()
                        d.detect(group)
                        times[k].append(time.perf_counter() - t0)
            for k, d in detectors.items():
                recall, false = recall_and_false(d, scored)
                emit(kind="detector_int8", detector=name, precision=k,
                     weight_bits=None if k == "fp" else 8 if args.eight_bit else 7,
                     detect_ms=round(statistics.median(times[k]) * 1e3, 2),
                     faces_in_group_photo=len(d.detect(group)), scenes=len(scored),
                     recall=recall, false_faces_per_image=false,
                     size_mb=round(Path(MODELS[name] if k == "fp" else int8).stat().st_size
                                   / 1e6, 2), device=device_name())


if __name__ == "__main__":
    main()
