"""One network from several runs of the same start: their weights averaged (a "model soup",
Wortsman et al. 2022), then the BatchNorm statistics measured again on the training faces,
because averaged statistics do not describe the averaged network's activations."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.optim.swa_utils import update_bn

from ..errors import FerkitError
from ..recognition.checkpoint import MODEL_KEYS, load_checkpoint, model_from_checkpoint
from ..recognition.networks import FerNet
from .augment import TrainPreset
from .resume import split_seed


def check_same_network(ckpts: list[dict], paths: list[str]) -> None:
    """Every checkpoint must be the same network (arch, classes, input size, weight shapes)."""
    first, shapes = ckpts[0]["config"], {k: v.shape for k, v in ckpts[0]["model"].items()}
    for ckpt, path in zip(ckpts[1:], paths[1:], strict=True):
        for key in MODEL_KEYS:
            if ckpt["config"][key] != first[key]:
                raise FerkitError(f"{path} has {key} {ckpt['config'][key]}, {paths[0]} has "
                                  f"{first[key]}: only runs of the same network average")
        if {k: v.shape for k, v in ckpt["model"].items()} != shapes:
            raise FerkitError(f"{path}'s weights differ in shape from {paths[0]}'s")


def average_weights(paths: list[str | Path]) -> tuple[FerNet, list[dict]]:
    """The mean of the checkpoints' weights, as a network (BatchNorm statistics averaged too),
    and the checkpoints read."""
    if len(paths) < 2:
        raise FerkitError("averaging needs two checkpoints or more")
    ckpts = [load_checkpoint(p) for p in paths]
    check_same_network(ckpts, [str(p) for p in paths])
    model = model_from_checkpoint(ckpts[0], paths[0])
    state = model.state_dict()
    for name, value in state.items():
        if value.is_floating_point():  # counters (num_batches_tracked) stay the first's
            state[name] = sum(c["model"][name].float() for c in ckpts).div(len(ckpts)).to(
                value.dtype)
    model.load_state_dict(state)
    return model, ckpts


def training_settings(train_args: dict, data: str | None) -> argparse.Namespace:
    """What `ferkit.training.loop.load_data` needs to rebuild a run's training faces."""
    args = argparse.Namespace(**train_args)
    if data is not None:
        args.data = data
    args.split_seed = split_seed(train_args)
    return args


def augmented_batches(images: torch.Tensor, preset: TrainPreset, batch_size: int,
                      generator: torch.Generator) -> Iterator[torch.Tensor]:
    """The images in a random order, augmented as in training, a batch at a time."""
    order = torch.randperm(len(images), generator=generator)
    for start in range(0, len(order), batch_size):
        x = preset(images[order[start : start + batch_size]], generator)
        yield x.contiguous(memory_format=torch.channels_last)


def measure_batchnorm(model: FerNet, images: torch.Tensor, preset: TrainPreset,
                      batch_size: int = 128, seed: int = 0, progress=None) -> None:
    """Set every BatchNorm layer's statistics to their mean over these (augmented) images, as
    torch.optim.swa_utils.update_bn does; `progress` wraps the batches (a tqdm)."""
    batches = augmented_batches(images, preset, batch_size,
                                torch.Generator().manual_seed(seed))
    with torch.no_grad():
        update_bn(progress(batches) if progress else batches, model)
    model.eval()

