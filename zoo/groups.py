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

from .layers import GroupMaxPool


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
            return enn.FourierELU(gspace, num_fields, irreps=irreps, N=so2_grid_size, inplace=True)
        field_type = enn.FieldType(gspace, [gspace.regular_repr] * num_fields)
        return enn.ELU(field_type, inplace=True)

    def batch_norm(self, field_type: enn.FieldType) -> enn.EquivariantModule:
        if self.band_limited:
            return enn.IIDBatchNorm2d(field_type)
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
                lambda: gspaces.flipRot2dOnR2(N=4)),
    "so2": Group("so2", "all rotations (SO(2)), band-limited fields, ELU on a grid of rotations",
                 lambda: gspaces.rot2dOnR2(N=-1), band_limited=True),
}


def get_group(name: str) -> Group:
    if name not in GROUPS:
        raise ValueError(f"unknown group {name!r}; known groups: {', '.join(GROUPS)}")
    return GROUPS[name]
