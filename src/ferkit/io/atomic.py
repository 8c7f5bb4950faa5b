"""Atomic file writes: a crash or an error never leaves half a file where a good one was."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import FerkitError


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call write(tmp_path) on a temporary file beside `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide a model from other users
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# What ferkit draws its figures as (Matplotlib writes each of these without extra packages).
FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def check_figure_name(flag: str, path: str | Path | None) -> None:
    """Refuse a figure file name Matplotlib cannot write, before any slow work."""
    if path and Path(path).suffix.lower() not in FIGURE_SUFFIXES:
        raise FerkitError(f"{flag} {path}: use a file name ending in "
                          + ", ".join(FIGURE_SUFFIXES))


def save_figure(fig, path: str | Path, dpi: int) -> None:
    """A Matplotlib figure written atomically, in the format its file name says."""
    check_figure_name("figure", path)
    fmt = Path(path).suffix.lstrip(".").lower()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt))
