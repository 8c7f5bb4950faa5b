"""Faces that lean: FER2013 PublicTest faces pasted into a photo turned by 0-45 degrees,
detected, and classified from two crops: the upright square (as before ferkit turned faces
back) and ferkit's crop, which turns a face leaning past faces.MAX_ROLL back by the excess.

    python bench/rolled_faces.py                            # 1000 faces, 0/15/30/45 degrees
    python bench/rolled_faces.py --faces 300 --angles 0,40 --detector centerface
    python bench/rolled_faces.py --figure docs/figures/leaning_face.png   # the picture only

Each face is upscaled to 200 px, its edges feathered, turned by the angle (clockwise and
anticlockwise in turn) and pasted at a random place of a 640x480 piece of the project's
no-face photo. Prints one JSON line per angle: faces found (the best detection within 60 px of
the face's centre), accuracy on found faces with each crop, and the median roll ferkit
measured (it should follow the angle, plus FER2013's own lean).
"""

import argparse
import random
import statistics
from pathlib import Path

import numpy as np
from _common import FER, ROOT, SHARED, device_name, emit, require
from PIL import Image, ImageFilter

from ferkit.detection import DETECTORS
from ferkit.detection.framing import face_roll, fer_crop
from ferkit.recognition.recognizer import load


def pasted(face: Path, angle: float, background: Image.Image, rng: random.Random):
    """(RGB scene, the face's centre) with the face turned by `angle` degrees."""
    gray = Image.open(face).convert("L").resize((200, 200), Image.Resampling.BICUBIC)
    mask = Image.new("L", (200, 200), 0)
    mask.paste(255, (8, 8, 192, 192))
    mask = mask.filter(ImageFilter.GaussianBlur(5))
    turned = gray.convert("RGB").rotate(angle, Image.Resampling.BICUBIC, expand=True)
    turned_mask = mask.rotate(angle, Image.Resampling.BICUBIC, expand=True)
    x, y = rng.randint(0, background.width - 640), rng.randint(0, background.height - 480)
    scene = background.crop((x, y, x + 640, y + 480))
    px, py = rng.randint(0, 640 - turned.width), rng.randint(0, 480 - turned.height)
    scene.paste(turned, (px, py), turned_mask)
    return np.asarray(scene), (px + turned.width / 2, py + turned.height / 2)


def draw_figure(path: str, rec) -> None:
    """The public-domain astronaut turned by 40 degrees, the upright square around her face
    and ferkit's crop, as the classifier sees them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    photo = Image.open(ROOT / "photos" / "astronaut.png").convert("RGB")
    rgb = np.asarray(photo.rotate(-40, Image.Resampling.BICUBIC, fillcolor=(90, 90, 90)))
    (det,) = rec.detector.detect(rgb)
    crops = [fer_crop(rgb, det.box, rec.crop_scale),
             fer_crop(rgb, det.box, rec.crop_scale, roll=face_roll(det))]
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), width_ratios=[1.6, 1, 1])
    axes[0].imshow(rgb)
    x0, y0, x1, y1 = det.box
    axes[0].add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, color="#f9a825",
                                    lw=2))
    axes[0].set_title(f"a face leaning {face_roll(det):.0f}°")
    for ax, crop, title in zip(axes[1:], crops, ("the upright square", "ferkit's crop"),
                               strict=True):
        probs = rec.classify([crop])[0]
        ax.imshow(crop, cmap="gray")
        ax.set_title(f"{title}\n{rec.classes[probs.argmax()]} {probs.max():.0%}")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"wrote {path}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--faces", type=int, default=1000, help="PublicTest faces per angle")
    p.add_argument("--angles", default="0,15,30,45", help="degrees, comma-separated")
    p.add_argument("--detector", choices=DETECTORS, default="blazeface")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", metavar="PNG",
                   help="instead, draw the two crops of photos/astronaut.png turned by 40°")
    args = p.parse_args()
    if args.figure:
        return draw_figure(args.figure, load(detector=args.detector))
    require(FER / "test")
    rng = random.Random(args.seed)
    classes = sorted(c.name for c in (FER / "test").iterdir() if c.is_dir())
    items = [(f, i) for i, c in enumerate(classes) for f in sorted((FER / "test" / c).iterdir())]
    rng.shuffle(items)
    items = items[: args.faces]
    background = Image.open(SHARED / "photos" / "landscape_no_face.jpg").convert("RGB")
    rec = load(detector=args.detector)
    for angle in (float(a) for a in args.angles.split(",")):
        upright, corrected, truth, rolls = [], [], [], []
        for k, (face, label) in enumerate(items):
            sign = 1 if k % 2 else -1
            rgb, (cx, cy) = pasted(face, sign * angle, background, rng)
            near = [d for d in rec.detector.detect(rgb)
                    if abs((d.box[0] + d.box[2]) / 2 - cx) < 60
                    and abs((d.box[1] + d.box[3]) / 2 - cy) < 60]
            if not near:
                continue
            det = max(near, key=lambda d: d.score)
            upright.append(fer_crop(rgb, det.box, rec.crop_scale))
            corrected.append(fer_crop(rgb, det.box, rec.crop_scale, roll=face_roll(det)))
            truth.append(label)
            rolls.append(-sign * face_roll(det))  # PIL turns anticlockwise: the eyes clockwise
        truth = np.array(truth)
        emit(kind="rolled_faces", detector=args.detector, angle=angle, faces=len(items),
             found=len(truth),
             accuracy_upright_crop=round(float(np.mean(
                 rec.classify(upright).argmax(1) == truth)), 4),
             accuracy_ferkit_crop=round(float(np.mean(
                 rec.classify(corrected).argmax(1) == truth)), 4),
             median_roll=round(statistics.median(rolls), 1), device=device_name())


if __name__ == "__main__":
    main()
