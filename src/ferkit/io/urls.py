"""Images given as http(s) URLs: `ferkit predict https://...`, `rec.predict("https://...")`.
Read with the standard library, bounded in size and time; never followed to anything but
http(s)."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from .. import __version__
from ..errors import FerkitError

MAX_BYTES = 50 * 1024 * 1024  # far beyond any photo; a bound on what a wrong URL costs
TIMEOUT_S = 20  # to connect, and between two reads


def is_url(source: object) -> bool:
    """An http:// or https:// URL given as a string (a Path is always a file)."""
    return isinstance(source, str) and urlsplit(source).scheme.lower() in ("http", "https")


class Url(str):
    """A URL `ferkit predict` was given: fetched once, though --annotate reads it again."""

    body: bytes | None = None

    def fetched(self) -> bytes:
        if self.body is None:
            self.body = fetch(self)
        return self.body


def fetch(url: str, max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT_S) -> bytes:
    """The body at `url`; FerkitError for an HTTP error, no answer or a body over max_bytes."""
    request = urllib.request.Request(url, headers={"User-Agent": f"ferkit/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            if not is_url(response.geturl()):  # a redirect to file:// or ftp://
                raise FerkitError(f"{url} redirects to {response.geturl()}: not http(s)")
            data = response.read(max_bytes + 1)
    except urllib.error.HTTPError as e:
        raise FerkitError(f"cannot fetch {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise FerkitError(f"cannot fetch {url}: {getattr(reason, 'strerror', None) or reason}"
                          ) from e
    if len(data) > max_bytes:
        raise FerkitError(f"{url} is over {max_bytes // 2**20} MB: not a photo")
    return data


def url_name(url: str) -> str:
    """The file name a URL ends with ("image" where it ends with none)."""
    return Path(urlsplit(url).path).name or "image"
