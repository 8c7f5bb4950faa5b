"""Batched augmentation on the training device: whole batches as tensor ops, one random draw
per image, reproducible from a torch.Generator.

torchvision.transforms.v2 draws one set of parameters per call, i.e. per batch; per-image
randomness on the GPU needs the affine-grid formulation below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.io import decode_jpeg, encode_jpeg


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, H, W] (or [B, 1, H, W]) -> float [B, 1, H, W] in [0, 1]."""
    if images.dim() == 3:
        images = images.unsqueeze(1)
    return images.float().div_(255.0)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-2:] == (size, size):
        return x
    down = x.shape[-1] > size or x.shape[-2] > size
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=down)


@dataclass(kw_only=True)
class EvalPreset:
    """What validation sees: the stored image resized to the model's input size."""

    img_size: int

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        return resize(to_float(images), self.img_size)


@dataclass(kw_only=True)
class TrainPreset:
    """The brief's augmentation (flip, rotation, colour jitter) plus optional extras.

    rotation: max degrees either way; brightness/contrast: max relative change;
    scale/translate: random zoom (face size relative to the frame: <1 smaller, >1 larger)
    and shift (fraction of the side), i.e. a random resized crop that tolerates framing;
    erasing: probability of blanking one random rectangle per image;
    photo: probability of each of the photo degradations (see `degrade`), per image.
    """

    img_size: int
    hflip: float = 0.5
    rotation: float = 10.0
    brightness: float = 0.2
    contrast: float = 0.2
    scale: tuple[float, float] = (1.0, 1.0)
    translate: float = 0.0
    erasing: float = 0.0
    photo: float = 0.0

    @classmethod
    def from_settings(cls, s: dict) -> TrainPreset:
        """The augmentation a run's settings (its train_args) describe."""
        return cls(img_size=s["img_size"], rotation=s["rotation"], erasing=s["erasing"],
                   translate=s["translate"], scale=(s["min_scale"], s["max_scale"]),
                   photo=s.get("photo_aug", 0.0))

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None):
        x = to_float(images)
        if x.shape[-1] > self.img_size:  # shrink first so grid_sample does not alias
            x = resize(x, self.img_size)
        x = self.geometry(x, generator)
        x = self.jitter(x, generator)
        if self.photo > 0:
            x = self.degrade(x, generator)
        if self.erasing > 0:
            x = self.erase(x, generator)
        return x

    def _uniform(self, n, low, high, x, generator):
        return torch.rand(n, device=x.device, generator=generator) * (high - low) + low

    def geometry(self, x: torch.Tensor, generator) -> torch.Tensor:
        """Flip, rotate, zoom and shift each image, resampled once to img_size."""
        n = x.shape[0]
        angle = self._uniform(n, -self.rotation, self.rotation, x, generator) * (math.pi / 180)
        zoom = self._uniform(n, self.scale[0], self.scale[1], x, generator)
        flip = torch.rand(n, device=x.device, generator=generator) < self.hflip
        sign = 1.0 - 2.0 * flip.float()
        shift = self._uniform(2 * n, -self.translate, self.translate, x, generator).view(n, 2)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        # theta maps output coords to input coords; the flip negates the output x axis.
        theta = torch.stack(
            [
                torch.stack([cos * sign, -sin, shift[:, 0] * 2], dim=1),
                torch.stack([sin * sign, cos, shift[:, 1] * 2], dim=1),
            ],
            dim=1,
        )
        size = (n, x.shape[1], self.img_size, self.img_size)
        grid = F.affine_grid(theta.to(x.dtype), size, align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def jitter(self, x: torch.Tensor, generator) -> torch.Tensor:
        """Brightness and contrast (saturation and hue do not exist in grey)."""
        n = x.shape[0]
        b = self._uniform(n, 1 - self.brightness, 1 + self.brightness, x, generator)
        c = self._uniform(n, 1 - self.contrast, 1 + self.contrast, x, generator)
        x = x * b.view(n, 1, 1, 1)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return ((x - mean) * c.view(n, 1, 1, 1) + mean).clamp_(0, 1)

    def degrade(self, x: torch.Tensor, generator) -> torch.Tensor:
        """What a camera and the web do to a face, each with probability `photo` per image:
        a tone curve (gamma 0.6-1.6), sensor noise (sigma up to 0.04), a smaller original
        (shrunk to 20-80% of the side and enlarged back) and JPEG (quality 20-90).
        """
        n = x.shape[0]
        gamma = torch.exp(self._uniform(n, math.log(0.6), math.log(1.6), x, generator))
        x = torch.where(self._pick(x, generator), x.clamp(min=1e-6) ** gamma.view(n, 1, 1, 1), x)
        sigma = self._uniform(n, 0, 0.04, x, generator).view(n, 1, 1, 1)
        noise = torch.randn(x.shape, device=x.device, generator=generator) * sigma
        x = torch.where(self._pick(x, generator), (x + noise).clamp(0, 1), x)
        fraction = float(self._uniform(1, 0.2, 0.8, x, generator))
        x = self._shrink(x, self._pick(x, generator).flatten(), fraction)
        quality = self._uniform(n, 20, 90, x, generator).round().int().tolist()
        return self._jpeg(x, self._pick(x, generator).flatten(), quality)

    def _pick(self, x: torch.Tensor, generator) -> torch.Tensor:
        """Which images a degradation applies to, shaped [B, 1, 1, 1]."""
        n = x.shape[0]
        return (torch.rand(n, device=x.device, generator=generator) < self.photo).view(n, 1, 1, 1)

    def _shrink(self, x: torch.Tensor, chosen: torch.Tensor, fraction: float) -> torch.Tensor:
        # One size per batch keeps it one interpolate call; batches differ, so all sizes occur.
        if not chosen.any():
            return x
        side = max(8, round(x.shape[-1] * fraction))
        x = x.clone()
        x[chosen] = resize(resize(x[chosen], side), x.shape[-1])
        return x

    @staticmethod
    def _jpeg(x: torch.Tensor, chosen: torch.Tensor, quality: list[int]) -> torch.Tensor:
        # On the host: the decoder's output is the same on every device that trains.
        rows = chosen.nonzero().flatten().tolist()
        if not rows:
            return x
        images = (x[rows].clamp(0, 1) * 255).round().to("cpu", torch.uint8)
        back = [
            decode_jpeg(encode_jpeg(image, quality=quality[row]))
            for row, image in zip(rows, images, strict=True)
        ]
        x = x.clone()
        x[rows] = torch.stack(back).to(x.device, x.dtype) / 255.0
        return x

    def erase(self, x: torch.Tensor, generator) -> torch.Tensor:
        """Random erasing: one rectangle (2-33% of the area, aspect 0.3-3.3) set to noise."""
        n, _, h, w = x.shape
        area = self._uniform(n, 0.02, 0.33, x, generator)
        log_ratio = self._uniform(n, math.log(0.3), math.log(3.3), x, generator)
        eh = (area * torch.exp(log_ratio)).sqrt().clamp(max=1.0)
        ew = (area / torch.exp(log_ratio)).sqrt().clamp(max=1.0)
        top = self._uniform(n, 0, 1, x, generator) * (1 - eh)
        left = self._uniform(n, 0, 1, x, generator) * (1 - ew)
        ys = torch.linspace(0, 1, h, device=x.device).view(1, h, 1)
        xs = torch.linspace(0, 1, w, device=x.device).view(1, 1, w)
        inside = (
            (ys >= top.view(n, 1, 1))
            & (ys <= (top + eh).view(n, 1, 1))
            & (xs >= left.view(n, 1, 1))
            & (xs <= (left + ew).view(n, 1, 1))
        )
        apply = torch.rand(n, device=x.device, generator=generator) < self.erasing
        mask = (inside & apply.view(n, 1, 1)).unsqueeze(1)
        noise = torch.rand(x.shape, device=x.device, generator=generator)
        return torch.where(mask, noise, x)


def mix(
    x: torch.Tensor,
    targets: torch.Tensor,
    mixup_alpha: float,
    cutmix_alpha: float,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MixUp or CutMix (chosen at random when both are on) on a batch with soft targets."""
    use = [a for a in (("mixup", mixup_alpha), ("cutmix", cutmix_alpha)) if a[1] > 0]
    if not use:
        return x, targets
    pick = int(torch.randint(len(use), (1,), generator=_cpu(generator)).item())
    kind, alpha = use[pick]
    beta = torch.distributions.Beta(alpha, alpha)
    lam = float(beta.sample().item())
    perm = torch.randperm(x.shape[0], device=x.device, generator=generator)
    if kind == "mixup":
        x = x * lam + x[perm] * (1 - lam)
    else:
        h, w = x.shape[-2:]
        rh, rw = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
        cy = int(torch.randint(h, (1,), generator=_cpu(generator)).item())
        cx = int(torch.randint(w, (1,), generator=_cpu(generator)).item())
        y0, y1 = max(cy - rh // 2, 0), min(cy + rh // 2, h)
        x0, x1 = max(cx - rw // 2, 0), min(cx + rw // 2, w)
        x = x.clone()
        x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    return x, targets * lam + targets[perm] * (1 - lam)


def _cpu(generator: torch.Generator | None) -> torch.Generator | None:
    # Scalar draws on the host; a CUDA generator cannot serve them.
    return generator if generator is None or generator.device.type == "cpu" else None
