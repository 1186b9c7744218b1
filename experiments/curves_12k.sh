#!/usr/bin/env bash
# The 12,000-image learning-curve runs of the fifth session, each alone on both cores of the 2-core AMD EPYC
# (AVX2, float32), one after the other; learning_curves.py resumes a run from its resume checkpoint, evaluates it
# and writes its record (experiments/curves/). c8_wide's run had started in the previous session, one thread
# beside other runs (run --lanes 1 --only c8_wide_mnist), and was stopped after 200 of its 1,860 steps.
# Then the rotated-12k weights of each preset whose chosen run (best validation among its schedules) changed:
# a new preset's without --overwrite, a replacement with it (c8's 36-epoch run over its 20-epoch one).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
curves() { .venv/bin/python experiments/learning_curves.py "$@"; }
curves run --lanes 1 --threads 2 --data-root "$DATA" --jobs c8_wide_mnist-n12000-s0 --only c8_wide_mnist
curves run --lanes 1 --threads 2 --data-root "$DATA" --jobs c8_mnist-n12000-e36-s0 --only c8_mnist
curves publish --presets c8_wide_mnist
curves publish --presets c8_mnist --overwrite
.venv/bin/zoo evaluate c8_wide_mnist c8_mnist --data-root "$DATA" --weights rotated-12k --threads 2 --update
.venv/bin/zoo publish --write-records
curves report --update

# Sixth session, on a 2-core AMD EPYC (Zen 5: AVX-512 with native bfloat16; zoo train's automatic precision chose
# float32 for so2, bfloat16 autocast for c8_wide), from a frozen worktree of the checkout (PYTHONPATH pointing at it,
# its .venv a link to this one's): the 36-epoch runs of the two presets that had only the 20-epoch one, then the
# rotated-12k weights of each whose 36-epoch run won on validation (both did). so2's run was paused (SIGSTOP) for
# the session's idle benchmarks; c8_wide's shared the CPU with an evaluation and the test suite for a while.
curves run --lanes 1 --threads 2 --data-root "$DATA" --jobs so2_mnist-n12000-e36-s0 --only so2_mnist
curves run --lanes 1 --threads 2 --data-root "$DATA" --jobs c8_wide_mnist-n12000-e36-s0 --only c8_wide_mnist
curves publish --presets so2_mnist --overwrite
.venv/bin/zoo evaluate so2_mnist --data-root "$DATA" --weights rotated-12k --threads 2 --update
curves publish --presets c8_wide_mnist --overwrite
.venv/bin/zoo evaluate c8_wide_mnist --data-root "$DATA" --weights rotated-12k --threads 2 --update
.venv/bin/zoo publish --write-records
curves report --update
