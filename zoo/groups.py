"""The one map from a group name to escnn: gspace, feature fields, nonlinearity, batch norm, group pooling.

Adding a group means adding one entry to ``GROUPS``; the architecture in ``zoo.model`` never asks which
group it is built for.
"""
from __future__ import annotations

import math
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
        """Training mode in two passes over the input: the per-channel mean and variance (``torch.var_mean``),
        from which the per-field statistics follow exactly, then one multiply-add with per-channel vectors.

        Per channel c of a field, over its n samples (batch and space), sum((x_c - m_c)^2) / (n - 1) =
        var_c + n / (n - 1) * (mean_c - m_c)^2, with m_c the field's mean projected on its invariant part
        (zero for the channels of non-trivial irreps); a field's variance is the mean of that over its channels.
        Every operation is per channel, so any memory layout (channels-last included) is kept.
        """
        self.num_batches_tracked += 1
        momentum = self.momentum if self.momentum is not None else 1 / self.num_batches_tracked.item()
        x = input.tensor.to(torch.promote_types(input.tensor.dtype, torch.float32))  # fp32 statistics under autocast
        n = x.numel() // x.shape[1]  # samples per channel
        var, mean = torch.var_mean(x, dim=[0, *range(2, x.dim())])  # (C,), unbiased
        scale, shift = [], []
        for name, size in self._sizes:
            key = self._escape_name(name)
            indices = getattr(self, f"{key}_indices")
            index = slice(indices[0], indices[1]) if self._contiguous[name] else indices
            field_mean, field_var = mean[index].reshape(-1, size), var[index].reshape(-1, size)
            centre = (torch.einsum("ij,cj->ci", getattr(self, f"{key}_avg"), field_mean)
                      if self._has_trivial[name] else torch.zeros_like(field_mean))
            variance = (field_var + n / (n - 1) * (field_mean - centre).pow(2)).mean(dim=1, keepdim=True)
            with torch.no_grad():
                getattr(self, f"{key}_running_var").lerp_(variance, momentum)
                if self._has_trivial[name]:
                    getattr(self, f"{key}_running_mean").lerp_(centre, momentum)
            field_scale = (getattr(self, f"{key}_weight") / (variance + self.eps).sqrt()).expand(-1, size)
            field_shift = -centre * field_scale
            if self._has_trivial[name]:
                field_shift = field_shift + torch.einsum("ij,cj->ci", getattr(self, f"{key}_change_of_basis"),
                                                         getattr(self, f"{key}_bias"))
            scale.append((index, field_scale.reshape(-1)))
            shift.append((index, field_shift.reshape(-1)))
        per_channel = (1, -1) + (1,) * (x.dim() - 2)
        return enn.GeometricTensor(torch.addcmul(self._gather(shift, x.shape[1]).reshape(per_channel), x,
                                                 self._gather(scale, x.shape[1]).reshape(per_channel)),
                                   self.out_type, input.coords)

    @staticmethod
    def _gather(pieces: list, channels: int) -> torch.Tensor:
        """One (channels,) vector from the values of each field type at its channel indices."""
        if len(pieces) == 1 and isinstance(pieces[0][0], slice) and pieces[0][1].numel() == channels:
            return pieces[0][1]
        out = pieces[0][1].new_zeros(channels)
        for index, values in pieces:
            out = out.index_put((torch.arange(channels, device=out.device)[index],), values)
        return out


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
    subgroup: tuple[str, object] | None = None  # (GROUPS name, escnn subgroup id) the last layers may restrict to

    def gspace(self) -> gspaces.GSpace2D:
        return self.make_gspace()

    def fibre_dim(self, gspace: gspaces.GSpace2D, so2_max_frequency: int) -> int:
        """Channels per feature field: |G| for regular fields, 2L+1 for band-limited SO(2) fields."""
        return 2 * so2_max_frequency + 1 if self.band_limited else gspace.regular_repr.size

    def num_fields(self, width: int, fibre_dim: int) -> int:
        """Fields per layer for a plain-CNN width: ``round(width / sqrt(d))``.

        An equivariant map between two layers of F fields of dimension d has about F^2 d free parameters
        per kernel size (F^2 d^2 entries, 1/d of them free), so this rule gives every group about the
        parameters of the plain CNN with ``width`` channels, with ``sqrt(d)`` times its channels.
        """
        return max(1, round(width / math.sqrt(fibre_dim)))

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
                 lambda: gspaces.rot2dOnR2(N=-1), band_limited=True),
}


def get_group(name: str) -> Group:
    if name not in GROUPS:
        raise ValueError(f"unknown group {name!r}; known groups: {', '.join(GROUPS)}")
    return GROUPS[name]
