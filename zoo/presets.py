"""The presets: a name, a description and an ``Architecture`` each (data only; ``zoo.registry`` builds them).

Every preset is the same ``EquivariantCNN`` with another group, and the ``_wide`` presets have 1.5 times the
widths (the same width rule for any group). Where each preset's weights live is a record in ``zoo.records``.
"""
from __future__ import annotations

from dataclasses import dataclass

from .architecture import Architecture


@dataclass(frozen=True)
class Preset:
    description: str
    architecture: Architecture

    @property
    def group(self) -> str:
        return self.architecture.group


WIDE_WIDTHS = (24, 48, 48, 96, 96)  # 1.5 times EquivariantCNN's default widths (16, 32, 32, 64, 64)

# Same widths for every group: each has about the parameters of the plain CNN (see Group.num_fields).
PRESETS: dict[str, Preset] = {
    "trivial_mnist": Preset("plain CNN baseline (no symmetry), rotated MNIST", Architecture(group="trivial")),
    "c4_mnist": Preset("C4-equivariant CNN (90-degree rotations), rotated MNIST", Architecture(group="c4")),
    "c8_mnist": Preset("C8-equivariant CNN (45-degree rotations), rotated MNIST", Architecture(group="c8")),
    "d4_mnist": Preset("D4-equivariant CNN (90-degree rotations and flips), restricted to C4 in the last layer so "
                       "mirror images stay apart, rotated MNIST", Architecture(group="d4", subgroup_layers=1)),
    "so2_mnist": Preset("SO(2)-equivariant CNN (all rotations, band-limited fields), rotated MNIST",
                        Architecture(group="so2")),
    # 1.5 times the widths, about 2.2 times the parameters and compute; the other groups' wide presets await training
    "c8_wide_mnist": Preset("C8-equivariant CNN at 1.5 times the widths (45-degree rotations), rotated MNIST",
                            Architecture(group="c8", widths=WIDE_WIDTHS)),
}
