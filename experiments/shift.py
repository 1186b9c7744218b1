"""How much the published presets rely on digits being centred as in MNIST: accuracy under small shifts.

    .venv/bin/python experiments/shift.py [--images 2000] [--data-root ../shared/data]

Takes the first ``--images`` rotated validation images (the protocol's validation split, rotated as in
``zoo.data``) and moves each by whole pixels to the right (zero fill) before the rotation-trained models see it.
MNIST centres every digit by its centre of mass, and so does every split of the protocol; a model may learn to
read where a stroke lies relative to the image centre, which a shift breaks while leaving the digit itself
whole. Prints one row per preset; validation images only, never the test set.
"""
import argparse

import torch

from zoo import create_model, data
from zoo.cli.common import positive_int
from zoo.metrics import accuracy
from zoo.registry import published_models

SHIFTS = (0, 1, 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--images", type=positive_int, default=2000)
    args = p.parse_args()
    images, labels = data.load_mnist(args.data_root, train=True)
    _, val_idx = data.train_val_split(len(images))
    val_idx = val_idx[:args.images]
    rotated = data.rotate(images[val_idx], data.fixed_angles(data.VAL_SIZE, data.VAL_ANGLE_SEED)[:len(val_idx)])
    labels = labels[val_idx]
    print(f"| model | {' | '.join(f'shift {s} px' for s in SHIFTS)} |")
    print(f"| --- |{' ---: |' * len(SHIFTS)}")
    for name in published_models():
        model = create_model(name, pretrained=True)
        row = []
        for s in SHIFTS:
            shifted = torch.zeros_like(rotated)
            shifted[..., s:] = rotated[..., :rotated.shape[-1] - s]
            row.append(f"{100 * accuracy(model, shifted, labels):.2f}%")
        print(f"| {name} | {' | '.join(row)} |", flush=True)


if __name__ == "__main__":
    main()
