"""Which parts of a face an expression was read from (`ferkit explain`, `rec.explain`).

Occlusion sensitivity (Zeiler & Fergus, 2014): each part of the face, in turn, is blended
into the face's mean grey (a soft square window) and the face classified again. Where hiding a
part lowers an expression's probability, that part was evidence for it; where it raises it,
evidence against. Model-agnostic (the same calls as `predict`, any backend) and needs no
gradients, so it runs on the inference install:

    import ferkit
    from .explanation import explanation_figure
    found = ferkit.load().explain("photo.jpg")      # explanation.explain(rec, "photo.jpg")
    print(found[0].face.label, found[0].upper_share())
    explanation_figure(found).save("why.png")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import FerkitError
from ..io.images import ImageInput
from ..io.results import Face
from .presets import eval_input


class Recognizer(Protocol):
    """What explaining needs of a recogniser (ferkit.Recognizer is one): its faces found,
    classified, and made Faces."""

    classes: list[str]
    img_size: int

    def find_faces(self, image: ImageInput, *, detect: bool = True, bgr: bool = False,
                   reduce: bool = True): ...

    def classify(self, crops: list[np.ndarray], tta: bool | None = None) -> np.ndarray: ...

    def faces(self, boxes, scores, probs) -> list[Face]: ...

# The hidden patch: a raised-cosine (Hann) window a third of the model's input wide (32 px at
# 96), moved a third of its width at a time. Soft edges: a hard square adds edges the network
# reacts to, and makes the map blocky.
PATCH = 1 / 3
MAX_BATCH = 256  # occluded copies per classifier call


@dataclass
class Explanation:
    """One face, the grey crop the classifier saw, and per expression the probability lost
    when each pixel's neighbourhood is hidden ([classes, size, size]; negative: gained)."""

    face: Face
    crop: np.ndarray
    maps: np.ndarray
    classes: list[str]

    def evidence(self, label: str | None = None) -> np.ndarray:
        """The map of one expression (default: the face's label)."""
        return self.maps[self.classes.index(label or self.face.label)]

    def upper_share(self, label: str | None = None) -> float:
        """The share of the evidence for `label` that lies in the upper half of the face (eyes,
        brows) rather than the lower (nose, mouth); 0.5 when there is none."""
        support = np.clip(self.evidence(label), 0, None)
        total = support.sum()
        return 0.5 if total == 0 else float(support[: len(support) // 2].sum() / total)


def patch_positions(size: int, patch: int, stride: int) -> list[int]:
    """Offsets of the hidden patches along one side, the last one flush with the edge."""
    last = size - patch
    return sorted({*range(0, last + 1, stride), last})


def occlusion_maps(rec: Recognizer, crops: list[np.ndarray], patch: float = PATCH
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(faces [N, size, size] uint8 as the model sees them, probabilities [N, classes],
    maps [N, classes, size, size]) for grey face crops: every face with each patch of it
    blended into the face's mean grey in turn, classified in batches; a pixel's value is the
    probability lost, averaged over the patches that hid it (weighted by how much)."""
    size = rec.img_size
    # the classifier's own resize, so that the unhidden face is classified exactly as predict()
    faces = np.stack([np.rint(eval_input(c, size)[0] * 255).astype(np.uint8) for c in crops])
    side = max(3, round(size * patch))
    hann = np.hanning(side + 2)[1:-1].astype(np.float32)  # no zero weights at the edges
    window = np.outer(hann, hann)
    offsets = patch_positions(size, side, max(1, side // 3))
    places = [(y, x) for y in offsets for x in offsets]
    copies = []
    for face in faces:
        copies.append(face)
        pixels = face.astype(np.float32)
        fill = pixels.mean()
        for y, x in places:
            hidden = pixels.copy()
            region = hidden[y : y + side, x : x + side]
            region += window * (fill - region)
            copies.append(np.rint(hidden).astype(np.uint8))
    probs = np.concatenate([rec.classify(copies[i : i + MAX_BATCH])
                            for i in range(0, len(copies), MAX_BATCH)])
    probs = probs.reshape(len(faces), 1 + len(places), -1)
    weight = np.zeros((size, size), np.float32)
    maps = np.zeros((len(faces), probs.shape[2], size, size), np.float32)
    for (y, x), drop in zip(places, (probs[:, :1] - probs[:, 1:]).transpose(1, 0, 2),
                            strict=True):
        weight[y : y + side, x : x + side] += window
        maps[:, :, y : y + side, x : x + side] += drop[:, :, None, None] * window
    return faces, probs[:, 0], maps / weight


def explain(rec: Recognizer, image: ImageInput, *, detect: bool = True, bgr: bool = False,
            max_faces: int | None = None) -> list[Explanation]:
    """Every face in `image` (or its `max_faces` largest), left to right, as predict() finds
    and classifies it, with its occlusion maps; [] when there is none."""
    boxes, scores, crops, _ = rec.find_faces(image, detect=detect, bgr=bgr)
    if max_faces is not None and len(boxes) > max_faces:
        area = [(x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes]
        keep = sorted(sorted(range(len(boxes)), key=lambda i: -area[i])[:max_faces])
        boxes, scores, crops = ([seq[i] for i in keep] for seq in (boxes, scores, crops))
    if not crops:
        return []
    faces, probs, maps = occlusion_maps(rec, crops)
    return [Explanation(found, face, m, rec.classes)
            for found, face, m in zip(rec.faces(boxes, scores, probs), faces, maps, strict=True)]


# evidence for an expression in red, against it in blue, over the grey face
FOR, AGAINST = np.array([230, 25, 25], np.float32), np.array([30, 90, 230], np.float32)
PANEL = 224


def overlay(face: np.ndarray, evidence: np.ndarray, scale: float) -> Image.Image:
    """The grey face with `evidence` (probability lost per pixel) tinted over it, full
    strength at +-`scale`."""
    grey = np.asarray(Image.fromarray(face, "L").resize((PANEL, PANEL), Image.Resampling.BICUBIC),
                      np.float32)[..., None]
    heat = np.asarray(Image.fromarray(evidence.astype(np.float32), "F")
                      .resize((PANEL, PANEL), Image.Resampling.BILINEAR))
    v = np.clip(heat / scale, -1, 1)[..., None] if scale > 0 else np.zeros_like(grey)
    alpha = 0.75 * np.abs(v)
    tint = np.where(v > 0, FOR, AGAINST)
    return Image.fromarray(np.rint(grey * (1 - alpha) + tint * alpha).astype(np.uint8), "RGB")


def explanation_figure(found: list[Explanation], top: int = 2) -> Image.Image:
    """A row per face: the face as the model saw it, then where the evidence for its `top`
    most likely expressions lies (one colour scale per row, so the panels compare)."""
    if not found:
        raise FerkitError("no face to explain")
    font = ImageFont.load_default(size=15)
    pad, line = 8, 20
    width = pad + (1 + top) * (PANEL + pad)
    row_h = 2 * line + PANEL + pad
    out = Image.new("RGB", (width, line + len(found) * row_h + 2 * line), "white")
    draw = ImageDraw.Draw(out)
    for row, item in enumerate(found):
        y = line + row * row_h
        ranked = sorted(item.face.probs, key=item.face.probs.get, reverse=True)[:top]
        scale = max(float(np.abs(item.evidence(c)).max()) for c in ranked)
        name = f"Face {row + 1} at {item.face.box}" if len(found) > 1 else "The face"
        draw.text((pad, y), f"{name}; full colour: the probability moves by {100 * scale:.1f} "
                  "points", fill="black", font=font)
        draw.text((pad, y + line), "as the model sees it", fill="dimgray", font=font)
        out.paste(Image.fromarray(item.crop, "L").resize((PANEL, PANEL),
                                                         Image.Resampling.BICUBIC),
                  (pad, y + 2 * line))
        for col, label in enumerate(ranked, 1):
            x = pad + col * (PANEL + pad)
            draw.text((x, y + line), f"{label} {item.face.probs[label]:.0%} · "
                      f"{1 - item.upper_share(label):.0%} lower face", fill="black", font=font)
            out.paste(overlay(item.crop, item.evidence(label), scale), (x, y + 2 * line))
    bottom = line + len(found) * row_h
    draw.text((pad, 2), "Where each expression was read from: every part of the face hidden "
              "in turn", fill="black", font=font)
    draw.text((pad, bottom), "red: hiding it lowers the expression's probability (evidence "
              "for it)", fill=tuple(FOR.astype(int)), font=font)
    draw.text((pad, bottom + line), "blue: hiding it raises the probability (evidence "
              "against)", fill=tuple(AGAINST.astype(int)), font=font)
    return out
