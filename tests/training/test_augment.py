"""Batched augmentation on the training device."""

import math

import pytest
import torch
from conftest import face_like

from ferkit.training.augment import EvalPreset, TrainPreset, mix

NO_OP = dict(hflip=0.0, rotation=0.0, brightness=0.0, contrast=0.0)


@pytest.fixture
def batch():
    return torch.stack([torch.from_numpy(face_like(i)) for i in range(8)])


def test_identity_settings_only_resize_like_eval(batch):
    out = TrainPreset(img_size=48, **NO_OP)(batch)
    assert torch.allclose(out, EvalPreset(img_size=48)(batch), atol=1e-5)
    assert out.shape == (8, 1, 48, 48)
    assert EvalPreset(img_size=96)(batch).shape == (8, 1, 96, 96)


def test_flip_mirrors_every_image(batch):
    out = TrainPreset(img_size=48, **{**NO_OP, "hflip": 1.0})(batch)
    expected = EvalPreset(img_size=48)(batch).flip(-1)
    assert torch.allclose(out, expected, atol=1e-5)
    assert not torch.allclose(out, EvalPreset(img_size=48)(batch), atol=1e-2)


def _angle_of(img: torch.Tensor) -> float:
    """Orientation of a bright bar through the centre, in degrees."""
    ys, xs = torch.nonzero(img[0] > 0.5, as_tuple=True)
    ys, xs = ys.float() - ys.float().mean(), xs.float() - xs.float().mean()
    return math.degrees(0.5 * math.atan2(2 * (xs * ys).mean(), (xs**2).mean() - (ys**2).mean()))


def test_rotation_rotates_within_its_range():
    bar = torch.zeros(64, 1, 64, 64, dtype=torch.uint8)
    bar[:, 0, 30:34, 8:56] = 255  # horizontal bar
    gen = torch.Generator().manual_seed(0)
    out = TrainPreset(img_size=64, **{**NO_OP, "rotation": 20.0})(bar, gen)
    angles = torch.tensor([_angle_of(o) for o in out])
    assert angles.abs().max() <= 20.5
    assert angles.abs().max() > 10  # it really rotates, by different amounts
    assert angles.std() > 5


def test_jitter_changes_brightness_and_contrast_within_bounds(batch):
    gen = torch.Generator().manual_seed(1)
    plain = EvalPreset(img_size=48)(batch)
    out = TrainPreset(img_size=48, **{**NO_OP, "brightness": 0.3})(batch, gen)
    ratio = out.mean(dim=(1, 2, 3)) / plain.mean(dim=(1, 2, 3))
    assert ratio.min() >= 0.69 and ratio.max() <= 1.31 and ratio.std() > 0.02
    assert out.min() >= 0 and out.max() <= 1


def test_erasing_blanks_a_rectangle(batch):
    gen = torch.Generator().manual_seed(2)
    plain = EvalPreset(img_size=48)(batch)
    out = TrainPreset(img_size=48, **NO_OP, erasing=1.0)(batch, gen)
    changed = (out - plain).abs().gt(1e-6).float().mean(dim=(1, 2, 3))
    assert (changed > 0.01).all() and (changed < 0.5).all()


def test_a_seed_reproduces_a_batch_and_another_seed_does_not(batch):
    preset = TrainPreset(img_size=64, translate=0.1, scale=(0.8, 1.0), erasing=0.5)
    a = preset(batch, torch.Generator().manual_seed(7))
    b = preset(batch, torch.Generator().manual_seed(7))
    c = preset(batch, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def _detail(x: torch.Tensor) -> torch.Tensor:
    """Mean difference between horizontal neighbours, per image: how much fine detail is left."""
    return (x[..., 1:] - x[..., :-1]).abs().mean(dim=(1, 2, 3))


def test_photo_degradation_blurs_fine_detail_and_shifts_tone():
    checks = torch.zeros(16, 1, 64, 64, dtype=torch.uint8)
    checks[..., ::2, ::2] = checks[..., 1::2, 1::2] = 200  # a one-pixel checkerboard
    plain = EvalPreset(img_size=64)(checks)
    out = TrainPreset(img_size=64, **NO_OP, photo=1.0)(checks, torch.Generator().manual_seed(0))
    assert out.shape == plain.shape and out.min() >= 0 and out.max() <= 1
    assert (_detail(out) < 0.3 * _detail(plain)).all()  # a smaller original, enlarged back
    assert out.mean(dim=(1, 2, 3)).std() > 0.01  # gamma differs from image to image
    kept = TrainPreset(img_size=64, **NO_OP, photo=0.0)(checks, torch.Generator().manual_seed(0))
    assert torch.allclose(kept, plain, atol=1e-5)


def test_photo_degradation_touches_about_its_share_of_images(batch):
    faces = batch.repeat(8, 1, 1)  # 64 faces
    plain = EvalPreset(img_size=48)(faces)
    out = TrainPreset(img_size=48, **NO_OP, photo=0.2)(faces, torch.Generator().manual_seed(1))
    changed = (out - plain).abs().amax(dim=(1, 2, 3)) > 1e-6
    # each of 4 degradations with p = 0.2: 1 - 0.8 ** 4 = 59% of images touched by one or more
    assert 0.35 < changed.float().mean() < 0.8


def test_photo_degradation_is_reproducible_from_the_generator(batch):
    preset = TrainPreset(img_size=48, photo=0.5)
    a = preset(batch, torch.Generator().manual_seed(5))
    assert torch.equal(a, preset(batch, torch.Generator().manual_seed(5)))
    assert not torch.allclose(a, preset(batch, torch.Generator().manual_seed(6)))


@pytest.mark.parametrize("mixup,cutmix", [(0.4, 0.0), (0.0, 1.0)])
def test_mix_blends_images_and_targets(batch, mixup, cutmix):
    torch.manual_seed(0)
    x = EvalPreset(img_size=48)(batch)
    targets = torch.nn.functional.one_hot(torch.arange(8) % 7, 7).float()
    mixed, soft = mix(x, targets, mixup, cutmix, torch.Generator().manual_seed(3))
    assert torch.allclose(soft.sum(1), torch.ones(8))
    assert (soft.max(1).values < 1).any()  # some targets are now soft
    assert not torch.equal(mixed, x)
    same, hard = mix(x, targets, 0.0, 0.0)
    assert same is x and hard is targets


def test_zoom_scales_the_face_both_ways():
    square = torch.zeros(2, 1, 64, 64, dtype=torch.uint8)
    square[:, 0, 24:40, 24:40] = 255  # a 16x16 bright square in the middle
    for zoom, low, high in ((0.5, 0.2, 0.3), (1.5, 2.0, 2.5)):
        out = TrainPreset(img_size=64, **NO_OP, scale=(zoom, zoom))(square)
        ratio = (out > 0.5).float().sum(dim=(1, 2, 3)) / 256
        assert ((ratio > low) & (ratio < high)).all(), (zoom, ratio)
