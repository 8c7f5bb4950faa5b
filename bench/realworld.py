"""Expression accuracy on real photos: a labelled folder (default ../shared/realworld) through
`ferkit evaluate`, with each detector and on whole images, one JSON line per way.

    python bench/realworld.py                           # the bundled int8 model
    python bench/realworld.py --model fp32 --model best_model.onnx
    python bench/realworld.py --data other/ --out bench_out/   # mistakes.png etc. per way

Each way: `--detect` with the cascade (the default: BlazeFace, and CenterFace where it finds
no face), with BlazeFace alone and with CenterFace alone, and the whole image as the face
(`--no-detect`, as FER2013's crops are read). Per way: accuracy end to end (a
photo with no face found counts as wrong) and on the faces found, macro-F1, recall per
class, calibration error, the photos with no face found (and their classes), and where
`ferkit evaluate` wrote its reports and its picture of the most confident mistakes. Ends
with a `targets` line: issue 34's bars for the default way (end to end >= 58%, macro-F1
>= 0.50, every class recall >= 0.25 except fear, no face <= 3%).
"""

import argparse
import json
from pathlib import Path

from _common import SHARED, device_name, emit, require

from ferkit.cli import main as ferkit

WAYS = {"cascade": ["--detect"], "blazeface": ["--detect", "--detector", "blazeface"],
        "centerface": ["--detect", "--detector", "centerface"], "whole_image": []}
DEFAULT_WAY = "cascade"  # what `ferkit evaluate --detect` does unless told otherwise


def measure(model: str | None, data: Path, way: str, out: Path) -> dict:
    folder = out / f"{Path(model).stem if model else 'int8'}_{way}"
    argv = ["evaluate", "--data", str(data), "--output-dir", str(folder),
            "--json", str(folder / "metrics.json"), *WAYS[way]]
    if ferkit(argv + (["--model", model] if model else [])) != 0:
        raise SystemExit(f"error: ferkit evaluate failed for {way}")
    m = json.loads((folder / "metrics.json").read_text())
    end_to_end = m.get("end_to_end_accuracy", m["accuracy"])
    return dict(model=model or "int8", way=way, photos=m.get("images", m["num_samples"]),
                end_to_end=round(end_to_end, 4), on_faces_found=round(m["accuracy"], 4),
                macro_f1=round(m["macro_f1"], 4),
                recall={c: round(v["recall"], 3) for c, v in m["per_class"].items()},
                ece=round(m["ece"], 4), no_face=m.get("no_face", 0),
                no_face_per_class=m.get("no_face_per_class"),
                mistakes=str(folder / "mistakes.png"))


def targets(row: dict) -> dict:
    recalls = {c: r for c, r in row["recall"].items() if c != "fear"}
    bars = {"end_to_end>=0.58": (row["end_to_end"], row["end_to_end"] >= 0.58),
            "macro_f1>=0.50": (row["macro_f1"], row["macro_f1"] >= 0.50),
            "min_recall_but_fear>=0.25": (min(recalls.values()),
                                          min(recalls.values()) >= 0.25),
            "no_face<=3%": (round(row["no_face"] / row["photos"], 4),
                            row["no_face"] <= 0.03 * row["photos"])}
    return {k: {"value": v, "met": met} for k, (v, met) in bars.items()} | {
        "all_met": all(met for _, met in bars.values())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", action="append", help="a model (repeatable; default: int8)")
    p.add_argument("--data", type=Path, default=SHARED / "realworld",
                   help="a labelled folder, <class>/<photo> (default ../shared/realworld)")
    p.add_argument("--ways", nargs="+", choices=list(WAYS), default=list(WAYS))
    p.add_argument("--out", type=Path, default=Path("bench_out/realworld"),
                   help="where each way's reports and mistakes.png go")
    args = p.parse_args()
    require(args.data)
    for model in args.model or [None]:
        for way in args.ways:
            row = measure(model, args.data, way, args.out)
            emit(kind="realworld", **row, device=device_name())
            if way == DEFAULT_WAY:
                emit(kind="targets", model=row["model"], way=way, **targets(row))


if __name__ == "__main__":
    main()
