#!/usr/bin/env bash
# The 12,000-image learning-curve runs of c8_wide (20 epochs) and c8 (36 epochs), each alone on both cores of a
# 2-core AMD EPYC (Zen 3: AVX2, float32; 2026-12-02), one after the other; learning_curves.py resumes a run from its resume checkpoint, evaluates it
# and writes its record (experiments/curves/). c8_wide's run had started earlier, one thread
# beside other runs (run --lanes 1 --only c8_wide_mnist), and was stopped after 200 of its 1,860 steps.
# Then the rotated-12k weights of each preset whose chosen run (best validation among its schedules) changed.
# publish leaves a folder that holds its chosen run as it is; the 36-epoch runs of c8, so2 and c8_wide replaced
# their 20-epoch checkpoints by `publish --overwrite` at the time. Each now holds its chosen run, so publish writes
# nothing and needs no --overwrite; the evaluations below rewrite the rotated-12k metrics in config.json and the cards,
# so the script runs only as: experiments/curves_12k.sh --overwrite
set -euo pipefail
[[ ${1:-} == --overwrite ]] || { echo "$0 re-evaluates the published weights/*-rotated-12k and rewrites their metrics; run it with --overwrite to do so" >&2; exit 2; }
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
curves() { .venv/bin/python experiments/learning_curves.py "$@"; }
curves run --lanes 1 --threads 2 --data-root "$DATA" --jobs c8_wide_mnist-n12000-s0 --only c8_wide_mnist
curves run --lanes 1 --threads 2 --data-root "$DATA" --jobs c8_mnist-n12000-e36-s0 --only c8_mnist
curves publish --presets c8_wide_mnist
curves publish --presets c8_mnist
.venv/bin/zoo evaluate c8_wide_mnist c8_mnist --data-root "$DATA" --weights rotated-12k --threads 2 --update
.venv/bin/zoo publish --write-records
curves report --update

# Then, on a 2-core AMD EPYC (Zen 5: AVX-512 with native bfloat16; 2026-12-02; zoo train's automatic precision chose
# float32 for so2, bfloat16 autocast for c8_wide), from a frozen worktree of the checkout (PYTHONPATH pointing at it,
# its .venv a link to this one's): the 36-epoch runs of the two presets that had only the 20-epoch one, then the
# rotated-12k weights of each whose 36-epoch run won on validation (both did). so2's run was paused (SIGSTOP) for
# idle benchmarks; c8_wide's shared the CPU with an evaluation and the test suite for a while.
curves run --lanes 1 --threads 2 --data-root "$DATA" --jobs so2_mnist-n12000-e36-s0 --only so2_mnist
curves run --lanes 1 --threads 2 --data-root "$DATA" --jobs c8_wide_mnist-n12000-e36-s0 --only c8_wide_mnist
curves publish --presets so2_mnist
.venv/bin/zoo evaluate so2_mnist --data-root "$DATA" --weights rotated-12k --threads 2 --update
curves publish --presets c8_wide_mnist
.venv/bin/zoo evaluate c8_wide_mnist --data-root "$DATA" --weights rotated-12k --threads 2 --update
.venv/bin/zoo publish --write-records
curves report --update
