"""Reading images the way users hand them to us: any file Pillow opens (and HEIC), PIL images,
arrays."""

from __future__ import annotations

import io
import math
import threading
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import FerkitError
from .urls import Url, fetch, is_url

# a path, an encoded file's bytes or binary file object (an upload), a decoded image
ImageInput = str | Path | bytes | BinaryIO | Image.Image | np.ndarray
ORIENTATION = 0x0112  # the EXIF tag

# Pillow warns at Image.MAX_IMAGE_PIXELS (~89 Mpx) and raises at twice that; open_image
# refuses at the warning: a face photo that large is a mistake or a decompression bomb.


class NotAnImage(FerkitError):
    """Bytes that no image format Pillow knows describes."""


class ImageTooLarge(FerkitError):
    """More pixels than a sane photo (Pillow's decompression-bomb threshold)."""


class CorruptImage(FerkitError):
    """An image format Pillow knows, but damaged or truncated."""


def open_image(path: str | Path, min_side: int | None = None) -> Image.Image:
    """Open an image file fully decoded, upright (EXIF orientation applied); FerkitError if not.

    min_side: a JPEG may be decoded at 1/2, 1/4 or 1/8 of its size while its shorter side
    stays >= min_side (the reduction happens in the JPEG's DCT, so a big photo decodes
    several times faster); such an image has its full (width, height) in info["full_size"].
    An http(s) URL given as a string is fetched (urls.py)."""
    if is_url(path):
        body = path.fetched() if isinstance(path, Url) else fetch(path)
        return image_from_bytes(body, path, min_side)
    path = Path(path)
    if not path.exists():
        raise FerkitError(f"no such file: {path}")
    if path.is_dir():
        raise FerkitError(f"{path} is a directory, expected an image file")
    try:
        return _decode(path, path, min_side)
    except PermissionError as e:
        raise FerkitError(f"cannot read {path}: permission denied") from e


def image_from_bytes(data: bytes, name: str = "upload", min_side: int | None = None
                     ) -> Image.Image:
    """Decode an image sent as bytes (an upload), as open_image does."""
    if not data:
        raise NotAnImage(f"{name} is empty")
    return _decode(io.BytesIO(data), name, min_side)


def reduced(img: Image.Image, min_side: int) -> Image.Image:
    """A big image made smaller by the largest whole factor that keeps its shorter side >=
    min_side (Pillow's reduce, a box filter), its size before in info["full_size"], as
    open_image decodes a big JPEG; img itself when that is not worth it or already done.
    Every later step (to numpy, detection) costs in proportion to the pixels."""
    factor = min(img.size) // min_side
    if factor < 2 or "full_size" in img.info or img.mode not in ("L", "RGB", "RGBA"):
        return img
    small = img.reduce(factor)
    small.info["full_size"] = img.size
    return small


def full_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of the file an image was decoded from, before any draft reduction."""
    return image.info.get("full_size", image.size)


def _decode(source, name, min_side: int | None = None) -> Image.Image:
    heif_known = _heif_registered
    try:
        return _decode_once(source, name, min_side)
    except NotAnImage:
        if heif_known or not _read_heif_too():
            raise
        if isinstance(source, io.BytesIO):
            source.seek(0)
        return _decode_once(source, name, min_side)


_heif_registered = False
_HEIF_LOCK = threading.Lock()


def _read_heif_too() -> bool:
    """Teach Pillow HEIC/HEIF (phone photos) through pi-heif, the first time Pillow fails to
    identify a file (importing it costs ~0.1 s that most runs never need); False if absent."""
    global _heif_registered
    with _HEIF_LOCK:
        if not _heif_registered:
            try:
                import pi_heif
            except ImportError:
                return False
            pi_heif.register_heif_opener()  # it also turns the photo upright
            _heif_registered = True
    return True


def _decode_once(source, name, min_side: int | None = None) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                full = img.size
                if min_side and img.format == "JPEG" and min(full) >= 2 * min_side:
                    ratio = min_side / min(full)
                    img.draft(None, (math.ceil(full[0] * ratio), math.ceil(full[1] * ratio)))
                drafted = img.size != full
                if drafted and img.getexif().get(ORIENTATION) in (5, 6, 7, 8):
                    full = full[::-1]  # turned upright below
                img.load()
                ImageOps.exif_transpose(img, in_place=True)  # a copy costs as much as decoding
                if drafted:
                    img.info["full_size"] = full
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageTooLarge(f"{name} is too large to be a sane image ({e})") from e
    except UnidentifiedImageError as e:
        raise NotAnImage(f"{name} is not an image Pillow can read") from e
    except PermissionError:
        raise
    except (OSError, SyntaxError, ValueError) as e:
        raise CorruptImage(f"{name} is corrupt or truncated ({e})") from e
    return img


def _eight_bit(img: Image.Image) -> Image.Image:
    """An 8-bit L or RGB(A) image: 16-bit and float scaled, transparency on white."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # Pillow's convert("L") clips 16-bit values at 255; scale the real range instead.
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if img.mode == "F" and arr.max() <= 1.0:
            top = 1.0
        return Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Composite on white so transparent margins do not turn into black blocks.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img if img.mode in ("L", "RGB") else img.convert("RGB")


def to_gray(img: Image.Image) -> np.ndarray:
    """Any Pillow mode (RGB, RGBA, palette, CMYK, 16-bit, float) as a uint8 luminance array."""
    return np.asarray(_eight_bit(img).convert("L"), dtype=np.uint8)


def to_rgb(image: ImageInput, bgr: bool = False) -> np.ndarray:
    """The uint8 HxWx3 RGB array of any input; an RGB uint8 array comes back as it is (a big
    photo through Pillow and back costs more than detecting its faces)."""
    if (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] == 3):
        return bgr_to_rgb(_not_empty(image)) if bgr else _not_empty(image)
    img = _eight_bit(as_pil(image, bgr=bgr))
    # convert() copies even an RGB image, a cost to skip on big photos
    return np.asarray(img if img.mode == "RGB" else img.convert("RGB"))


def bgr_to_rgb(bgr: np.ndarray) -> np.ndarray:
    """An HxWx3 (or x4: the first three) BGR array as a new RGB one. One channel at a time:
    image[..., ::-1] copies byte by byte, several times slower."""
    rgb = np.empty((*bgr.shape[:2], 3), bgr.dtype)
    for i in range(3):
        rgb[..., i] = bgr[..., 2 - i]
    return rgb


def rgb_to_gray(rgb: np.ndarray) -> np.ndarray:
    """An HxWx3 uint8 RGB array as uint8 luminance (Pillow's own conversion)."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).convert("L"))


def encoded(image: ImageInput) -> tuple[bytes, str] | None:
    """(bytes, name) of an image given as its file's bytes or as a binary file object (an
    upload, open(path, "rb")); None for the other kinds of input."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return bytes(image), getattr(image, "name", "image bytes")
    if hasattr(image, "read"):
        data = image.read()
        if not isinstance(data, bytes):
            raise FerkitError("expected a binary file object: open the file with 'rb'")
        return data, str(getattr(image, "name", "image file"))
    return None


def as_pil(image: ImageInput, bgr: bool = False) -> Image.Image:
    """Any ImageInput (arrays HxW, HxWx3 RGB, or BGR when `bgr`) as a PIL image."""
    if isinstance(image, (str, Path)):
        return open_image(image)
    if (file := encoded(image)) is not None:
        return image_from_bytes(*file)
    if isinstance(image, Image.Image):
        if 0 in image.size:
            raise FerkitError(f"empty image ({image.width}x{image.height})")
        return image
    if isinstance(image, np.ndarray):
        arr = _not_empty(image)
        if arr.dtype != np.uint8:
            if np.issubdtype(arr.dtype, np.floating) and arr.max(initial=0) <= 1.0:
                arr = arr * 255.0
            arr = np.clip(arr, 0, 255).astype(np.uint8)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim == 2:
            return Image.fromarray(arr, "L")
        if arr.ndim == 3 and arr.shape[2] in (3, 4):
            arr = bgr_to_rgb(arr) if bgr else np.ascontiguousarray(arr[:, :, :3])
            return Image.fromarray(arr, "RGB")
        raise FerkitError(f"expected an HxW or HxWx3 image array, got shape {arr.shape}")
    raise FerkitError(
        f"expected a path, image bytes, a binary file, a PIL image or a numpy array, got "
        f"{type(image).__name__}"
    )


def _not_empty(arr: np.ndarray) -> np.ndarray:
    if arr.ndim >= 2 and 0 in arr.shape[:2]:
        raise FerkitError(f"empty image array, shape {arr.shape}")
    return arr
