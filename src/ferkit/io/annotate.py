"""Pictures of results: boxes and labels drawn on the image."""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import quote

from PIL import Image, ImageDraw, ImageFont

from .atomic import atomic_write
from .images import as_pil
from .urls import is_url, url_name

# One colour per expression, in the classes' sorted order (extra classes cycle).
COLOURS = ["#e6194b", "#3cb44b", "#911eb4", "#ffe119", "#a9a9a9", "#4363d8", "#f58231"]


def colour(label: str, classes: list[str]) -> str:
    return COLOURS[classes.index(label) % len(COLOURS)] if label in classes else "#ffffff"


def draw_faces(image: Image.Image, faces, classes: list[str], ids=None,
               copy: bool = True) -> Image.Image:
    """A copy of `image` with each face boxed and labelled `label 92%` (plus `#id`);
    copy=False draws on `image` itself when it is RGB (a big photo's copy is not free)."""
    out = image if image.mode == "RGB" and not copy else image.convert("RGB")
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


def annotate_file(result, classes: list[str], path: str | Path) -> None:
    """--annotate OUT for a single input: the picture with its faces drawn, as OUT."""
    save_image(drawn(result, classes), path)


def drawn(result, classes: list[str]) -> Image.Image:
    """The input of a predict_many Result with its faces drawn (a caller's own PIL image is
    drawn on a copy; a decoded file or array, on itself)."""
    return draw_faces(as_pil(result.source), result.faces, classes,
                      copy=isinstance(result.source, Image.Image))


class Album:
    """--annotate FOLDER for several inputs: one picture per input (`<name>.jpg` for a photo,
    `<name>.png` for any other image, `<name>-2...` when an earlier input had the same name),
    and index.html showing them all with their faces."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.taken: set[str] = set()
        self.pictures: list[tuple[str, str, str]] = []  # file, source, its faces in words

    def add(self, result, classes: list[str]) -> None:
        source = str(result.source)
        name = url_name(source) if is_url(source) else Path(source).name
        file = annotated_name(name, self.taken)
        save_image(drawn(result, classes), self.folder / file)
        faces = ", ".join(f"{f.label} {f.confidence:.0%}" for f in result.faces)
        self.pictures.append((file, source, faces or "no face found"))

    def write_index(self, summary: str) -> None:
        write_index(self.folder, summary, self.pictures)


def write_index(folder: Path, summary: str, items: list[tuple[str, str, str]],
                videos: bool = False) -> None:
    """index.html in an --annotate folder: each (file, its source, its faces in words), a
    picture or (`videos`) a video to play, under the run's summary line."""

    def shown(file: str, faces: str) -> str:
        if videos:
            return f'<video src="{quote(file)}" controls preload="metadata"></video>'
        return (f'<a href="{quote(file)}"><img src="{quote(file)}" loading="lazy" '
                f'alt="{escape(faces)}"></a>')

    figures = "\n".join(
        f"<figure>{shown(file, faces)}<figcaption>{escape(source)}<br><b>{escape(faces)}</b>"
        "</figcaption></figure>"
        for file, source, faces in items)
    page = INDEX.format(summary=escape(summary), figures=figures)
    atomic_write(Path(folder) / "index.html",
                 lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))


INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ferkit: faces found</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1rem; color: #1d2330; }}
main {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr));
        gap: 1rem; }}
figure {{ margin: 0; }} img, video {{ width: 100%; height: auto; border-radius: 4px; }}
figcaption {{ overflow-wrap: anywhere; }}
</style></head>
<body><h1>ferkit</h1><p>{summary}</p><main>
{figures}
</main></body></html>
"""


def annotated_name(name: str, taken: set[str], suffix: str | None = None) -> str:
    """The file name an input's annotated copy gets in a folder: its stem, `-2`, `-3`...
    after a name already taken; `suffix` (default: .jpg for a photo, .png for the rest)."""
    stem = Path(name).stem
    if suffix is None:
        suffix = ".jpg" if Path(name).suffix.lower() in PHOTO_SUFFIXES else ".png"
    candidate, n = stem + suffix, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}{suffix}"
    taken.add(candidate)
    return candidate
