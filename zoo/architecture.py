"""``Architecture``: the arguments that build an ``EquivariantCNN`` (no escnn, no torch: a leaf).

It is what a preset names, what ``EquivariantCNN`` takes, what a checkpoint's config.json stores under
"architecture" and what ``from_pretrained`` and ``create_model`` accept as keywords; an unknown keyword is an
error that lists the known ones.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping

GROUP_NAMES = ("trivial", "c4", "c8", "d4", "so2")  # zoo.groups.GROUPS builds them


@dataclass(frozen=True)
class Architecture:
    """An ``EquivariantCNN``: see its docstring for what each field means."""

    group: str = "c8"
    widths: tuple[int, ...] = (16, 32, 32, 64, 64)
    kernel_sizes: tuple[int, ...] = (7, 5, 5, 5, 3)
    pool_after: tuple[int, ...] = (0, 2)
    in_channels: int = 1
    num_classes: int = 10
    so2_max_frequency: int = 3
    so2_grid_size: int = 16
    subgroup_layers: int = 0

    def __post_init__(self) -> None:
        for name in ("widths", "kernel_sizes", "pool_after"):  # lists from JSON become tuples
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.group not in GROUP_NAMES:
            raise ValueError(f"unknown group {self.group!r}; known groups: {', '.join(GROUP_NAMES)}")
        if len(self.widths) != len(self.kernel_sizes) or not self.widths:
            raise ValueError(f"widths and kernel_sizes need one entry per layer, got {list(self.widths)} and "
                             f"{list(self.kernel_sizes)}")
        if not all(_positive(w) for w in self.widths):
            raise ValueError(f"widths must be positive ints, got {list(self.widths)}")
        if any(not _positive(k) or k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(f"kernel sizes must be odd (symmetric padding keeps equivariance), got "
                             f"{list(self.kernel_sizes)}")
        if any(not isinstance(i, int) or not 0 <= i < len(self.widths) for i in self.pool_after):
            raise ValueError(f"pool_after holds layer indices from 0 to {len(self.widths) - 1}, got "
                             f"{list(self.pool_after)}")
        for name in ("in_channels", "num_classes", "so2_max_frequency", "so2_grid_size"):
            if not _positive(getattr(self, name)):
                raise ValueError(f"{name} must be a positive int, got {getattr(self, name)!r}")
        if self.subgroup_layers and (self.group != "d4" or not 0 < self.subgroup_layers < len(self.widths)):
            raise ValueError(f"subgroup_layers={self.subgroup_layers!r} needs a group with a subgroup (d4) and "
                             f"between 1 and {len(self.widths) - 1} layers")

    @classmethod
    def known(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: Mapping) -> "Architecture":
        """From config.json's "architecture" (or any mapping); an unknown key raises, listing the known ones."""
        check_keywords(values, "architecture")
        return cls(**values)

    def replace(self, **changes) -> "Architecture":
        """This architecture with some arguments changed; an unknown keyword raises, listing the known ones."""
        check_keywords(changes, "architecture")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """What config.json stores (lists, as JSON has them)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def check_keywords(values: Mapping, what: str, extra: tuple[str, ...] = ()) -> None:
    """Raise a ``TypeError`` for keywords that are neither architecture fields nor ``extra``."""
    unknown = sorted(set(values) - set(Architecture.known()) - set(extra))
    if unknown:
        known = extra + tuple(k for k in Architecture.known() if k not in extra)
        raise TypeError(f"unknown {what} keyword(s) {unknown}; known: {', '.join(known)}")


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
