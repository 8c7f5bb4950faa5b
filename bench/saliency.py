"""Where the model reads each expression from, on average: occlusion maps (`ferkit explain`'s)
of FER2013 PublicTest faces, averaged per expression over the faces the model got right.

    python bench/saliency.py                                   # 100 faces per expression
    python bench/saliency.py --faces 300 --figure docs/figures/saliency_by_class.png
    python bench/saliency.py --model fp32

Prints one JSON line per expression: faces averaged, the share of the evidence in the lower
half of the face (nose, mouth) and the largest mean change of probability. The figure shows
each expression's mean face (of the faces averaged: no single face of the dataset) under its
mean map, red where hiding the region lowers the probability.
"""

import argparse
import random
from pathlib import Path

import numpy as np
from _common import FER, device_name, emit, require
from PIL import Image, ImageDraw, ImageFont

from ferkit.io.images import open_image, to_gray
from ferkit.recognition.explanation import PANEL, occlusion_maps, overlay
from ferkit.recognition.recognizer import load


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(FER / "test"), help="a folder of <expression>/ crops")
    p.add_argument("--faces", type=int, default=100, help="faces tried per expression")
    p.add_argument("--model", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", help="write the mean maps here (PNG)")
    args = p.parse_args()
    data = Path(args.data)
    require(data)
    rec = load(args.model)
    rng = random.Random(args.seed)
    rows = []
    for c, name in enumerate(rec.classes):
        files = sorted(f for f in (data / name).iterdir() if f.is_file())
        files = rng.sample(files, min(args.faces, len(files)))
        crops = [to_gray(open_image(f)) for f in files]
        faces, probs, maps = occlusion_maps(rec, crops)
        right = probs.argmax(1) == c
        mean_map = maps[right, c].mean(0)
        support = np.clip(mean_map, 0, None)
        lower = float(support[len(support) // 2 :].sum() / support.sum())
        emit(expression=name, faces=int(right.sum()), tried=len(files),
             lower_face_share=round(lower, 3), max_mean_change=round(float(mean_map.max()), 4),
             device=device_name())
        rows.append((name, faces[right].mean(0), mean_map, lower, int(right.sum())))
    if args.figure:
        figure(rows).save(args.figure)
        print(f"-> {args.figure}")


def figure(rows) -> Image.Image:
    """One panel per expression: its mean face under its mean map, full colour at the map's
    largest change (the evidence for happy is spread wide: its peak is the lowest)."""
    font = ImageFont.load_default(size=15)
    pad, line, per_row = 8, 20, 4
    n_rows = -(-len(rows) // per_row)
    out = Image.new("RGB", (pad + per_row * (PANEL + pad), n_rows * (2 * line + PANEL + pad)),
                    "white")
    draw = ImageDraw.Draw(out)
    for i, (name, face, mean_map, lower, n) in enumerate(rows):
        x = pad + (i % per_row) * (PANEL + pad)
        y = (i // per_row) * (2 * line + PANEL + pad)
        draw.text((x, y + 2), f"{name} ({n} faces)", fill="black", font=font)
        scale = float(np.abs(mean_map).max())
        draw.text((x, y + line), f"{lower:.0%} lower face, peak {100 * scale:.1f} pts",
                  fill="dimgray", font=font)
        out.paste(overlay(np.rint(face).astype(np.uint8), mean_map, scale), (x, y + 2 * line))
    x = pad + (len(rows) % per_row) * (PANEL + pad)
    y = (n_rows - 1) * (2 * line + PANEL + pad) + 2 * line
    draw.multiline_text((x, y), "Mean occlusion maps, PublicTest\nfaces the model got right.\n"
                        "Red: hiding it lowers the\nexpression's probability;\n"
                        "full red: its peak, in\npercentage points.", fill="black", font=font)
    return out


if __name__ == "__main__":
    main()
