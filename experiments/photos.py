"""Photos of MNIST test digits as a person has them, classified through ``zoo.create_transform`` and ``zoo predict``.

Each photo: the 28x28 test digit enlarged 4 to 10 times (bicubic), dark ink (grey level 0.05-0.3) on a light
page (0.7-0.95) with a gentle gradient, at a random place on a page 1.3 to 2.5 times its size, a slight blur
(Gaussian, sigma up to 1.5 px) and noise (sigma 0.01-0.03), saved as PNG or JPEG (quality 75-95), grey or RGB
(a tinted page). Upright, and turned by a uniform random angle in [0, 360) (the page turned with it, seed 0).

    .venv/bin/python experiments/photos.py --images 2000                 # accuracies, upright and turned
    .venv/bin/python experiments/photos.py --calibrate                   # the size measure, and MNIST_RADIUS
    .venv/bin/python experiments/photos.py --offsets --images 3000      # where the centre of mass goes
    .venv/bin/python experiments/photos.py --models c8_mnist runs/centre/c8_mnist/out   # a checkpoint folder too

Prints, per preset and framing (the invariant default; --upright's MNIST offset; the bounding-box framing the
app used before, for comparison), the accuracy on the upright and on the turned photos: through
``zoo.create_transform`` in Python for every framing, and through ``zoo predict --format json`` for the default
(for presets; a checkpoint folder, e.g. a training run's, is measured in Python only).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zoo  # noqa: E402
from zoo.data import load_mnist, train_val_split  # noqa: E402
from zoo.exported import load_exported  # noqa: E402
from zoo.transforms import INK_SHARE, DigitFraming, _centre_and_radius  # noqa: E402


def photo(digit: torch.Tensor, angle: float, rng: np.random.Generator) -> np.ndarray:
    """One photo (uint8, H x W or H x W x 3) of a 28x28 digit in [0, 1], turned by ``angle`` degrees."""
    from PIL import Image, ImageFilter

    zoom = rng.uniform(4, 10)
    side = int(28 * zoom)
    big = F.interpolate(digit[None, None], size=(side, side), mode="bicubic", align_corners=False)[0, 0].clamp(0, 1)
    page_h, page_w = (int(side * rng.uniform(1.3, 2.5)) for _ in range(2))
    ink, paper = rng.uniform(0.05, 0.3), rng.uniform(0.7, 0.95)
    y, x = np.mgrid[0:page_h, 0:page_w] / max(page_h, page_w)
    gx, gy = rng.uniform(-0.1, 0.1, 2)
    page = np.clip(paper + gx * (x - 0.5) + gy * (y - 0.5), 0, 1)
    top, left = rng.integers(0, page_h - side + 1), rng.integers(0, page_w - side + 1)
    region = page[top:top + side, left:left + side]
    page[top:top + side, left:left + side] = region + (ink - region) * big.numpy()
    picture = Image.fromarray((page * 255).astype(np.uint8))
    if angle:
        picture = picture.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=int(paper * 255))
    picture = picture.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    array = np.asarray(picture, dtype=np.float32) / 255 + rng.normal(0, rng.uniform(0.01, 0.03),
                                                                     picture.size[::-1])
    if rng.random() < 0.5:  # RGB: a tinted page, the ink a little coloured
        array = array[..., None] * rng.uniform(0.85, 1.0, 3)
    return (np.clip(array, 0, 1) * 255).astype(np.uint8)


def write_photos(images: torch.Tensor, angles: np.ndarray, folder: Path, seed: int) -> list[Path]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for i, (digit, angle) in enumerate(zip(images[:, 0], angles)):
        jpeg = rng.random() < 0.5
        path = folder / f"{i:05d}.{'jpg' if jpeg else 'png'}"
        Image.fromarray(photo(digit, float(angle), rng)).save(path, **({"quality": int(rng.integers(75, 96))}
                                                                        if jpeg else {}))
        paths.append(path)
    return paths


def box_framing(picture) -> torch.Tensor:
    """The framing the app used before: bounding box into 20x20, centre of mass at pixel (14, 14)."""
    from zoo.transforms import frame_digit, read_picture

    framed = frame_digit(read_picture(picture), 56, 20.0)[0]  # clean ink at twice the size, then MNIST's recipe
    rows, cols = torch.nonzero(framed > 0.1, as_tuple=True)
    box = framed[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = 20 / max(box.shape)
    size = (max(1, round(box.shape[0] * scale)), max(1, round(box.shape[1] * scale)))
    box = F.interpolate(box[None, None], size=size, mode="area")[0, 0]
    frame = torch.zeros(28, 28)
    mass = box.sum()
    cy = (box.sum(1) * torch.arange(size[0])).sum() / mass
    cx = (box.sum(0) * torch.arange(size[1])).sum() / mass
    top = min(max(int(round(14 - cy.item())), 0), 28 - size[0]), min(max(int(round(14 - cx.item())), 0), 28 - size[1])
    frame[top[0]:top[0] + size[0], top[1]:top[1] + size[1]] = box
    return frame[None]


def calibrate(data_root: str) -> None:
    """Which rotation-invariant size measure predicts MNIST's own scale best, and its median on the training split."""
    images, _ = load_mnist(data_root, train=True)
    train, _ = train_val_split()
    images = images[train, 0].double()
    radii = torch.tensor([_centre_and_radius(im, INK_SHARE)[2] for im in images])
    print(f"{len(images):,} training images: the {INK_SHARE:.0%} ink radius has median {radii.median():.3f} px, "
          f"std(log) {radii.log().std():.4f} (MNIST scales the bounding box's longer side to 20 px)")
    for share in (0.9, 0.98):
        other = torch.tensor([_centre_and_radius(im, share)[2] for im in images[:5000]])
        print(f"  the {share:.0%} ink radius (first 5,000): std(log) {other.log().std():.4f}")


def offsets(data_root: str, n: int, models: list[str]) -> None:
    """MNIST test images with their centre of mass moved (in one bilinear interpolation with the turn) to MNIST's
    pixel (14, 14) or to the frame's centre (13.5, 13.5), upright and turned by the rotated-test angles."""
    from collections import Counter

    from zoo.data import rotate, rotated_test_angles

    images, labels = load_mnist(data_root, train=False)
    images, labels = images[:n], labels[:n]
    index = torch.arange(28.0)

    def centre_of_mass(batch: torch.Tensor) -> torch.Tensor:  # (N, 2): column, row
        mass = batch.sum((2, 3))
        return torch.cat([(batch.sum(2) * index).sum(2) / mass, (batch.sum(3) * index).sum(2) / mass], 1)

    print(f"first {n:,} MNIST test images, centre of mass moved to (row, column) = (p, p)")
    for name in models:
        model = zoo.create_model(name, pretrained=True, export=True)
        for kind, angles in (("upright", torch.zeros(n, dtype=torch.float64)), ("turned", rotated_test_angles()[:n])):
            turned = centre_of_mass(rotate(images, angles)).double()
            cells = [f"as turned {_accuracy(model, rotate(images, angles), labels)}"]
            for p in (14.0, 13.5):
                cells.append(f"p={p}: {_accuracy(model, rotate(images, angles, shift=p - turned), labels)}")
            print(f"  {name:<10} {kind:<8} " + "  ".join(cells), flush=True)


def _accuracy(model, inputs: torch.Tensor, labels: torch.Tensor) -> str:
    with torch.no_grad():
        predicted = model(inputs).argmax(1)
    wrong = predicted != labels
    pairs = sum(1 for t, p in zip(labels[wrong].tolist(), predicted[wrong].tolist()) if {t, p} == {6, 9})
    return f"{accuracy(predicted.tolist(), labels):.2f}% ({pairs} of {int(wrong.sum())} errors 6<->9)"


def accuracy(predictions: list[int], labels: torch.Tensor) -> float:
    return 100 * float((torch.tensor(predictions) == labels).float().mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--images", type=int, default=2000, help="the first N MNIST test images")
    p.add_argument("--models", nargs="+", default=["c8_mnist", "so2_mnist"],
                   help="presets (their published weights), or checkpoint folders")
    p.add_argument("--calibrate", action="store_true", help="the size measure and its constant, then stop")
    p.add_argument("--offsets", action="store_true", help="MNIST's test images with the centre of mass at (14, 14) "
                   "or at the frame's centre, then stop")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.calibrate:
        return calibrate(args.data_root)
    if args.offsets:
        return offsets(args.data_root, args.images, args.models)

    images, labels = load_mnist(args.data_root, train=False)
    images, labels = images[:args.images], labels[:args.images]
    angles = {"upright": np.zeros(len(images)), "turned": np.random.default_rng(0).uniform(0, 360, len(images))}
    framings = {"invariant": DigitFraming(), "upright=True": DigitFraming(offset=0.5), "bounding box": box_framing}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {}
        for kind, turn in angles.items():
            folders[kind] = Path(tmp) / kind
            folders[kind].mkdir()
            write_photos(images, turn, folders[kind], seed=1)
        print(f"{len(images):,} MNIST test digits as photos, upright and turned by a uniform random angle")
        print(f"{'model':<12} {'framing':<22} {'upright':>8} {'turned':>8}")
        inputs = {(kind, name): torch.stack([framing(path) for path in sorted(folders[kind].iterdir())])
                  for kind in angles for name, framing in framings.items()}
        for model_name in args.models:
            folder = Path(model_name).is_dir()
            model = load_exported(model_name) if folder else zoo.create_model(model_name, pretrained=True,
                                                                                  export=True)
            for name in framings:
                with torch.no_grad():
                    row = [accuracy(model(inputs[kind, name]).argmax(1).tolist(), labels) for kind in angles]
                print(f"{model_name:<12} {name + ' (Python)':<22} {row[0]:>7.2f}% {row[1]:>7.2f}%", flush=True)
            if folder:
                continue
            row = []
            for kind in angles:
                out = subprocess.run([sys.executable, "-m", "zoo.cli", "predict", str(folders[kind]), "--model",
                                      model_name, "--format", "json", "--no-progress"], capture_output=True,
                                     text=True, check=True, cwd=ROOT)
                answers = {Path(r["path"]).name: int(r["label"]) for r in map(json.loads, out.stdout.splitlines())}
                row.append(accuracy([answers[p.name] for p in sorted(folders[kind].iterdir())], labels))
            print(f"{model_name:<12} {'invariant (zoo predict)':<22} {row[0]:>7.2f}% {row[1]:>7.2f}%", flush=True)


if __name__ == "__main__":
    main()
