#!/usr/bin/env bash
# Train the five published rotated-MNIST checkpoints exactly as published, two at a time with one thread each,
# then export and evaluate them and update config.json, model cards and README. About 2 hours on 2 cores.
# trivial and c4 were trained in float32 in the first round; so2, d4 and c8 with bfloat16 autocast in the
# second, each sized to finish within 45 minutes next to one other run.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
train() { .venv/bin/zoo train "$1" --data-root "$DATA" --epochs "$2" "$3" --threads 1 --no-progress --publish; }
(train so2_mnist 4 --bf16; train c4_mnist 10 --no-bf16; train trivial_mnist 10 --no-bf16) &
(train d4_mnist 4.5 --bf16; train c8_mnist 5.5 --bf16) &
wait
.venv/bin/zoo export weights/*_mnist
.venv/bin/zoo evaluate --data-root "$DATA" --weights rotated --update
