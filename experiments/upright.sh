#!/usr/bin/env bash
# "Train upright, test rotated": presets trained on upright MNIST (no rotation augmentation, the rotated presets'
# recipe otherwise), then evaluated on the rotated-MNIST protocol; writes the table into README.md and
# figures/profile-upright.png. One thread per run, two runs at a time on the 2 cores.
# Published: every preset for 10 epochs, the reference's budget: c8, so2 and d4 in bfloat16 (timed faster for
# them; d4 chose it by itself), c4 and trivial in float32 (c8 66.6 min, so2 81.3 min, d4 57.9 min next to
# another run).
# It replaces the published weights/*-upright, so it runs only as: experiments/upright.sh --overwrite
set -euo pipefail
[[ ${1:-} == --overwrite ]] || { echo "$0 retrains and replaces the published weights/*-upright; run it with --overwrite to do so" >&2; exit 2; }
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
train() { .venv/bin/zoo train "$1" --augment none --data-root "$DATA" --epochs "$2" --threads 1 --no-progress --publish --overwrite "${@:3}"; }
(train c8_mnist 10 --bf16; train c4_mnist 10; train d4_mnist 10) &
(train so2_mnist 10 --bf16; train trivial_mnist 10 --no-bf16) &
wait
.venv/bin/zoo export weights/*-upright  # verifies the exports that zoo train wrote
.venv/bin/zoo evaluate --data-root "$DATA" --weights upright --update
