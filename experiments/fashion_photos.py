"""How zoo.create_transform frames pictures of clothing for weights fine-tuned on rotated Fashion-MNIST.

    .venv/bin/python experiments/fashion_photos.py --geometry                       # what Fashion-MNIST centres
    .venv/bin/python experiments/fashion_photos.py --images 500 --models runs/fashion/so2_mnist-finetune-n1000-s0/out

``--geometry`` measures, on the first 6,000 training images (outline: pixels above 25 of 255), how Fashion-MNIST
places and sizes an item: its bounding box (centre, longer side), its centre of mass, and the smallest-area
rectangle around it at any angle (the rotation-equivariant stand-in for the bounding box). The default makes
product photos of the first test images (enlarged 4 to 10 times, negated onto a light page with a margin, noise,
PNG or JPEG, grey or RGB; upright, and with the item turned by a uniform random angle) and prints, per model (a
checkpoint folder or a preset name), the accuracy on the test images themselves and on the photos framed by
``FashionFraming`` (invariant) and ``FashionFraming(upright=True)`` (Fashion-MNIST's bounding box), with the
median relative distance of each framed photo to its test image.
"""
from __future__ import annotations

import argparse
import gzip
import io
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402
from zoo.data import rotate  # noqa: E402
from zoo.transforms import FashionFraming, _bounding_rectangle  # noqa: E402

FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def load(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST's raw IDX files: images (N, 28, 28) in [0, 1] and labels (N,)."""
    with gzip.open(FASHION / f"{split}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(FASHION / f"{split}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return torch.tensor(images / 255, dtype=torch.float32), torch.tensor(labels.astype(np.int64))


def geometry(n: int = 6000) -> None:
    images, _ = load("train")
    ys, xs = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    longer, centred, from_box, rect_long, rect_from_box = [], [], [], [], []
    for image in images[:n]:
        mask = image > 25 / 255
        rows, cols = torch.nonzero(mask, as_tuple=True)
        box = ((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2)
        longer.append(max(rows.max() - rows.min(), cols.max() - cols.min()).item() + 1)
        centred.append(all(13.5 <= c.item() <= 14 for c in box))
        com = ((image * ys).sum() / image.sum(), (image * xs).sum() / image.sum())
        from_box.append(float(np.hypot(com[0] - box[0], com[1] - box[1])))
        cy, cx, side = _bounding_rectangle(mask)
        rect_long.append(side)
        rect_from_box.append(float(np.hypot(cy - box[0], cx - box[1])))
    pct = lambda v, q: np.percentile(v, q)  # noqa: E731
    print(f"first {n:,} training images, outline above 25/255")
    print(f"  bounding box: longer side 28 px in {np.mean(np.array(longer) == 28):.1%}, centre within half a pixel "
          f"of the frame's (13.5, 13.5) in {np.mean(centred):.1%}")
    print(f"  centre of mass from the box's centre: median {pct(from_box, 50):.2f} px, 95th percentile "
          f"{pct(from_box, 95):.2f} px")
    print(f"  smallest rectangle at any angle: its centre within 0.1 px of the box's in "
          f"{np.mean(np.array(rect_from_box) < 0.1):.1%}, longer side median {np.median(rect_long):.2f} px, "
          f"std(log) {np.log(rect_long).std():.4f}")


def product_photo(item: torch.Tensor, angle: float, rng: np.random.Generator):
    """A Fashion-MNIST image (28, 28) as a product photo (a PIL image), the item turned by ``angle`` degrees."""
    from PIL import Image

    side = int(28 * rng.uniform(4, 10))
    big = F.interpolate(item[None, None], size=(side, side), mode="bicubic", align_corners=False).clamp(0, 1)
    big = F.pad(big, (side // 4,) * 4)
    big = (rotate(big, angle) if angle else big)[0, 0].numpy()
    height, width = (int(big.shape[0] * rng.uniform(1.1, 1.8)) for _ in range(2))
    page = np.full((height, width), rng.uniform(0.85, 1.0), np.float32)
    top, left = rng.integers(0, height - big.shape[0] + 1), rng.integers(0, width - big.shape[1] + 1)
    page[top:top + big.shape[0], left:left + big.shape[1]] *= 1 - big  # negated onto the page
    page += rng.normal(0, rng.uniform(0.005, 0.02), page.shape)
    jpeg = rng.random() < 0.5
    pixels = (np.clip(page, 0, 1) * 255).astype(np.uint8)
    if rng.random() < 0.5:  # RGB, tinted
        pixels = np.clip(pixels[..., None] * rng.uniform(0.85, 1.0, 3), 0, 255).astype(np.uint8)
    picture = Image.fromarray(pixels)
    if jpeg:
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=int(rng.integers(75, 96)))
        picture = Image.open(buffer)
    return picture


def photos(n: int, models: list[str]) -> None:
    images, labels = load("t10k")
    images, labels = images[:n], labels[:n]
    rng = np.random.default_rng(0)
    angles = np.random.default_rng(1).uniform(0, 360, n)
    pictures = {"upright": [product_photo(x, 0.0, rng) for x in images],
                "turned": [product_photo(x, float(a), rng) for x, a in zip(images, angles)]}
    references = {"upright": images, "turned": rotate(images[:, None], torch.tensor(angles))[:, 0]}
    inputs = {("test images", kind): references[kind][:, None] for kind in pictures}
    for name, framing in (("invariant", FashionFraming()), ("upright=True", FashionFraming(upright=True))):
        for kind in pictures:
            inputs[name, kind] = torch.stack([framing(p) for p in pictures[kind]])
            distance = (inputs[name, kind] - references[kind][:, None]).flatten(1).norm(dim=1) / \
                references[kind].flatten(1).norm(dim=1)
            print(f"{name:<13} {kind:<8} median relative distance to the test image {distance.median():.3f}")
    for model_name in models:
        model = (zoo.from_pretrained(model_name, export=True) if Path(model_name).is_dir()
                 else zoo.create_model(model_name, pretrained=True, export=True)).eval()
        for name in ("test images", "invariant", "upright=True"):
            with torch.no_grad():
                row = [(model(inputs[name, kind]).argmax(1) == labels).float().mean().item() for kind in pictures]
            print(f"{model_name}  {name:<13} upright {row[0]:.1%}  turned {row[1]:.1%}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--geometry", action="store_true", help="how Fashion-MNIST places and sizes items, then stop")
    p.add_argument("--images", type=int, default=500, help="test images made into photos")
    p.add_argument("--models", nargs="*", default=[], help="checkpoint folders or preset names (c8_mnist.fashion)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.geometry:
        return geometry()
    photos(args.images, args.models)


if __name__ == "__main__":
    main()
