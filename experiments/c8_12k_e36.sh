#!/usr/bin/env bash
# c8's 36-epoch 12,000-image learning-curve run (the plan's second 12,000-image schedule, which c4, d4 and the plain
# CNN ran), alone on both cores of the 2-core AMD EPYC (float32): learning_curves.py run trains one thread a run,
# so the training is started here with --threads 2 and the same arguments otherwise; learning_curves.py then
# evaluates it and writes its record (it trains nothing once out/config.json exists). Resumable: run it again.
# If it wins on validation over the 20-epoch run:
#   .venv/bin/python experiments/learning_curves.py publish --presets c8_mnist --overwrite
#   .venv/bin/zoo evaluate c8_mnist --data-root "$DATA" --weights rotated-12k --threads 2 --update
#   .venv/bin/zoo publish --write-records
#   .venv/bin/python experiments/learning_curves.py report --update
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
R=runs/curves/c8_mnist-n12000-e36-s0
mkdir -p "$R"
RESUME=$([ -f "$R/resume.safetensors" ] && echo --resume || true)
if [ ! -f "$R/out/config.json" ]; then
    PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 .venv/bin/zoo train c8_mnist --data-root "$DATA" --train-size 12000 \
        --epochs 36 --batch-size 128 --seed 0 --label-smoothing 0.1 --ema 0.999 --threads 2 --no-progress \
        --val-every 620 --checkpoint-every 100 --run-dir "$R" --out "$R/out" $RESUME >> "$R/log.txt" 2>&1
fi
.venv/bin/python experiments/learning_curves.py run --lanes 1 --only c8_mnist --jobs c8_mnist-n12000-e36-s0 \
    --data-root "$DATA"
