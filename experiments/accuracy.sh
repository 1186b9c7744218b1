#!/usr/bin/env bash
# Longer schedules, label smoothing and a weight average for the rotated-MNIST presets (the accuracy issue).
# One thread per run, two runs at a time on the 2 cores; every choice is read off the validation split, whose
# accuracy per epoch each run prints and records in config.json (training.val_history, val_history_raw).
#
# Ablation (validation only, nothing published): trivial for 10 epochs, the published recipe plus label
# smoothing 0.1 and an EMA of the weights; its baseline is the published trivial_mnist of the first round.
#   .venv/bin/zoo train trivial_mnist --data-root "$DATA" --epochs 10 --label-smoothing 0.1 \
#       --ema 0.999 --no-bf16 --threads 1 --no-progress --run-dir runs/trivial-ls-ema-10 --out runs/trivial-ls-ema-10/out
# and c4 for 28 epochs without label smoothing (published for a while, then beaten on validation by the run below):
#   .venv/bin/zoo train c4_mnist --data-root "$DATA" --epochs 28 --ema 0.999 --no-bf16 --threads 1 --no-progress
#
# Published (each run's command is also in its config.json):
#   c4_mnist: 28 epochs, EMA 0.999, float32 (105.5 minutes of one core, next to another run); replaced by
#     the same run with label smoothing 0.1 (97.3 minutes), which did better on the validation split
#   trivial_mnist: 40 epochs, label smoothing 0.1, EMA 0.999, float32 (50.9 minutes)
#   c8_mnist: 24 epochs, label smoothing 0.1, EMA 0.999, bfloat16 (138.6 minutes; stopped after 1,000 steps and
#     continued with --resume, which its recorded command shows)
#   d4_mnist: 22 epochs, label smoothing 0.1, EMA 0.999, bfloat16 (122.0 minutes)
#   so2_mnist: 13 epochs, label smoothing 0.1, EMA 0.999, bfloat16 (99.5 minutes)
#   c8_wide_mnist (capacity, round 4): the width rule at 1.5 times the widths (144k parameters) with c8's
#     recipe, alone on both cores (--threads 2; 126.3 minutes)
# plus, for the seed spread, the ablation again with --seed 1 (runs/trivial-ls-ema-10-seed1).
# It replaces the published rotated weights (weights/<preset>), so it runs only as: experiments/accuracy.sh --overwrite
set -euo pipefail
[[ ${1:-} == --overwrite ]] || { echo "$0 retrains rounds 3 to 6 and replaces the published rotated weights (weights/<preset>); run it with --overwrite to do so" >&2; exit 2; }
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
train() { .venv/bin/zoo train "$1" --data-root "$DATA" --threads 1 --no-progress --publish --overwrite "${@:2}"; }
publish() {  # evaluate the presets just trained, then regenerate the weights records
    .venv/bin/zoo evaluate "$@" --data-root "$DATA" --weights rotated --update
    .venv/bin/zoo publish --write-records
}
record() {  # keep a run's recipe and validation curve for the README's recipe table
    .venv/bin/python experiments/recipes.py --record "weights/$1" "$2" > /dev/null
}
(train trivial_mnist --epochs 40 --label-smoothing 0.1 --ema 0.999 --no-bf16) &
wait
publish trivial_mnist
record trivial_mnist trivial-ls-ema-40ep
(train c8_mnist --epochs 24 --label-smoothing 0.1 --ema 0.999 --bf16) &
(train d4_mnist --epochs 22 --label-smoothing 0.1 --ema 0.999 --bf16) &
wait
publish c8_mnist d4_mnist
record c8_mnist c8-ls-ema-24ep
record d4_mnist d4-ls-ema-22ep
(train c4_mnist --epochs 28 --label-smoothing 0.1 --ema 0.999 --no-bf16) &
(train so2_mnist --epochs 13 --label-smoothing 0.1 --ema 0.999 --bf16) &
wait
publish c4_mnist so2_mnist
record c4_mnist c4-ls-ema-28ep
record so2_mnist so2-ls-ema-13ep
train c8_wide_mnist --epochs 24 --label-smoothing 0.1 --ema 0.999 --bf16 --threads 2
publish c8_wide_mnist
record c8_wide_mnist c8-wide-ls-ema-24ep
# round 5 on the CPU, validation only (c4 keeps its weights): c4's published recipe at round 5's peak learning rate
#   .venv/bin/zoo train c4_mnist --data-root "$DATA" --epochs 28 --label-smoothing 0.1 --ema 0.999 --no-bf16 \
#       --lr 0.006 --threads 2 --run-dir runs/c4-lr6e-3-28 --out runs/c4-lr6e-3-28/out --no-progress
#   .venv/bin/python experiments/recipes.py --record runs/c4-lr6e-3-28/out c4-ls-ema-28ep-lr6e-3
# round 5, on a CUDA GPU (an H100: the four runs side by side, 13.9 min each); the best on validation is published
gpu() {
    .venv/bin/zoo train c8_wide_mnist --data-root "$DATA" --device cuda --no-bf16 --threads 2 --no-progress \
        --label-smoothing 0.1 --ema 0.999 --checkpoint-every 429 --run-dir "runs/$1" --out "runs/$1/out" "${@:2}"
}
(gpu c8w-gpu-s0 --epochs 54 --seed 0) & (gpu c8w-gpu-s1 --epochs 54 --seed 1) &
(gpu c8w-gpu-wd --epochs 54 --weight-decay 0.01) & (gpu c8w-gpu-lr --epochs 54 --lr 0.006) &
wait
for run in s0:c8-wide-gpu-54ep s1:c8-wide-gpu-54ep-seed1 wd:c8-wide-gpu-54ep-wd1e-2 lr:c8-wide-gpu-54ep-lr6e-3; do
    .venv/bin/python experiments/recipes.py --record "runs/c8w-gpu-${run%%:*}/out" "${run#*:}" > /dev/null
done
rm -rf weights/c8_wide_mnist && cp -r runs/c8w-gpu-lr/out weights/c8_wide_mnist  # 99.44% (validation), the best
publish c8_wide_mnist
# round 6, on the GPU again (an H100, six runs side by side): 36 epochs at peak lr 6e-3 with and without random
# shifts and scales, at 1.5, 2 and 3 times c8's widths (validation only: the shifts cost a point) ...
W2=32,64,64,128,128 W3=48,96,96,192,192 JITTER="--translate 2 --scale 0.1"
(gpu c8w-r6-w15 --epochs 36 --lr 0.006) & (gpu c8w-r6-w15j --epochs 36 --lr 0.006 $JITTER) &
(gpu c8w-r6-w2 --epochs 36 --lr 0.006 --widths $W2) & (gpu c8w-r6-w2j --epochs 36 --lr 0.006 --widths $W2 $JITTER) &
(gpu c8w-r6-w2j1 --epochs 36 --lr 0.006 --widths $W2 $JITTER --seed 1) &
(gpu c8w-r6-w3j --epochs 36 --lr 0.006 --widths $W3 $JITTER) &
wait
for run in w15:c8-wide-gpu-36ep-lr6e-3 w15j:c8-wide-gpu-36ep-lr6e-3-jitter w2:c8-wide2x-gpu-36ep-lr6e-3 \
           w2j:c8-wide2x-gpu-36ep-lr6e-3-jitter w2j1:c8-wide2x-gpu-36ep-lr6e-3-jitter-seed1 \
           w3j:c8-wide3x-gpu-36ep-lr6e-3-jitter; do
    .venv/bin/python experiments/recipes.py --record "runs/c8w-r6-${run%%:*}/out" "${run#*:}" > /dev/null
done
# ... then six seeds of the 24-epoch recipe at peak lr 6e-3, for the seed spread; the best on validation is
# published (seeds 3 and 7 tied at 99.52%; the collecting script kept seed 7, the first it listed)
for seed in 2 3 4 5 6 7; do (gpu "c8w-r6-s$seed" --epochs 24 --lr 0.006 --seed "$seed") & done
wait
for seed in 2 3 4 5 6 7; do
    .venv/bin/python experiments/recipes.py --record "runs/c8w-r6-s$seed/out" "c8-wide-gpu-24ep-lr6e-3-seed$seed" > /dev/null
done
rm -rf weights/c8_wide_mnist && cp -r runs/c8w-r6-s7/out weights/c8_wide_mnist  # 99.52% (validation)
publish c8_wide_mnist
.venv/bin/python experiments/recipes.py --update
