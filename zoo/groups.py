"""The one map from a group name to escnn: gspace, feature fields, nonlinearity, batch norm, group pooling.

Adding a group means adding one entry to ``GROUPS``; the architecture in ``zoo.model`` never asks which
group it is built for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from escnn import gspaces
from escnn import nn as enn
from escnn.group import _numerical

from .layers import GroupMaxPool, fourier_elu

# escnn finds the dihedral groups' Clebsch-Gordan coefficients as a null space by SVD, and takes scikit-learn's
# randomized_svd over scipy's SVD whenever scikit-learn is installed: a random basis (random_state=None), and
# refused outright by recent scikit-learn ("np.matrix is not supported"), so that d4_mnist could not be built
# next to it. The zoo always takes scipy's SVD, whatever else is installed.
_numerical.randomized_svd = None


class IIDBatchNorm(enn.IIDBatchNorm2d):
    """escnn's ``IIDBatchNorm2d`` whose training-mode gradient flows through the batch statistics.

    escnn detaches the batch mean and variance, so the gradient ignores the normalisation it feeds
    through (the failure mode Ioffe and Szegedy describe for batch norm). A band-limited SO(2) network
    trained that way stalled near 83% on rotated MNIST. Parameters, buffers and evaluation mode are
    escnn's, so checkpoints keep their layout and export folds the layer as before.
    """

    def forward(self, input: enn.GeometricTensor) -> enn.GeometricTensor:
        if not self.training:
            return super().forward(input)
        with torch.autocast(input.tensor.device.type, enabled=False):  # batch norm runs in fp32, as torch's does
            return self._train_forward(input)

    def _train_forward(self, input: enn.GeometricTensor) -> enn.GeometricTensor:
        self.num_batches_tracked += 1
        momentum = self.momentum if self.momentum is not None else 1 / self.num_batches_tracked.item()
        x = input.tensor.to(torch.promote_types(input.tensor.dtype, torch.float32))  # fp32 statistics under autocast
        names = [name for name, _ in self.named_parameters(recurse=False)]
        y = _FieldNorm.apply(x, self, momentum, names, *(getattr(self, name) for name in names))
        return enn.GeometricTensor(y, self.out_type, input.coords)

    def per_channel(self, mean: torch.Tensor, var: torch.Tensor, n: int, params: dict[str, torch.Tensor]):
        """The per-channel scale and shift of the normalisation, y = x * scale + shift, from the per-channel batch
        mean and biased variance over n samples and the weights and biases in ``params``; and each field type's
        statistics, {key: (centre or None, variance)}.

        Per channel c of a field, sum((x_c - m_c)^2) / (n - 1) = n / (n - 1) * (var_c + (mean_c - m_c)^2), with
        m_c the field's mean projected on its invariant part (zero for channels of non-trivial irreps); a
        field's variance is the mean of that over its channels.
        """
        scale, shift, stats = mean.new_zeros(mean.shape), mean.new_zeros(mean.shape), {}
        channels = torch.arange(len(mean), device=mean.device)
        for name, size in self._sizes:
            key = self._escape_name(name)
            indices = getattr(self, f"{key}_indices")
            index = channels[indices[0]:indices[1]] if self._contiguous[name] else indices
            field_mean, field_var = mean[index].reshape(-1, size), var[index].reshape(-1, size)
            centre = (torch.einsum("ij,cj->ci", getattr(self, f"{key}_avg"), field_mean)
                      if self._has_trivial[name] else None)
            offset = field_mean if centre is None else field_mean - centre
            variance = (n / (n - 1) * (field_var + offset.pow(2))).mean(dim=1, keepdim=True)
            field_scale = (params[f"{key}_weight"] / (variance + self.eps).sqrt()).expand(-1, size)
            field_shift = torch.zeros_like(field_scale) if centre is None else (
                torch.einsum("ij,cj->ci", getattr(self, f"{key}_change_of_basis"), params[f"{key}_bias"])
                - centre * field_scale)
            scale = scale.index_put((index,), field_scale.reshape(-1))
            shift = shift.index_put((index,), field_shift.reshape(-1))
            stats[key] = (centre, variance)
        return scale, shift, stats


class _FieldNorm(torch.autograd.Function):
    """The training-mode ``IIDBatchNorm`` in three passes over the tensor, each a kernel of torch's own batch norm
    or a multiply-add. Forward: the per-channel mean and variance (``torch.batch_norm_update_stats``: batch norm's
    statistics without its normalised output), then y = x * scale + shift. Backward: the per-channel sums of g
    and of g * (x - mean) (``native_batch_norm_backward``), then dx = g * scale + x * u + w. The small per-channel
    algebra between (``IIDBatchNorm.per_channel``) is differentiated by autograd. Updates the running
    statistics."""

    @staticmethod
    def forward(ctx, x, norm, momentum, names, *params):
        if x.device.type in ("cpu", "cuda"):  # batch norm's statistics without its normalised output
            mean, var = torch.batch_norm_update_stats(x, None, None, 0.0)  # var biased
        else:  # a device without that kernel (e.g. Apple's MPS)
            var, mean = torch.var_mean(x, dim=[0, *range(2, x.dim())], correction=0)
        n = x.numel() // x.shape[1]
        scale, shift, stats = norm.per_channel(mean, var, n, dict(zip(names, params)))
        with torch.no_grad():
            for key, (centre, variance) in stats.items():
                getattr(norm, f"{key}_running_var").lerp_(variance, momentum)
                if centre is not None:
                    getattr(norm, f"{key}_running_mean").lerp_(centre, momentum)
        ctx.save_for_backward(x, mean, var, *params)
        ctx.norm, ctx.n, ctx.names = norm, n, names
        view = (1, -1) + (1,) * (x.dim() - 2)
        return torch.addcmul(shift.reshape(view), x, scale.reshape(view))

    @staticmethod
    def backward(ctx, grad):
        x, mean, var, *params = ctx.saved_tensors
        view = (1, -1) + (1,) * (x.dim() - 2)
        ones = torch.ones_like(mean)
        # per channel, over batch and space: sum(g * (x - mean)) (grad_weight with invstd 1) and sum(g) (grad_bias)
        _, g_centred, g_sum = torch.ops.aten.native_batch_norm_backward(
            grad, x, ones, None, None, mean, ones, True, 0.0, [False, True, True])
        with torch.enable_grad():
            leaves = [mean.detach().requires_grad_(), var.detach().requires_grad_(),
                      *(p.detach().requires_grad_() for p in params)]
            scale, shift, _ = ctx.norm.per_channel(leaves[0], leaves[1], ctx.n, dict(zip(ctx.names, leaves[2:])))
            # y = x * scale + shift: dL/dscale = sum(g * x), dL/dshift = sum(g)
            d_mean, d_var, *d_params = torch.autograd.grad(
                (scale * (g_centred + mean * g_sum) + shift * g_sum).sum(), leaves, allow_unused=True)
        # mean = sum(x) / n and var = sum((x - mean)^2) / n, so dx = d_mean / n + d_var * 2 (x - mean) / n
        u = 2 * d_var / ctx.n
        w = d_mean / ctx.n - u * mean
        dx = torch.addcmul(w.reshape(view), grad, scale.detach().reshape(view)).addcmul_(x, u.reshape(view))
        return (dx, None, None, None, *d_params)


class FourierELU(enn.FourierELU):
    """escnn's ``FourierELU`` (same buffers, same result) computed by the zoo's copy-free ``fourier_elu``."""

    def forward(self, input: enn.GeometricTensor) -> enn.GeometricTensor:
        return enn.GeometricTensor(fourier_elu(input.tensor, self.A, self.Ainv), self.out_type, input.coords)


@dataclass(frozen=True)
class Group:
    """How to build the layers of one symmetry group.

    ``make_gspace`` builds the escnn gspace; ``so2_max_frequency`` and ``so2_grid_size`` only matter for
    SO(2), whose fields are band-limited (irreps 0..L) and whose ELU is evaluated on a grid of rotations.
    """

    name: str
    description: str
    make_gspace: Callable[[], gspaces.GSpace2D]
    band_limited: bool = False
    channels_last: bool = False  # the escnn model runs channels-last (its layers keep any layout, and gain by it)
    subgroup: tuple[str, object] | None = None  # (GROUPS name, escnn subgroup id) the last layers may restrict to

    def gspace(self) -> gspaces.GSpace2D:
        return self.make_gspace()

    def fibre_dim(self, gspace: gspaces.GSpace2D, so2_max_frequency: int) -> int:
        """Channels per feature field: |G| for regular fields, 2L+1 for band-limited SO(2) fields."""
        return 2 * so2_max_frequency + 1 if self.band_limited else gspace.regular_repr.size

    def activation(self, gspace: gspaces.GSpace2D, num_fields: int, so2_max_frequency: int,
                   so2_grid_size: int) -> enn.EquivariantModule:
        """The nonlinearity on ``num_fields`` fields; its ``in_type`` is the layer's field type."""
        if self.band_limited:
            irreps = gspace.fibergroup.bl_irreps(so2_max_frequency)
            return FourierELU(gspace, num_fields, irreps=irreps, N=so2_grid_size)
        field_type = enn.FieldType(gspace, [gspace.regular_repr] * num_fields)
        return enn.ELU(field_type, inplace=True)

    def batch_norm(self, field_type: enn.FieldType) -> enn.EquivariantModule:
        if self.band_limited:
            return IIDBatchNorm(field_type)
        return enn.InnerBatchNorm(field_type)

    def group_pool(self, last_activation: enn.EquivariantModule, fibre_dim: int) -> GroupMaxPool:
        """Max over the group: over the regular channels, or over the SO(2) grid of the last ELU."""
        grid = last_activation.A.detach().clone() if self.band_limited else None
        return GroupMaxPool(fibre_dim, grid)


GROUPS: dict[str, Group] = {
    "trivial": Group("trivial", "no symmetry: a conventional CNN", gspaces.trivialOnR2),
    "c4": Group("c4", "rotations by multiples of 90 degrees (C4), regular fields",
                lambda: gspaces.rot2dOnR2(N=4)),
    "c8": Group("c8", "rotations by multiples of 45 degrees (C8), regular fields",
                lambda: gspaces.rot2dOnR2(N=8)),
    "d4": Group("d4", "rotations by 90 degrees and reflections (D4), regular fields",
                lambda: gspaces.flipRot2dOnR2(N=4), subgroup=("c4", (None, 4))),
    "so2": Group("so2", "all rotations (SO(2)), band-limited fields, ELU on a grid of rotations",
                 lambda: gspaces.rot2dOnR2(N=-1), band_limited=True, channels_last=True),
}


def get_group(name: str) -> Group:
    if name not in GROUPS:
        raise ValueError(f"unknown group {name!r}; known groups: {', '.join(GROUPS)}")
    return GROUPS[name]
