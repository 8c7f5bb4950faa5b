"""What a command reads: files, folders (their images, recursively), globs and http(s) URLs."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

from .urls import Url, is_url

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff", ".pgm",
                  ".ppm", ".jfif", ".heic", ".heif", ".avif"}


def expand_inputs(specs: list[str], suffixes: set[str] = IMAGE_SUFFIXES,
                  empty: list[str] | None = None, what: str = "image files"
                  ) -> Iterator[Path | str]:
    """Files as given; folders as their files with these suffixes (recursively, sorted);
    globs expanded; http(s) URLs as given (strings). Yields lazily so a huge folder streams.
    A folder without such a file (`what` they are), or a glob matching nothing, is said in
    `empty` (without it, the glob is yielded as a path)."""
    for spec in specs:
        path = Path(spec)
        if is_url(spec):
            yield Url(spec)  # fetched when read, once
        elif path.is_dir():
            found = False
            for p in sorted(path.rglob("*")):
                if p.suffix.lower() in suffixes and p.is_file():
                    found = True
                    yield p
            if not found and empty is not None:
                empty.append(f"no {what} in {spec} (looked for "
                             f"{', '.join(sorted(suffixes))})")
        elif not path.exists() and glob.has_magic(spec):
            matches = sorted(glob.iglob(spec, recursive=True))
            if not matches and empty is not None:
                empty.append(f"nothing matches {spec}")
            elif not matches:
                yield path  # reported as missing, like any other path
            yield from (Path(m) for m in matches)
        else:
            yield path


def is_single(specs: list[str]) -> bool:
    """One path that is not a folder or a glob: answered in the brief's plain form."""
    if len(specs) != 1:
        return False
    if is_url(specs[0]):
        return True
    path = Path(specs[0])
    return not path.is_dir() and (path.exists() or not glob.has_magic(specs[0]))
