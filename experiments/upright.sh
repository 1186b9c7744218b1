#!/usr/bin/env bash
# "Train upright, test rotated": every preset trained for 0.25 epoch (107 steps) on upright MNIST (no rotation augmentation),
# then evaluated on the rotated-MNIST protocol; writes the table into README.md and figures/profile-upright.png.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
train() { .venv/bin/python -m zoo.train "$1" --augment none --data-root "$DATA" --epochs 0.25 --threads 1 --no-bf16 --no-progress; }
(train so2_mnist; train c4_mnist; train trivial_mnist) &
(train c8_mnist; train d4_mnist) &
wait
.venv/bin/python -m zoo.export weights/*-upright
.venv/bin/python -m zoo.evaluate --data-root "$DATA" --weights upright --update
