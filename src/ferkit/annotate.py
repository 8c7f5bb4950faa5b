"""Pictures of results: boxes and labels drawn on the image."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from .atomic import atomic_write
from .images import as_pil
from .urls import is_url, url_name

# One colour per expression, in the classes' sorted order (extra classes cycle).
COLOURS = ["#e6194b", "#3cb44b", "#911eb4", "#ffe119", "#a9a9a9", "#4363d8", "#f58231"]


def colour(label: str, classes: list[str]) -> str:
    return COLOURS[classes.index(label) % len(COLOURS)] if label in classes else "#ffffff"


def draw_faces(image: Image.Image, faces, classes: list[str], ids=None) -> Image.Image:
    """A copy of `image` with each face boxed and labelled `label 92%` (plus `#id`)."""
    out = image.convert("RGB")
    draw = ImageDraw.Draw(out)
    size = max(12, round(min(out.size) / 40))
    font = ImageFont.load_default(size=size)
    width = max(2, round(min(out.size) / 250))
    for i, face in enumerate(faces):
        c = colour(face.label, classes)
        x0, y0, x1, y1 = face.box
        draw.rectangle((x0, y0, x1, y1), outline=c, width=width)
        text = f"{face.label} {face.confidence:.0%}"
        if ids is not None:
            text = f"#{ids[i]} {text}"
        tx0, ty0, tx1, ty1 = draw.textbbox((x0, y0), text, font=font)
        ty = y0 - (ty1 - ty0) - 2 * width if y0 - (ty1 - ty0) - 2 * width >= 0 else y1
        draw.rectangle((x0, ty, x0 + (tx1 - tx0) + 2 * width, ty + (ty1 - ty0) + 2 * width),
                       fill=c)
        draw.text((x0 + width, ty + width - (ty0 - y0)), text, fill="black", font=font)
    return out


# Photos (JPEG, and phones' HEIC/HEIF/AVIF) are annotated as JPEG: as PNG a 12 Mpx photo
# takes ~7 MB and a second or two to write
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".jfif", ".heic", ".heif", ".avif"}


def save_image(image: Image.Image, path: str | Path) -> None:
    fmt = Image.registered_extensions().get(Path(path).suffix.lower(), "PNG")
    options = {"quality": 90} if fmt == "JPEG" else {}
    atomic_write(path, lambda tmp: image.save(tmp, format=fmt, **options))


def annotate_path(result, classes: list[str], out: str, single: bool,
                  taken: set[str] | None = None) -> None:
    """--annotate: OUT is the file for a single input, else a folder where each input gets
    its own file: `<name>.jpg` for a photo, `<name>.png` for any other image, `<name>-2...`
    when an earlier input of the run (`taken`) had the same name."""
    drawn = draw_faces(as_pil(result.source), result.faces, classes)
    source = str(result.source)
    name = url_name(source) if is_url(source) else Path(source).name
    taken = set() if taken is None else taken
    target = Path(out) if single else Path(out) / annotated_name(name, taken)
    save_image(drawn, target)


def annotated_name(name: str, taken: set[str]) -> str:
    stem = Path(name).stem
    suffix = ".jpg" if Path(name).suffix.lower() in PHOTO_SUFFIXES else ".png"
    candidate, n = stem + suffix, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    taken.add(candidate)
    return candidate
