"""Reading FER2013's CSV into the decode cache: cold (parse 35,887 rows) and warm.

    python bench/fer2013_csv.py [fer2013.csv]

Without a CSV, one in Kaggle's format is written from ../shared/fer2013 (Training and
PublicTest rows, PublicTest repeated as PrivateTest: 35,887 rows like the original).
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import FER, device_name, emit, require
from PIL import Image

from ferkit.io.fer2013_csv import FER2013_LABELS, read_fer2013_csv


def write_csv(path: Path) -> None:
    rows = []
    for folder, usage in (("train", "Training"), ("test", "PublicTest")):
        for cls in sorted((FER / folder).iterdir()):
            for f in sorted(cls.iterdir()):
                pixels = " ".join(map(str, np.asarray(Image.open(f).convert("L")).ravel()))
                rows.append(f"{FER2013_LABELS.index(cls.name)},{pixels},{usage}")
    private = [r.replace(",PublicTest", ",PrivateTest") for r in rows if r.endswith("PublicTest")]
    path.write_text("\n".join(["emotion,pixels,Usage", *rows, *private]) + "\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if len(sys.argv) > 1:
            csv = Path(sys.argv[1])
        else:
            require(FER)
            csv = Path(tmp) / "fer2013.csv"
            write_csv(csv)
        for kind in ("cold", "warm"):
            t0 = time.perf_counter()
            table = read_fer2013_csv(csv, Path(tmp) / "cache")
            emit(read=kind, rows=len(table.labels), bad_rows=len(table.bad),
                 seconds=round(time.perf_counter() - t0, 2), device=device_name())


if __name__ == "__main__":
    main()
