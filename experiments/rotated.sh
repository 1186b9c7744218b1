#!/usr/bin/env bash
# Train the five published rotated-MNIST checkpoints exactly as published (two at a time, one thread each,
# float32), then evaluate them and update config.json, model cards and README. About 2 hours on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
train() { .venv/bin/python -m zoo.train "$1" --data-root "$DATA" --epochs "$2" --threads 1 --no-bf16 --no-progress; }
(train so2_mnist 5; train c4_mnist 10; train trivial_mnist 10) &
(train c8_mnist 8; train d4_mnist 7) &
wait
.venv/bin/python -m zoo.export weights/*_mnist
.venv/bin/python -m zoo.evaluate --data-root "$DATA" --weights rotated --update
