"""Self-describing checkpoints: weights plus plain metadata, written atomically, loaded safely."""

from __future__ import annotations

import hashlib
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import FerkitError
from ..io.atomic import atomic_write
from .networks import FerNet, build_model

FORMAT = "ferkit-checkpoint"
# What a model needs to be rebuilt and fed; everything else in a checkpoint is history.
MODEL_KEYS = ("arch", "classes", "img_size")


def weights_digest(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the weights' names, dtypes and bytes: zip archives do not catch a changed
    byte inside a tensor, this does."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}|{t.dtype}|{t.numel()}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_checkpoint(path: str | Path, model: FerNet, config: dict, **extra: Any) -> None:
    """Write {format, config, model state, weights digest, extra (epoch, metrics, args...)}."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    ckpt = {"format": FORMAT, "ferkit_version": __version__, "config": config, "model": state,
            "weights_sha256": weights_digest(state)}
    ckpt.update(extra)
    atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


def _looks_like_torch_save(path: Path) -> bool:
    """A zip archive (torch.save's format) or a raw pickle (its legacy one), so that any
    other file is called what it is rather than a pickle refused for safety."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return True  # let torch.load's own error (permission denied, ...) speak
    return head.startswith(b"PK") or head[:1] == b"\x80"


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint with weights_only=True (nothing pickled runs) and check its shape."""
    path = Path(path)
    if not path.exists():
        raise FerkitError(f"no such checkpoint: {path}")
    if path.is_dir():
        raise FerkitError(f"{path} is a directory, expected a checkpoint file")
    if not _looks_like_torch_save(path):
        raise FerkitError(f"{path} is not a ferkit checkpoint: not a file torch.save wrote")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the error below says all a user needs
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FerkitError(
            f"refused to load {path}: it holds pickled objects other than weights, "
            f"which could run code ({first})"
        ) from e
    except PermissionError as e:
        raise FerkitError(f"cannot read {path}: permission denied") from e
    except Exception as e:
        raise FerkitError(f"{path} is not a readable checkpoint (corrupt or truncated: {e})") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise FerkitError(
            f"{path} is not a ferkit checkpoint (expected one written by `ferkit train`)"
        )
    config = ckpt.get("config")
    if not isinstance(config, dict) or any(k not in config for k in MODEL_KEYS):
        raise FerkitError(f"{path} is a ferkit checkpoint without its model config")
    state = ckpt.get("model")
    if not isinstance(state, dict) or ckpt.get("weights_sha256") != weights_digest(state):
        raise FerkitError(
            f"{path} is corrupt or has been tampered with: its weights do not match their "
            "checksum"
        )
    return ckpt


def model_from_checkpoint(ckpt: dict, source: str | Path = "checkpoint") -> FerNet:
    """Rebuild the network the checkpoint describes and load its weights strictly."""
    config = ckpt["config"]
    model = build_model(config["arch"], len(config["classes"]), pretrained="none")
    try:
        model.load_state_dict(ckpt["model"], strict=True)
    except (RuntimeError, KeyError, TypeError) as e:
        raise FerkitError(
            f"{source}: weights do not match a {config['arch']} with "
            f"{len(config['classes'])} classes ({str(e).splitlines()[0]})"
        ) from e
    return model.eval()


def load_model(path: str | Path) -> tuple[FerNet, dict]:
    """The model and config of a checkpoint file, ready for inference."""
    ckpt = load_checkpoint(path)
    return model_from_checkpoint(ckpt, path), ckpt["config"]
