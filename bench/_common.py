"""Shared bits of the bench scripts: where the data is, how to print a measurement."""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SHARED = Path(os.environ.get("FERKIT_SHARED", ROOT.parent / "shared"))
FER = SHARED / "fer2013"
WEIGHTS = SHARED / "weights" / "mobilenet_v2_imagenet_fp16.pth"


def device_name() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    from ferkit.commands.info import cpu

    chip = cpu()  # the CPU's name and its int8 instructions: int8 timings depend on them
    return f"cpu: {chip['name']} x{chip['cores']}" + (
        f" ({chip['int8_dot_product']})" if chip["int8_dot_product"] else "")


def emit(**record) -> None:
    """One JSON line per measurement."""
    print(json.dumps(record), flush=True)


def require(path: Path) -> None:
    if not path.exists():
        sys.exit(f"error: {path} is missing (set FERKIT_SHARED to the shared data folder)")
