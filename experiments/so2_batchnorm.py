"""Why the zoo has its own IIDBatchNorm: the first 150 training steps with and without it.

    .venv/bin/python experiments/so2_batchnorm.py [--data-root ../shared/data]

Same start for every run: seed 0, 150 Adam steps (lr 3e-3) on 64 training images rotated at random, one
thread. Prints the mean training loss over the last 50 steps for C8 (regular fields, escnn InnerBatchNorm),
SO(2) with the zoo's IIDBatchNorm, and SO(2) with escnn's IIDBatchNorm2d, which detaches the batch statistics.
"""
import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from escnn import nn as enn  # noqa: E402

from zoo import data, groups  # noqa: E402
from zoo.model import EquivariantCNN  # noqa: E402


def short_run(group: str, images: torch.Tensor, labels: torch.Tensor, steps: int = 150, batch: int = 64) -> float:
    torch.manual_seed(0)
    model = EquivariantCNN(group).train()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(images), (batch,), generator=g)
        x = data.rotate(images[idx], torch.rand(batch, generator=g, dtype=torch.float64) * 360)
        loss = F.cross_entropy(model(x), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return sum(losses[-50:]) / 50


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    args = p.parse_args()
    torch.set_num_threads(1)
    images, labels = data.load_mnist(args.data_root, train=True)
    train_idx, _ = data.train_val_split(len(images))
    images, labels = images[train_idx], labels[train_idx]
    print("| network | batch norm | loss, steps 101-150 | time |\n| --- | --- | ---: | ---: |")
    zoo_bn = groups.IIDBatchNorm
    for group, bn in [("c8", "escnn InnerBatchNorm"), ("so2", "zoo IIDBatchNorm"), ("so2", "escnn IIDBatchNorm2d")]:
        groups.IIDBatchNorm = enn.IIDBatchNorm2d if bn == "escnn IIDBatchNorm2d" else zoo_bn
        t = time.time()
        loss = short_run(group, images, labels)
        print(f"| {group} | {bn} | {loss:.3f} | {time.time() - t:.0f} s |", flush=True)
    groups.IIDBatchNorm = zoo_bn


if __name__ == "__main__":
    main()
