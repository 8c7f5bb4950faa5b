"""Train an expression classifier: `python train.py --data data` (see `--help`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "src"))  # run from a checkout without installing
from ferkit.cli import run  # noqa: E402

sys.exit(run("train"))
