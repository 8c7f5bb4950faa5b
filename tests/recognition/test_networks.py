"""The networks: the brief's head on each architecture, ImageNet weights, freezing."""

import pytest
import torch
from conftest import SHARED, requires_weights

from ferkit.errors import FerkitError
from ferkit.recognition.networks import build_model, set_trainable


@pytest.mark.parametrize("arch,features", [("mobilenet_v2", 1280), ("efficientnet_b0", 1280),
                                           ("resnet18", 512)])
def test_every_arch_has_the_briefs_head_and_takes_grey_input(arch, features):
    model = build_model(arch, 7, "none").eval()
    head = getattr(model.backbone, model.head_attr)
    layers = [type(m).__name__ for m in head]
    assert layers == ["Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert (head[0].p, head[3].p) == (0.5, 0.3)
    assert (head[1].in_features, head[1].out_features, head[4].out_features) == (features, 256, 7)
    assert model(torch.rand(2, 1, 64, 64)).shape == (2, 7)


@requires_weights
def test_local_imagenet_weights_load_into_the_backbone():
    plain = build_model("mobilenet_v2", 7, "none")
    model = build_model("mobilenet_v2", 7, str(SHARED / "weights/mobilenet_v2_imagenet_fp16.pth"))
    first = "backbone.features.0.0.weight"
    assert not torch.equal(plain.state_dict()[first], model.state_dict()[first])
    with pytest.raises(FerkitError, match="does not fit this architecture"):
        build_model("resnet18", 7, str(SHARED / "weights/mobilenet_v2_imagenet_fp16.pth"))


def test_bad_pretrained_values_are_user_errors(tmp_path, monkeypatch):
    with pytest.raises(FerkitError, match="no such weights file"):
        build_model("mobilenet_v2", 7, str(tmp_path / "none.pth"))
    (tmp_path / "junk.pth").write_text("junk")
    with pytest.raises(FerkitError, match="cannot read"):
        build_model("mobilenet_v2", 7, str(tmp_path / "junk.pth"))
    with pytest.raises(FerkitError, match="unknown architecture"):
        build_model("vgg", 7)

    from torchvision.models import MobileNet_V2_Weights

    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(MobileNet_V2_Weights.IMAGENET1K_V1.__class__, "get_state_dict", offline)
    with pytest.raises(FerkitError, match="--pretrained PATH"):
        build_model("mobilenet_v2", 7, "imagenet")


def test_freeze_and_unfreeze_last_blocks():
    model = build_model("mobilenet_v2", 7, "none")
    set_trainable(model, freeze_backbone=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("backbone.classifier") for n in trainable)
    set_trainable(model, freeze_backbone=True, unfreeze_last=2)
    trainable = {n.split(".")[2] for n, p in model.named_parameters()
                 if p.requires_grad and n.startswith("backbone.features")}
    assert trainable == {"17", "18"}
