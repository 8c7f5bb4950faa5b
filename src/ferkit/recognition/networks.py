"""The networks: a torchvision backbone with the brief's head, behind a grey-input wrapper."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import FerkitError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# arch -> (torchvision constructor, its ImageNet weights enum, the classifier attribute), by
# name: torchvision is imported when a model is built (it takes seconds), so a command that
# fails on its arguments fails at once
ARCHS = {
    "mobilenet_v2": ("mobilenet_v2", "MobileNet_V2_Weights", "classifier"),
    "efficientnet_b0": ("efficientnet_b0", "EfficientNet_B0_Weights", "classifier"),
    "resnet18": ("resnet18", "ResNet18_Weights", "fc"),
}


def head(in_features: int, num_classes: int) -> nn.Sequential:
    """The brief's classifier: Dropout 0.5, in->256, ReLU, Dropout 0.3, 256->classes."""
    return nn.Sequential(
        nn.Dropout(0.5),
        nn.Linear(in_features, 256),
        nn.ReLU(inplace=True),
        nn.Dropout(0.3),
        nn.Linear(256, num_classes),
    )


class FerNet(nn.Module):
    """Grey [N, 1, H, W] in [0, 1] -> logits; normalisation is part of the model so every
    backend (PyTorch, ONNX) is fed the same plain array."""

    def __init__(self, backbone: nn.Module, head_attr: str, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        self.backbone = backbone
        self.head_attr = head_attr
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.expand(-1, 3, -1, -1)
        return self.backbone((x - self.mean) / self.std)


def _classifier_in_features(backbone: nn.Module, attr: str) -> int:
    layer = getattr(backbone, attr)
    if isinstance(layer, nn.Linear):
        return layer.in_features
    return next(m for m in layer.modules() if isinstance(m, nn.Linear)).in_features


def load_backbone_weights(backbone: nn.Module, path: str | Path, attr: str) -> None:
    """Load an ImageNet state_dict from a local file, keeping only the feature layers."""
    path = Path(path)
    if not path.is_file():
        raise FerkitError(f"--pretrained: no such weights file: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise FerkitError(f"--pretrained: cannot read {path} as PyTorch weights ({e})") from e
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise FerkitError(f"--pretrained: {path} holds no state_dict")
    features = {k: v for k, v in state.items() if not k.startswith(attr + ".")}
    missing, unexpected = backbone.load_state_dict(features, strict=False)
    missing = [k for k in missing if not k.startswith(attr + ".")]
    if missing or unexpected:
        raise FerkitError(
            f"--pretrained: {path} does not fit this architecture "
            f"({len(missing)} missing keys, e.g. {missing[:2]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:2]})"
        )


def build_model(arch: str, num_classes: int, pretrained: str | None = "none") -> FerNet:
    """A FerNet of `arch` with the brief's head; pretrained is 'imagenet', 'none' or a path."""
    if arch not in ARCHS:
        raise FerkitError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    from torchvision import models as tvm

    ctor, weights, attr = ARCHS[arch]
    backbone = getattr(tvm, ctor)(weights=None)
    if pretrained == "imagenet":
        try:
            state = getattr(tvm, weights).IMAGENET1K_V1.get_state_dict(progress=True)
        except Exception as e:
            raise FerkitError(
                f"could not download torchvision's ImageNet weights for {arch} ({e}); "
                "pass --pretrained PATH with a local state_dict, or --pretrained none"
            ) from e
        backbone.load_state_dict(state)
    elif pretrained and pretrained != "none":
        load_backbone_weights(backbone, pretrained, attr)
    in_features = _classifier_in_features(backbone, attr)
    setattr(backbone, attr, head(in_features, num_classes))
    return FerNet(backbone, attr)


def set_trainable(model: FerNet, freeze_backbone: bool, unfreeze_last: int = 0) -> None:
    """Freeze the feature layers (the head always trains); then thaw the last N blocks."""
    if not freeze_backbone and not unfreeze_last:
        return
    head_params = {id(p) for p in getattr(model.backbone, model.head_attr).parameters()}
    for p in model.parameters():
        p.requires_grad = id(p) in head_params
    if unfreeze_last:
        blocks = _feature_blocks(model.backbone)
        for block in blocks[-unfreeze_last:]:
            for p in block.parameters():
                p.requires_grad = True


def _feature_blocks(backbone: nn.Module) -> list[nn.Module]:
    if hasattr(backbone, "features"):  # MobileNetV2, EfficientNet
        return list(backbone.features)
    # ResNet: stem, then layer1..layer4
    return [backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4]
