"""The kernels behind so2's speed, one thread, median of repeated calls (a benchmark: prints, asserts nothing).

    .venv/bin/python experiments/so2_kernels.py

- ELU on one chunk of grid samples (8,192 x 16): torch's ELU (expm1, one element at a time on CPUs) against
  max(z, 0) + exp(min(z, 0)) - 1, and the exponentials alone: exp, expm1 and exp2, on N(0, 1) samples and on
  samples at -90, where exp's result is subnormal;
- the samples back to fields, (8,192 x 16) @ (16 x 7): one product against the rows paired up,
  (4,096 x 32) @ blockdiag (32 x 14), as ``zoo.layers._Paired`` does;
- the invariant pooling's maximum over 16 samples of 8,192 fields: over the rows of an (8,192 x 16) matrix against
  over the columns of its transpose (as ``zoo.layers.grid_max`` computes the samples without gradients), and
  ``max`` with indices (with gradients); and the pooling of the last block (batch 256 without gradients, 128
  with), chunked (``grid_max``) against the plain formula;
- the per-channel batch statistics of a (128, 84, 14, 14) channels-last tensor: torch.var_mean against
  torch.native_batch_norm (statistics and normalised output) and torch.batch_norm_update_stats (statistics
  alone, as ``zoo.groups._FieldNorm`` takes them);
- the grid nonlinearity on block 1's activations (batch 128): escnn's formula in plain operations
  (fourier_elu_reference) against the zoo's chunked one, forward and forward + backward, next to torch's ELU
  on the same channels.
"""
from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from zoo.layers import fourier_elu, fourier_elu_reference, grid_max
from zoo.registry import create_model


def median_ms(fn, repeats: int = 20) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def with_backward(fn, x: torch.Tensor):
    def run():
        leaf = x.detach().requires_grad_()
        fn(leaf).sum().backward()
    return run


def main() -> None:
    torch.set_num_threads(1)
    z = torch.randn(8192, 16)
    buffer = torch.empty_like(z)

    def exp_elu():
        torch.clamp(z, max=0, out=buffer).exp_().sub_(1)
        return z.clamp(min=0).add_(buffer)

    print("ELU on an 8,192 x 16 chunk (ms):", {
        "torch F.elu": round(median_ms(lambda: F.elu(z)), 3), "exp form": round(median_ms(exp_elu), 3),
        "torch.expm1": round(median_ms(lambda: torch.expm1(z)), 3),
        "torch.exp": round(median_ms(lambda: torch.exp(z)), 3), "torch.exp2": round(median_ms(lambda: torch.exp2(z)), 3)})
    low, low2 = torch.full_like(z, -90.0), torch.full_like(z, -90.0 * 1.4426950408889634)  # exp2(low2) = exp(low)
    print("the same at -90 (ms):", {"torch.exp": round(median_ms(lambda: torch.exp(low)), 3),
                                    "torch.exp2": round(median_ms(lambda: torch.exp2(low2)), 3)})

    back, fields = torch.randn(16, 7), torch.empty(8192, 7)
    pair = torch.block_diag(back, back)
    print("samples back to fields, (8,192 x 16) @ (16 x 7) (ms):", {
        "one product": round(median_ms(lambda: torch.mm(z, back, out=fields)), 3),
        "rows paired": round(median_ms(lambda: torch.mm(z.view(4096, 32), pair, out=fields.view(4096, 14))), 3)})

    maxima, index, z_T = torch.empty(8192), torch.empty(8192, dtype=torch.long), z.T.contiguous()
    print("maximum over 16 samples of 8,192 fields (ms):", {
        "amax over rows (8,192 x 16)": round(median_ms(lambda: torch.amax(z, dim=1, out=maxima)), 3),
        "amax over columns (16 x 8,192)": round(median_ms(lambda: torch.amax(z_T, dim=0, out=maxima)), 3),
        "max with indices over rows": round(median_ms(lambda: torch.max(z, dim=1, out=(maxima, index))), 3)})

    x = torch.randn(128, 84, 14, 14).contiguous(memory_format=torch.channels_last)
    print("per-channel statistics of (128, 84, 14, 14), channels-last (ms):", {
        "torch.var_mean": round(median_ms(lambda: torch.var_mean(x, dim=(0, 2, 3)), 5), 2),
        "torch.native_batch_norm": round(median_ms(
            lambda: torch.native_batch_norm(x, None, None, None, None, True, 0.0, 0.0), 5), 2),
        "torch.batch_norm_update_stats": round(median_ms(
            lambda: torch.batch_norm_update_stats(x, None, None, 0.0), 5), 2)})

    act = create_model("so2_mnist", initialize=False).blocks[1].act
    A, A_inv = act.A.detach(), act.Ainv.detach()
    with torch.no_grad():
        forward = {"plain formula": median_ms(lambda: fourier_elu_reference(x, A, A_inv), 5),
                   "chunked": median_ms(lambda: fourier_elu(x, A, A_inv), 5),
                   "torch ELU, same channels": median_ms(lambda: F.elu(x), 5)}
    both = {"plain formula": median_ms(with_backward(lambda t: fourier_elu_reference(t, A, A_inv), x), 5),
            "chunked": median_ms(with_backward(lambda t: fourier_elu(t, A, A_inv), x), 5),
            "torch ELU, same channels": median_ms(with_backward(F.elu, x), 5)}
    print("grid nonlinearity on (128, 84, 14, 14), forward (ms):", {k: round(v, 1) for k, v in forward.items()})
    print("grid nonlinearity, forward + backward (ms):", {k: round(v, 1) for k, v in both.items()})

    grid = create_model("so2_mnist", initialize=False).group_pool.grid

    def plain_max(rows):
        samples = rows @ grid.T
        return samples.max(dim=1).values if samples.requires_grad else samples.amax(dim=1)

    rows = torch.randn(256 * 7 * 7 * 24, 7)
    with torch.no_grad():
        pooled = {"plain formula": median_ms(lambda: plain_max(rows), 5),
                  "chunked": median_ms(lambda: grid_max(rows, grid), 5)}
    trained = {"plain formula": median_ms(with_backward(plain_max, rows[:len(rows) // 2]), 5),
               "chunked": median_ms(with_backward(lambda t: grid_max(t, grid), rows[:len(rows) // 2]), 5)}
    print("invariant pooling of the last block, batch 256, forward (ms):", {k: round(v, 1) for k, v in pooled.items()})
    print("the same at batch 128, forward + backward (ms):", {k: round(v, 1) for k, v in trained.items()})


if __name__ == "__main__":
    main()
