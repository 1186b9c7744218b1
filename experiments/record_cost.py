"""What E2CNN's MNIST-rot record designs would cost to train on this machine, as a lower bound.

    python experiments/record_cost.py [--threads 2] [--rounds 3]

E2CNN's 99.32% from 12,000 images (D16|5C16) and its C16 model (QUVA-Lab/e2cnn_experiments, ``mnist_final.sh``:
``E2SFCNN --N 16 [--flip --restrict 5] --fixparams``, 40 epochs at batch 64) are six convolutions with 9, 7, 7, 7,
7 and 5 pixel filters over 24, 32, 36, 36, 64 and 96 regular fields, divided by sqrt(|G| / 16) (``--fixparams``),
max pooling after the second and the fourth, then group pooling and three fully connected layers. An escnn model
expands its filters and runs ``conv2d`` over every channel, so a plain CNN with the same channel counts is a lower
bound on its training step. This script times one (torch's Conv2d, BatchNorm2d and ELU, channels-last, float32,
AdamW, batch 64) beside the plain reference of ``c8_wide_mnist`` (the zoo's biggest preset, batch 128, as
``zoo bench`` times it), prints the forward FLOPs of each and the hours 40 epochs of 12,000 images would take.
"""
from __future__ import annotations

import argparse
import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from zoo.cli.bench import rates, reference_cnn, training_step
from zoo.convert import export
from zoo.registry import create_model

FIELDS = (24, 32, 36, 36, 64, 96)
KERNELS = (9, 7, 7, 7, 7, 5)
PADDING = (0, 3, 3, 3, 3, 0)
POOL_AFTER = (1, 3)  # layer indices followed by 2x2 max pooling
EPOCHS, IMAGES, BATCH = 40, 12_000, 64


def record_design(order: int, restrict_at: int | None = None) -> nn.Module:
    """E2SFCNN's channel counts for a group of ``order`` elements (regular fields, ``--fixparams``); with
    ``restrict_at`` (1-based, as ``--restrict``), the layers after that one are built for the rotation subgroup
    of half the order (``--fixparams`` then divides by the subgroup's order)."""
    layers: list[nn.Module] = []
    channels = 1
    for i, (c, k, p) in enumerate(zip(FIELDS, KERNELS, PADDING)):
        group = order if restrict_at is None or i < restrict_at else order // 2
        fields = int(c / math.sqrt(group / 16))
        out = fields * group
        layers += [nn.Conv2d(channels, out, k, padding=p, bias=False), nn.BatchNorm2d(out), nn.ELU(inplace=True)]
        if i in POOL_AFTER:
            layers.append(nn.MaxPool2d(2))
        channels = out
    head = [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Unflatten(1, (fields, group)), _MaxOver(2),
            nn.Linear(fields, 96), nn.BatchNorm1d(96), nn.ELU(), nn.Linear(96, 96), nn.BatchNorm1d(96), nn.ELU(),
            nn.Linear(96, 10)]
    return nn.Sequential(*layers, *head).to(memory_format=torch.channels_last)


class _MaxOver(nn.Module):
    """Group pooling: the maximum over a field's channels."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(self.dim)


def forward_gflops(model: nn.Module) -> float:
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    return counter.get_total_flops() / 1e9


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    wide = reference_cnn(export(create_model("c8_wide_mnist", pretrained=False)))
    models = {"c8_wide_mnist reference (batch 128)": (wide, 128),
              "E2CNN C16 (lower bound, batch 64)": (record_design(16), BATCH),
              "E2CNN D16, C16 from layer 6 (lower bound, batch 64)": (record_design(32, restrict_at=5), BATCH)}
    print(f"{args.threads} threads; {EPOCHS} epochs of {IMAGES:,} images\n")
    print("| model | forward GFLOPs per image | training images/s | 40 epochs of 12,000 images |")
    print("| --- | ---: | ---: | ---: |")
    for name, (model, batch) in models.items():
        flops = forward_gflops(model)
        speed = rates({name: training_step(model, bf16=False, batch=batch)}, batch, rounds=args.rounds,
                      seconds=0.0)[name]
        hours = EPOCHS * IMAGES / speed / 3600
        print(f"| {name} | {flops:.2f} | {speed:.1f} | {hours:.1f} h |", flush=True)


if __name__ == "__main__":
    main()
