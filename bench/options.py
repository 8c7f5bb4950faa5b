"""The group photo end to end with each of the options that trade speed for faces found (the
README's table under "Predict"), timed alternating so that a shared machine's drift hits each
option alike.

    python bench/options.py               # medians of 5 rounds of 20 photos each
    python bench/options.py --rounds 9

Prints one JSON line per option: detect + crop + classify the 1000x667 five-face group photo,
after warm-up, and the faces found. The faces found on the scene benchmark come from
`bench/scenes.py` (the classifier does not change them).
"""

import argparse

import numpy as np
from _common import SHARED, device_name, emit, require
from inference import alternating

from ferkit.io.images import open_image
from ferkit.recognition.recognizer import load

OPTIONS = {
    "(default)": {},
    "--detector blazeface": {"detector": "blazeface"},
    "--model fp32": {"model": "fp32"},
    "--min-face 40": {"min_face": 40},
    "--detector centerface": {"detector": "centerface"},
    "--detector centerface --min-face 50": {"detector": "centerface", "min_face": 50},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (median taken)")
    p.add_argument("--repeat", type=int, default=20, help="photos per option per round")
    args = p.parse_args()
    photo = SHARED / "photos" / "multi_face.jpg"
    require(photo)
    rgb = np.asarray(open_image(photo).convert("RGB"))
    recognizers = {name: load(**kwargs) for name, kwargs in OPTIONS.items()}
    seconds = alternating({name: lambda r=r: r.predict(rgb) for name, r in recognizers.items()},
                          args.repeat, args.rounds)
    for name, rec in recognizers.items():
        emit(kind="group_photo_option", option=name, ms=round(seconds[name] * 1e3, 1),
             faces=len(rec.predict(rgb)), image="multi_face.jpg 1000x667", device=device_name())


if __name__ == "__main__":
    main()
