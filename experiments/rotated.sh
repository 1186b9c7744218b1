#!/usr/bin/env bash
# Rounds 1 and 2 of the rotated-MNIST presets (docs/training.md) as they ran, two at a time with one thread each,
# into runs/rotated-round2/<preset>/checkpoint, then their accuracy on the rotated-MNIST protocol. About 2 hours on
# 2 cores. trivial and c4 trained in float32 (round 1); so2, d4 and c8 with bfloat16 autocast (round 2), each sized
# to finish within 45 minutes next to one other run. These checkpoints were published until round 3
# (experiments/accuracy.sh) replaced them with better ones; this script writes nothing under weights/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=runs/rotated-round2
train() { .venv/bin/zoo train "$1" --data-root "$DATA" --epochs "$2" "$3" --threads 1 --no-progress --run-dir "$OUT/$1"; }
(train so2_mnist 4 --bf16; train c4_mnist 10 --no-bf16; train trivial_mnist 10 --no-bf16) &
(train d4_mnist 4.5 --bf16; train c8_mnist 5.5 --bf16) &
wait
.venv/bin/zoo evaluate "$OUT"/*/checkpoint --data-root "$DATA"
