"""Machine-independent convolution weights: expanded filters in, escnn coefficients out, by least squares.

An escnn ``R2Conv`` learns coefficients ``w`` in a kernel basis ``B`` that escnn computes when the layer is
built; the filter the convolution applies is ``B w``. For some groups that basis is not unique: escnn finds
the Clebsch-Gordan coefficients of the dihedral groups as the null space of a linear system with an SVD, whose
result (any orthonormal basis of that space, signs included) depends on the LAPACK/BLAS kernels of the CPU,
and caches it on disk (see docs/checkpoints.md). The *space* of equivariant kernels is the same
everywhere; only its basis differs. So a checkpoint stores the expanded filter ``B w``, which means the same on
every machine, and loading finds the coefficients in the locally built basis by least squares, checking that
the filter lies in the span (relative residual near float precision).

escnn's expansion is block-structured: every (input field, output field) pair of the same pair of
representations uses the same basis block ``B_p`` on its own entries of the filter. The normal matrix is
therefore block diagonal, ``B_p B_p^T`` for each pair, and ``B^T f`` is one backward pass through escnn's own
expansion, so the projection costs a few small solves per layer, whatever the layer's size.
"""
from __future__ import annotations

import torch
from escnn import nn as enn

__all__ = ["conv_filter", "load_conv_filter", "basis_blocks", "MAX_RESIDUAL"]

# Relative residual ||B w - f|| / ||f|| above which a filter is not in this layer's kernel space. Float32
# filters projected in float64 leave about 1e-7; a filter of another architecture or group leaves O(0.1-1).
MAX_RESIDUAL = 1e-4


def conv_filter(conv: enn.R2Conv) -> torch.Tensor:
    """The filter (out_channels, in_channels, k, k) that ``conv`` applies, expanded from its coefficients."""
    with torch.no_grad():
        return conv.expand_parameters()[0].detach().float().contiguous()


def basis_blocks(conv: enn.R2Conv):
    """Yield ``(weight_range, block_module)`` for each pair of representations in ``conv``'s expansion."""
    expansion = conv.basisexpansion
    for pair in expansion._representations_pairs:
        block = getattr(expansion, f"block_expansion_{expansion._escape_pair(pair)}")
        yield expansion._weights_ranges[pair], block


def load_conv_filter(conv: enn.R2Conv, target: torch.Tensor, name: str = "conv") -> float:
    """Set ``conv``'s coefficients to the least-squares fit of the expanded filter ``target``.

    Returns the relative residual; raises ``ValueError`` if ``target`` is not (to float precision) an
    equivariant filter of this layer, i.e. it was made for another architecture, group or field type.
    """
    expected = (conv.out_type.size, conv.in_type.size, conv.kernel_size, conv.kernel_size)
    if tuple(target.shape) != expected:
        raise ValueError(f"{name}: filter of shape {tuple(target.shape)}, this layer needs {expected}")
    if not torch.isfinite(target).all():
        raise ValueError(f"{name}: the stored filter contains NaN or inf; download the checkpoint again")
    f = target.detach().to(torch.float64).reshape(target.shape[0], target.shape[1], -1)
    weights = torch.zeros(conv.weights.numel(), dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        expanded = _expand(conv, weights)
        (rhs,) = torch.autograd.grad((expanded * f).sum(), weights)  # B^T f, through escnn's own expansion
    solution = torch.empty_like(rhs)
    for (start, stop), block in basis_blocks(conv):
        dim = block.dimension()
        basis = block.sampled_basis.to(torch.float64).reshape(dim, -1)  # (dim, out * in * points) of one block
        gram = basis @ basis.T
        coefficients = torch.linalg.solve(gram, rhs[start:stop].reshape(-1, dim).T).T
        solution[start:stop] = coefficients.reshape(-1)
    with torch.no_grad():
        fitted = _expand(conv, solution)
        residual = ((fitted - f).norm() / f.norm().clamp_min(1e-30)).item()
        if residual > MAX_RESIDUAL:
            raise ValueError(f"{name}: the stored filter is not an equivariant filter of this layer ({conv.in_type.gspace}"
                             f", relative residual {residual:.1e} > {MAX_RESIDUAL:.0e}); the checkpoint was made "
                             "for another architecture or is damaged")
        conv.weights.copy_(solution.to(conv.weights.dtype))
    return residual


def _expand(conv: enn.R2Conv, weights: torch.Tensor) -> torch.Tensor:
    """escnn's expansion of ``weights`` in float64 (the blocks' bases promoted on the fly, not modified)."""
    expansion = conv.basisexpansion
    blocks = list(basis_blocks(conv))
    saved = [block.sampled_basis for _, block in blocks]
    try:
        for _, block in blocks:
            block.sampled_basis = block.sampled_basis.to(torch.float64)
        return expansion(weights)
    finally:
        for (_, block), basis in zip(blocks, saved):
            block.sampled_basis = basis
