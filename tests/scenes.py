"""Hard pictures for the result tests: faces pasted into textures and photos, as
bench/scenes.py makes them (upscaled, feathered, sometimes tinted), and also tilted, noisy,
small and several at once; with the odd files users send."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from conftest import ROOT, SHARED
from PIL import Image, ImageDraw, ImageFilter

ASTRONAUT = ROOT / "photos" / "astronaut.png"
ASTRONAUT_FACE = (150, 50, 300, 200)  # the face's square in astronaut.png


def face_sources() -> list[Image.Image]:
    """Grey face crops to paste: the astronaut's, and FER2013 PublicTest crops when the
    team's data is here (those need BlazeFace's second look more often)."""
    faces = [Image.open(ASTRONAUT).convert("L").crop(ASTRONAUT_FACE)]
    fer = SHARED / "fer2013" / "test"
    if fer.is_dir():
        for cls in sorted(fer.iterdir()):
            faces += [Image.open(p).convert("L") for p in sorted(cls.iterdir())[:3]]
    return faces


def backgrounds() -> list[Image.Image]:
    """Face-free pictures: scikit-image's textures (the dev extra) and a made one."""
    made = np.random.default_rng(0).integers(60, 200, (240, 320, 3), dtype=np.uint8)
    images = [Image.fromarray(made).filter(ImageFilter.GaussianBlur(3))]
    try:
        import skimage.data
    except ImportError:
        return images
    for name in ("brick", "grass", "gravel", "coffee", "rocket"):
        images.append(Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
    return images


def scene(background: Image.Image, faces: list[tuple[Image.Image, int, float]],
          size: tuple[int, int] = (640, 480), tint: tuple[float, float, float] = (1, 1, 1),
          noise: float = 0.0, seed: int = 0) -> tuple[Image.Image, list[tuple]]:
    """`background` cut to `size` with each (face, side in pixels, roll in degrees) pasted
    where it does not overlap the others (left to right, as room allows); then tinted and
    noisy. Returns the picture and the squares the faces were pasted in."""
    rng = np.random.default_rng(seed)
    w, h = size
    zoom = max(w / background.width, h / background.height)
    picture = background.resize((math.ceil(background.width * zoom),
                                 math.ceil(background.height * zoom))).crop((0, 0, w, h))
    squares, x = [], 0
    for face, side, roll in faces:
        side = min(side, h, w - x)
        if side < 8:
            break
        y = int(rng.integers(0, h - side + 1))
        patch = face.resize((side, side), Image.Resampling.BICUBIC).convert("RGB")
        if roll:
            patch = patch.rotate(roll, resample=Image.Resampling.BILINEAR, fillcolor=(128,) * 3)
        feather = max(2, side // 16)
        mask = Image.new("L", (side, side), 0)
        ImageDraw.Draw(mask).rectangle((feather, feather, side - feather, side - feather), 255)
        picture.paste(patch, (x, y), mask.filter(ImageFilter.GaussianBlur(feather / 2)))
        squares.append((x, y, x + side, y + side))
        x += side + 8
    pixels = np.asarray(picture, np.float32) * np.asarray(tint, np.float32)
    pixels += rng.normal(0, noise, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), squares


def hard_inputs(folder: Path) -> list[Path]:
    """The conformance set: scenes that need the detector's second look, tilted faces,
    several faces, no face, a tiny face, a corrupt file, a 16-bit PNG, a very large image
    and a text file named like a photo."""
    folder.mkdir(parents=True, exist_ok=True)
    faces, bgs = face_sources(), backgrounds()
    pictures = {}
    for n in range(8):  # several faces of 50-200 px, some tinted: unclear at first look
        chosen = [(faces[(3 * n + k) % len(faces)], 50 + 30 * ((n + k) % 5), 0.0)
                  for k in range(1 + n % 3)]
        pictures[f"scene_{n}.jpg"] = scene(bgs[n % len(bgs)], chosen, seed=n,
                                           tint=(1.0, 0.85, 0.9) if n % 2 else (1, 1, 1))[0]
    pictures["tilted.png"] = scene(bgs[0], [(faces[0], 220, 30.0), (faces[-1], 150, -25.0)])[0]
    pictures["no_face.png"] = scene(bgs[-1], [])[0]
    pictures["tiny_face.png"] = scene(bgs[0], [(faces[0], 24, 0.0)])[0]
    pictures["noisy.jpg"] = scene(bgs[1 % len(bgs)], [(faces[0], 180, 5.0)], noise=25)[0]
    paths = []
    for name, picture in pictures.items():
        picture.save(folder / name)
        paths.append(folder / name)
    grey16 = np.asarray(Image.open(ASTRONAUT).convert("L"), np.uint16) * 257
    Image.fromarray(grey16).save(folder / "sixteen_bit.png")
    big = Image.open(ASTRONAUT).convert("RGB").resize((6000, 6000), Image.Resampling.NEAREST)
    big.save(folder / "very_large.jpg", quality=80)
    (folder / "corrupt.png").write_bytes(ASTRONAUT.read_bytes()[:3000])
    (folder / "notes.jpg").write_text("not an image")
    return sorted(folder.iterdir())
