"""Train the face check (ferkit.detection.face_check) and write src/ferkit/assets/face_check.onnx.

    python tools/make_face_check.py --fer ../shared/fer2013      # ~21 min on 2 cores

The shipped file is these defaults run on a 2-core machine (two workers: the scenes' seeds
follow the worker count).

1. Scenes like the scene benchmark's (bench/scenes.py), but made of FER2013's *training*
   faces and of backgrounds the benchmark does not use (scikit-image's, scikit-learn's and
   Matplotlib's other sample images, and random textures), with non-face squares pasted the
   same way as faces, so that a pasted square's edges alone do not make a face.
2. Every candidate CenterFace (heat-map peaks >= 0.02) and BlazeFace on the grey picture
   (first look >= 0.3) propose there, as the network will see it: the grey 48x48 square of
   FER2013's frame around it. A candidate framing a face at IoU >= 0.3 is a face, with the
   shift and scale that take its frame to the face's square; one at < 0.3, or on a non-face
   square, is not.
3. A small CNN (4 stages of two 3x3 convolutions, 16-96 channels) learns both, with flips,
   contrast and small shifts; it is exported to ONNX (opset 17), its weights stored in fp16.
Needs the train extra (torch, onnx) and the dev extra (scikit-image, scikit-learn).
"""

import argparse
import math
import os
import random
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from scenes import H, W, face_files, free_place, paste_square, tint  # noqa: E402

from ferkit.detection.blazeface import BlazeFace  # noqa: E402
from ferkit.detection.boxes import iou  # noqa: E402
from ferkit.detection.centerface import CenterFace, blazeface_box  # noqa: E402
from ferkit.detection.face_check import frame_pixels  # noqa: E402
from ferkit.detection.framing import FRAME_SCALE, crop_square  # noqa: E402

SKIMAGE = ["binary_blobs", "checkerboard", "clock", "colorwheel", "horse", "logo",
           "shepp_logan_phantom", "microaneurysms"]


def backgrounds() -> list[Image.Image]:
    """Face-free sample images that the scene benchmark does not use."""
    import matplotlib
    import skimage.data
    from sklearn.datasets import load_sample_images

    images = []
    for name in SKIMAGE:
        a = getattr(skimage.data, name)()
        images.append(Image.fromarray(a.astype(np.uint8) * 255 if a.dtype == bool else a))
    images.append(Image.fromarray(skimage.data.stereo_motorcycle()[0]))
    images += [Image.fromarray(a) for a in load_sample_images().images]
    sample_data = Path(matplotlib.get_data_path()) / "sample_data"
    for name in ["Minduka_Present_Blue_Pack.png", "logo2.png"]:
        images.append(Image.open(sample_data / name))
    for name, key in [("topobathy.npz", "topo"), ("jacksboro_fault_dem.npz", "elevation")]:
        z = np.load(sample_data / name)[key].astype(np.float32)
        images.append(Image.fromarray(((z - z.min()) / (np.ptp(z) + 1e-6) * 255)
                                      .astype(np.uint8)))
    return [im.convert("RGB") for im in images]


def texture(rng: random.Random) -> Image.Image:
    """A random texture: smoothed noise at a random scale, or shapes and lines."""
    noise = np.random.default_rng(rng.randrange(1 << 30))
    if rng.random() < 0.4:
        s = rng.choice([4, 8, 16, 32, 64])
        small = noise.integers(0, 256, (H // s + 2, W // s + 2, rng.choice([1, 3])))
        img = Image.fromarray(small.astype(np.uint8).squeeze()).convert("RGB")
        img = img.resize((W + 2 * s, H + 2 * s), Image.Resampling.BICUBIC)
        img = img.crop((s, s, s + W, s + H))
        if rng.random() < 0.5:
            grain = noise.normal(0, rng.uniform(5, 30), (H, W, 1))
            img = Image.fromarray(np.clip(np.asarray(img, np.float32) + grain, 0, 255)
                                  .astype(np.uint8))
        return img
    img = Image.new("RGB", (W, H), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(5, 60)):
        colour = tuple(rng.randrange(256) for _ in range(3))
        x0, y0 = rng.randrange(W), rng.randrange(H)
        shape = (x0, y0, x0 + rng.randint(5, 200), y0 + rng.randint(5, 200))
        kind = rng.random()
        if kind < 0.33:
            draw.ellipse(shape, fill=colour)
        elif kind < 0.66:
            draw.rectangle(shape, fill=colour)
        else:
            draw.line(shape, fill=colour, width=rng.randint(1, 12))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 4)))
    return img


def background(rng: random.Random, bgs: list[Image.Image]) -> Image.Image:
    if rng.random() < 0.3:
        return texture(rng)
    bg = rng.choice(bgs)
    zoom = max(W / bg.width, H / bg.height) * rng.uniform(1.0, 2.5)
    bg = bg.resize((math.ceil(bg.width * zoom), math.ceil(bg.height * zoom)))
    x, y = rng.randint(0, bg.width - W), rng.randint(0, bg.height - H)
    return bg.crop((x, y, x + W, y + H))


def make_scene(rng: random.Random, bgs, faces) -> tuple[Image.Image, list, list[bool]]:
    """A scene, its pasted squares, and which of them are faces."""
    scene = background(rng, bgs)
    if rng.random() < 0.5:
        scene = scene.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < 0.3:
        scene = tint(scene, rng)
    boxes, is_face = [], []
    for _ in range(rng.randint(0, 6)):
        size = round(math.exp(rng.uniform(math.log(40), math.log(350))))
        box = free_place(rng, boxes, size)
        if box is None:
            continue
        if rng.random() < 0.6:
            paste_square(scene, Image.open(rng.choice(faces)[0]).convert("L"), box, rng)
            is_face.append(True)
        else:
            source = background(rng, bgs)
            s = rng.randint(30, 200)
            x, y = rng.randint(0, W - s), rng.randint(0, H - s)
            patch = source.crop((x, y, x + s, y + s)).resize((48, 48))
            paste_square(scene, patch.convert("L") if rng.random() < 0.7 else patch, box, rng)
            is_face.append(False)
        boxes.append(box)
    return scene, boxes, is_face


def candidates(job: tuple[int, int, str]) -> dict[str, np.ndarray]:
    """Crops, labels and framing targets of the candidates in `scenes` scenes."""
    seed, scenes, fer = job
    rng = random.Random(seed)
    bgs, faces = backgrounds(), face_files(Path(fer) / "train")
    centerface = CenterFace(min_face=50, threads=1, check=False)
    blazeface = BlazeFace(threads=1)
    x, y, target = [], [], []
    for _ in range(scenes):
        scene, boxes, is_face = make_scene(rng, bgs, faces)
        rgb = np.asarray(scene)
        grey = np.asarray(scene.convert("L").convert("RGB"))
        proposed = [blazeface_box(d) for d in centerface.propose(rgb)]
        proposed += blazeface.propose(grey, 40, CenterFace.grey_candidate)
        for d in proposed:
            frame = crop_square(d.box, FRAME_SCALE)
            overlap, face, box = max(
                ((iou(b, frame), f, b) for b, f in zip(boxes, is_face, strict=True)),
                default=(0.0, False, None), key=lambda t: t[0])
            x.append(frame_pixels(rgb, frame))
            if face and overlap >= 0.3:
                side = frame[2] - frame[0]
                y.append(1)
                target.append(((box[0] + box[2] - frame[0] - frame[2]) / 2 / side,
                               (box[1] + box[3] - frame[1] - frame[3]) / 2 / side,
                               math.log((box[2] - box[0]) / side)))
            else:
                y.append(0)
                target.append((0.0, 0.0, 0.0))
    return {"x": np.stack(x), "y": np.array(y, np.float32),
            "target": np.array(target, np.float32)}


def network():
    import torch.nn as nn

    def stage(i: int, o: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o),
                             nn.ReLU(inplace=True), nn.Conv2d(o, o, 3, padding=1, bias=False),
                             nn.BatchNorm2d(o), nn.ReLU(inplace=True))

    class FaceCheck(nn.Module):
        """[N, 1, 48, 48] grey pixels (0-255) -> [N, 4]: face logit, dx, dy, log scale."""

        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(stage(1, 16), nn.MaxPool2d(2), stage(16, 32),
                                          nn.MaxPool2d(2), stage(32, 64), nn.MaxPool2d(2),
                                          stage(64, 96))
            self.head = nn.Linear(96, 4)

        def forward(self, x):
            return self.head(self.features((x - 128.0) / 64.0).mean((2, 3)))

    return FaceCheck()


def augmented(x, target, rng: np.random.Generator):
    """Flips, contrast and brightness, and a shift of up to 3 px (targets follow)."""
    import torch
    import torch.nn.functional as F

    target = target.clone()
    flip = torch.from_numpy(rng.random(len(x)) < 0.5)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    target[flip, 0] = -target[flip, 0]
    gain = torch.from_numpy(rng.uniform(0.7, 1.3, (len(x), 1, 1, 1)).astype(np.float32))
    bias = torch.from_numpy(rng.uniform(-25, 25, (len(x), 1, 1, 1)).astype(np.float32))
    mean = x.mean((2, 3), keepdim=True)
    x = ((x - mean) * gain + mean + bias).clamp(0, 255)
    dx, dy = rng.integers(0, 7, 2)
    x = F.pad(x, (3, 3, 3, 3), mode="replicate")[:, :, dy:dy + 48, dx:dx + 48]
    target[:, 0] -= (dx - 3) / 48
    target[:, 1] -= (dy - 3) / 48
    return x, target


def train(data: dict[str, np.ndarray], epochs: int, output: Path) -> None:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(data["x"]).float()[:, None]
    y, target = torch.from_numpy(data["y"]), torch.from_numpy(data["target"])
    order = rng.permutation(len(y))
    held, used = order[: len(y) // 10], order[len(y) // 10:]
    model = network()
    batch = 128
    opt = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3,
                                                total_steps=epochs * (len(used) // batch))
    start = time.time()
    for epoch in range(epochs):
        model.train()
        shuffled = used[rng.permutation(len(used))]
        for i in range(0, len(shuffled) - batch + 1, batch):
            b = torch.from_numpy(shuffled[i:i + batch])
            xb, tb = augmented(x[b], target[b], rng)
            out = model(xb)
            loss = F.binary_cross_entropy_with_logits(out[:, 0], y[b])
            face = y[b] > 0
            if face.any():  # framing errors are ~0.05 of a side: an L1 near zero, weighted
                loss = loss + 5 * F.smooth_l1_loss(out[face, 1:], tb[face], beta=0.02)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        with torch.no_grad():
            out = model(x[held]).numpy()
        truth = data["y"][held] > 0
        p = 1 / (1 + np.exp(-out[:, 0]))
        cut = np.quantile(p[~truth], 0.99)
        print(f"epoch {epoch + 1}/{epochs}: held-out accuracy {np.mean((p > 0.5) == truth):.4f}, "
              f"faces kept at 1% of non-faces {np.mean(p[truth] > cut):.4f}, "
              f"framing error {np.median(np.abs(out[truth, 1:] - data['target'][held][truth])):.4f}"
              f" ({time.time() - start:.0f} s)", flush=True)
    torch.onnx.export(model, torch.zeros(1, 1, 48, 48), str(output), input_names=["crops"],
                      output_names=["out"], dynamic_axes={"crops": {0: "n"}, "out": {0: "n"}},
                      opset_version=17, dynamo=False)


def halve(path: Path) -> float:
    """Store the file's weights in fp16 (ferkit.export.halve_weights: half the size, the same
    maths in fp32); the largest change it makes to an output on random crops."""
    import onnx
    import onnxruntime as ort

    from ferkit.export.onnx_model import halve_weights

    proto = onnx.load(str(path))
    before = proto.SerializeToString()
    halve_weights(proto)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    x = np.random.default_rng(0).uniform(0, 255, (64, 1, 48, 48)).astype(np.float32)
    a, b = (ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {"crops": x})[0]
            for m in (before, str(path)))
    return float(np.abs(a - b).max())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fer", type=Path, default=ROOT.parent / "shared" / "fer2013",
                   help="FER2013 in image folders (its train/ faces are used)")
    p.add_argument("--scenes", type=int, default=6000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--output", type=Path, default=ROOT / "src/ferkit/assets/face_check.onnx")
    args = p.parse_args()
    if not (args.fer / "train").is_dir():
        sys.exit(f"error: {args.fer / 'train'} is missing")
    start = time.time()
    print(f"proposing candidates in {args.scenes} scenes on {args.workers} processes "
          f"(~6 min for 6,000 on 2 cores)...", flush=True)
    share = -(-args.scenes // args.workers)
    jobs = [(args.seed + i, share, str(args.fer)) for i in range(args.workers)]
    with Pool(args.workers) as pool:
        parts = pool.map(candidates, jobs)
    data = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    print(f"{len(data['y'])} candidates, {int(data['y'].sum())} faces, from {args.scenes} "
          f"scenes ({time.time() - start:.0f} s)", flush=True)
    train(data, args.epochs, args.output)
    print(f"weights stored in fp16: outputs move by up to {halve(args.output):.1e}")
    print(f"wrote {args.output} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
