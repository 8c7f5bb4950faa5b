"""The scene benchmark: FER2013 faces pasted into real photos and textures, detected and
classified by ferkit, scored against where they were put.

    python bench/scenes.py                          # 400 scenes, the bundled int8 model
    python bench/scenes.py --min-face 40 --threshold 0.7 --save scenes/
    python bench/scenes.py --detector centerface --min-face 50  # the sharper detector
    python bench/scenes.py --detector centerface --no-face-check  # it, without its check
    python bench/scenes.py --faces DIR --backgrounds DIR --seed 7   # another scene set

Each scene is 640x480, cut from a background (random place, scale, mirror, sometimes tinted)
with 0-4 faces of 50-350 px: FER2013 crops (default: PublicTest) upscaled, edges feathered,
some tinted, never overlapping. A face counts as found when the square ferkit crops for
classification overlaps the pasted square at IoU >= 0.5; a detection overlapping no pasted
face at IoU >= 0.3 is a false face (one between 0.3 and 0.5 is a loose box: a miss, not a
false face). Prints one JSON line per size band, one for the whole set, and a `targets` line:
issue 12's bars (recall >= 95%, <= 0.03 false faces per image, end to end within 3 points
of the original crops), each value and whether it is met.
"""

import argparse
import math
import random
import statistics
import time
from pathlib import Path

import numpy as np
from _common import FER, SHARED, device_name, emit, require
from PIL import Image, ImageDraw, ImageFilter

from ferkit.detection import DETECTORS, open_detector
from ferkit.detection.boxes import iou
from ferkit.detection.framing import FRAME_SCALE, crop_square
from ferkit.recognition.recognizer import load

W, H = 640, 480
# scikit-image's sample photos and textures with no human face in them (the dev extra
# installs it); the project's own no-face photo is always used.
SKIMAGE_BACKGROUNDS = ["coffee", "chelsea", "rocket", "brick", "grass", "gravel", "coins",
                       "moon", "hubble_deep_field", "immunohistochemistry", "retina", "cell",
                       "page", "text"]
BANDS = [(50, 100), (100, 200), (200, 351)]


def backgrounds(folder: Path | None) -> list[Image.Image]:
    if folder is not None:
        return [Image.open(p).convert("RGB") for p in sorted(folder.iterdir())
                if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp", ".webp"}]
    images = [Image.open(SHARED / "photos" / "landscape_no_face.jpg").convert("RGB")]
    try:
        import skimage.data
    except ImportError:
        print("note: scikit-image is not installed: one background photo only")
        return images
    for name in SKIMAGE_BACKGROUNDS:
        arr = getattr(skimage.data, name)()
        images.append(Image.fromarray(arr).convert("RGB"))
    return images


def face_files(root: Path) -> list[tuple[Path, str]]:
    return [(p, c.name) for c in sorted(root.iterdir()) if c.is_dir()
            for p in sorted(c.iterdir())]


def tint(img: Image.Image, rng: random.Random) -> Image.Image:
    colour = np.array([rng.uniform(0.7, 1.15) for _ in range(3)], np.float32)
    return Image.fromarray(np.clip(np.asarray(img, np.float32) * colour, 0, 255)
                           .astype(np.uint8))


def make_scene(rng: random.Random, bgs, faces):
    """(scene, [(x0, y0, x1, y1), ...], [label, ...], [original 48x48 crop, ...])"""
    bg = rng.choice(bgs)
    zoom = max(W / bg.width, H / bg.height) * rng.uniform(1.0, 2.0)
    bg = bg.resize((math.ceil(bg.width * zoom), math.ceil(bg.height * zoom)))
    x, y = rng.randint(0, bg.width - W), rng.randint(0, bg.height - H)
    scene = bg.crop((x, y, x + W, y + H))
    if rng.random() < 0.5:
        scene = scene.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.3:
        scene = tint(scene, rng)
    boxes, labels, crops = [], [], []
    for _ in range(rng.randint(0, 4)):
        path, label = rng.choice(faces)
        size = round(math.exp(rng.uniform(math.log(50), math.log(350))))
        box = free_place(rng, boxes, size)
        if box is None:
            continue
        crop = Image.open(path).convert("L")
        paste_square(scene, crop, box, rng)
        boxes.append(box)
        labels.append(label)
        crops.append(np.asarray(crop))
    return scene, boxes, labels, crops


def free_place(rng: random.Random, boxes: list, size: int) -> tuple | None:
    """A size x size square of the scene clear of `boxes` (20 tries), or None."""
    for _ in range(20):
        x, y = rng.randint(0, W - size), rng.randint(0, H - size)
        box = (x, y, x + size, y + size)
        if all(iou(box, b) == 0 and not _near(box, b) for b in boxes):
            return box
    return None


def paste_square(scene: Image.Image, image: Image.Image, box, rng: random.Random) -> None:
    """Paste `image` upscaled into the square `box` of `scene`, a third of the time tinted, its
    edges feathered."""
    size = box[2] - box[0]
    image = image.resize((size, size), Image.Resampling.BICUBIC).convert("RGB")
    if rng.random() < 0.3:
        image = tint(image, rng)
    feather = max(2, size // 16)
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rectangle((feather, feather, size - feather, size - feather), 255)
    scene.paste(image, box[:2], mask.filter(ImageFilter.GaussianBlur(feather / 2)))


def _near(a, b, gap: int = 8) -> bool:
    return not (a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1]
                or b[3] + gap <= a[1])


def score(truth, found) -> tuple[list, int, int]:
    """Greedy one-to-one matching by IoU: (for each pasted face, the matched detection index
    or None), false faces, loose boxes."""
    pairs = sorted(((iou(t, f), i, j) for i, t in enumerate(truth)
                    for j, f in enumerate(found)), reverse=True)
    match, used = [None] * len(truth), set()
    for overlap, i, j in pairs:
        if overlap >= 0.5 and match[i] is None and j not in used:
            match[i] = j
            used.add(j)
    false = loose = 0
    for j, f in enumerate(found):
        if j in used:
            continue
        best = max((iou(t, f) for t in truth), default=0.0)
        false += best < 0.3
        loose += best >= 0.3
    return match, false, loose


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a .onnx model, or fp32 (default: the bundled int8 model)")
    p.add_argument("--faces", type=Path, default=FER / "test",
                   help="FER-layout folder of face crops (default: FER2013 PublicTest)")
    p.add_argument("--backgrounds", type=Path, help="a folder of face-free photos")
    p.add_argument("--scenes", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--detector", choices=DETECTORS, default="blazeface")
    p.add_argument("--min-face", type=float, help="the detector's smallest face, pixels")
    p.add_argument("--threshold", type=float, help="the detector's score threshold")
    p.add_argument("--no-face-check", action="store_true",
                   help="CenterFace without its face check (its candidates as with it)")
    p.add_argument("--save", type=Path, help="write the first 12 scenes, boxes drawn, here")
    args = p.parse_args()
    require(args.faces)

    options = {k: v for k, v in (("min_face", args.min_face),
                                 ("score_threshold", args.threshold)) if v is not None}
    if args.threshold is not None and args.detector == "cascade":
        p.error("--threshold goes with --detector blazeface or centerface (the cascade keeps "
                "each one's own)")
    if args.no_face_check:
        if args.detector != "centerface":
            p.error("--no-face-check goes with --detector centerface")
        options["check"] = False
    rec = load(args.model, detector=open_detector(args.detector, **options))
    rng = random.Random(args.seed)
    bgs, faces = backgrounds(args.backgrounds), face_files(args.faces)
    rows, false_faces, loose_boxes, times, originals, truth_labels = [], 0, 0, [], [], []
    for n in range(args.scenes):
        scene, boxes, labels, crops = make_scene(rng, bgs, faces)
        rgb = np.asarray(scene)
        t0 = time.perf_counter()
        found = rec.predict(rgb)
        times.append(time.perf_counter() - t0)
        squares = [crop_square(f.box, FRAME_SCALE) for f in found]
        match, false, loose = score(boxes, squares)
        false_faces += false
        loose_boxes += loose
        for box, label, j in zip(boxes, labels, match, strict=True):
            rows.append((box[2] - box[0], label, None if j is None else found[j].label))
        originals += crops
        truth_labels += labels
        if args.save and n < 12:
            args.save.mkdir(parents=True, exist_ok=True)
            draw = ImageDraw.Draw(scene)
            for box in boxes:
                draw.rectangle(box, outline=(0, 255, 0), width=2)
            for sq in squares:
                draw.rectangle(sq, outline=(255, 0, 0), width=2)
            scene.save(args.save / f"scene_{n:02d}.png")

    original_acc = float(np.mean([rec.classes[i] == t for i, t in zip(
        rec.classify(originals).argmax(1), truth_labels, strict=True)])) if originals else 0.0
    config = {"detector": args.detector, "min_face": rec.detector.min_face,
              "face_check": getattr(rec.detector, "face_check", None) is not None,
              "threshold": getattr(rec.detector, "score_threshold", None), "seed": args.seed,
              "device": device_name()}
    for lo, hi in BANDS:
        band = [r for r in rows if lo <= r[0] < hi]
        emit(kind="scene_band", face_px=f"{lo}-{hi - 1}", faces=len(band),
             recall=_ratio(sum(r[2] is not None for r in band), len(band)), **config)
    found_rows = [r for r in rows if r[2] is not None]
    result = dict(recall=_ratio(len(found_rows), len(rows)),
                  false_faces_per_image=round(false_faces / args.scenes, 4),
                  accuracy_end_to_end=_ratio(sum(r[1] == r[2] for r in rows), len(rows)))
    emit(kind="scenes", scenes=args.scenes, faces=len(rows), **result,
         loose_boxes_per_image=round(loose_boxes / args.scenes, 4),
         accuracy_found=_ratio(sum(r[1] == r[2] for r in found_rows), len(found_rows)),
         accuracy_original_crops=round(original_acc, 4),
         ms_per_scene=round(statistics.median(times) * 1e3, 1), **config)
    # issue 12's bars for the scene benchmark
    bars = {"recall>=0.95": (result["recall"], result["recall"] >= 0.95),
            "false_faces_per_image<=0.03": (result["false_faces_per_image"],
                                            result["false_faces_per_image"] <= 0.03),
            "end_to_end_within_3_points_of_crops": (
                round(100 * (result["accuracy_end_to_end"] - original_acc), 2),
                result["accuracy_end_to_end"] >= original_acc - 0.03)}
    emit(kind="targets", **{bar: {"value": value, "met": met} for bar, (value, met) in
                            bars.items()}, all_met=all(met for _, met in bars.values()), **config)


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


if __name__ == "__main__":
    main()
