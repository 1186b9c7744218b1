#!/usr/bin/env bash
# c8_wide's 12,000-image learning-curve run (20 epochs), as run: started by
#   .venv/bin/python experiments/learning_curves.py run --lanes 1 --only c8_wide_mnist --jobs c8_wide_mnist-n12000-s0
# on the 2-core AMD EPYC (AVX2, float32) beside c8_wide's other curve runs, stopped after 200 of its 1,860 steps,
# and resumed in the next session (same kind of machine) alone on both cores by the lines below; learning_curves.py
# then evaluates it and writes its record (it trains nothing once out/config.json exists). Then:
#   .venv/bin/python experiments/learning_curves.py publish --presets c8_wide_mnist
#   .venv/bin/zoo evaluate c8_wide_mnist --data-root "$DATA" --weights rotated-12k --threads 2 --update
#   .venv/bin/zoo publish --write-records
#   .venv/bin/python experiments/learning_curves.py report --update
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
R=runs/curves/c8_wide_mnist-n12000-s0
mkdir -p "$R"
RESUME=$([ -f "$R/resume.safetensors" ] && echo --resume || true)  # as run: --resume, from step 200
if [ ! -f "$R/out/config.json" ]; then
    PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 .venv/bin/zoo train c8_wide_mnist --data-root "$DATA" --train-size 12000 \
        --epochs 20 --batch-size 128 --seed 0 --label-smoothing 0.1 --ema 0.999 --threads 2 --no-progress \
        --val-every 620 --checkpoint-every 100 --run-dir "$R" --out "$R/out" $RESUME >> "$R/log.txt" 2>&1
fi
.venv/bin/python experiments/learning_curves.py run --lanes 1 --only c8_wide_mnist --jobs c8_wide_mnist-n12000-s0 \
    --data-root "$DATA"
