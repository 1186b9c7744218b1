"""Which precision trains fastest here: bfloat16 autocast only where the CPU computes bfloat16 natively.

On a CPU without AMX or AVX512-BF16, bfloat16 is emulated and a training step ran 16 times slower than in
float32 (an AMD EPYC); with native support it depends on the model, so it is timed.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AMX tiles or AVX512-BF16); emulated it is ~16x slower."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(check() for check in checks if check is not None)


def _step_seconds(model, x: torch.Tensor, y: torch.Tensor, bf16: bool, steps: int = 3) -> float:
    """Median time of a forward and backward pass (no optimiser step: the weights are left as they were)."""
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        if i:  # the first pass warms up
            times.append(time.perf_counter() - start)
    model.zero_grad(set_to_none=True)
    return sorted(times)[len(times) // 2]


def choose_precision(model, x: torch.Tensor, y: torch.Tensor) -> tuple[bool, str]:
    """bfloat16 autocast or float32 for training ``model`` on batches like ``x``: (bf16, why)."""
    if not native_bf16():
        return False, "auto: float32 (this CPU has no native bfloat16: no AMX, no AVX512-BF16)"
    was_training = model.training
    model.train()  # (escnn keeps extra buffers in eval mode: take the state in the mode it is restored in)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    fp32, bf16 = _step_seconds(model, x, y, False), _step_seconds(model, x, y, True)
    model.load_state_dict(state)  # batch-norm statistics moved during the timing
    model.train(was_training)
    faster = bf16 < fp32
    return faster, (f"auto: {'bfloat16' if faster else 'float32'} (native bfloat16; a timed step took "
                    f"{bf16:.3f} s in bfloat16, {fp32:.3f} s in float32)")
