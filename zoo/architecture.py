"""``Architecture``: the arguments that build an ``EquivariantCNN`` (no escnn, no torch: a leaf).

It is what a preset names, what ``EquivariantCNN`` takes, what a checkpoint's config.json stores under
"architecture" and what ``from_pretrained`` and ``create_model`` accept as keywords; an unknown keyword is an
error that lists the known ones. Every field has bounds (``zoo.limits``) that cover every real use with margin,
so that a config.json from a stranger cannot describe a network that takes minutes or gigabytes to build.

It also knows the network's sizes by arithmetic: the fields and channels of every layer (``layers``), what its
filters store and what a forward pass costs, without building a module (``zoo.groups`` builds the same sizes
with escnn; tests/test_untrusted.py checks that they agree for every preset).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Mapping

from .limits import (MAX_CLASSES, MAX_IN_CHANNELS, MAX_KERNEL_SIZE, MAX_LAYERS, MAX_MFLOPS, MAX_SO2_FREQUENCY,
                     MAX_SO2_GRID_SIZE, MAX_STORED_VALUES, MAX_WIDTH, Check, Int, ListOf, Record, show)

# Channels of a regular feature field: the order of the group (zoo.groups.GROUPS builds them with escnn).
# SO(2)'s fields are band-limited instead: irreps 0..L, 2L+1 channels.
REGULAR_FIELD_SIZES = {"trivial": 1, "c4": 4, "c8": 8, "d4": 8}
GROUP_NAMES = (*REGULAR_FIELD_SIZES, "so2")
SUBGROUPS = {"d4": "c4"}  # the group the last ``subgroup_layers`` are built for
INPUT_SIZE = 28  # the image size the cost bound is stated for (MNIST, and the self-check's probes)


def fibre_dim(group: str, so2_max_frequency: int) -> int:
    """Channels per feature field: |G| for regular fields, 2L+1 for band-limited SO(2) fields."""
    return 2 * so2_max_frequency + 1 if group == "so2" else REGULAR_FIELD_SIZES[group]


def num_fields(width: int, fibre_dim: int) -> int:
    """Fields per layer for a plain-CNN width: ``round(width / sqrt(d))``.

    An equivariant map between two layers of F fields of dimension d has about F^2 d free parameters
    per kernel size (F^2 d^2 entries, 1/d of them free), so this rule gives every group about the
    parameters of the plain CNN with ``width`` channels, with ``sqrt(d)`` times its channels.
    """
    return max(1, round(width / math.sqrt(fibre_dim)))


@dataclass(frozen=True)
class Layer:
    """One conv layer's sizes: the group it is built for, ``fields`` fields of ``fibre_dim`` channels each, from
    ``in_channels`` channels, at ``size`` x ``size`` pixels when the network sees a 28x28 image."""

    group: str
    fibre_dim: int
    fields: int
    in_channels: int
    kernel_size: int
    size: int

    @property
    def channels(self) -> int:
        return self.fields * self.fibre_dim


def _check_group(value: object, path: str) -> None:
    if not isinstance(value, str) or value not in GROUP_NAMES:
        raise ValueError(f"{path}: unknown group {show(value)}; known groups: {', '.join(GROUP_NAMES)}")


# What each field may be; the fields that depend on each other are checked by Architecture.__post_init__.
FIELDS = Record({
    "group": Check(_check_group),
    "widths": ListOf(Int(1, MAX_WIDTH), MAX_LAYERS, 1),
    "kernel_sizes": ListOf(Int(1, MAX_KERNEL_SIZE), MAX_LAYERS, 1),
    "pool_after": ListOf(Int(0, MAX_LAYERS - 1), MAX_LAYERS),
    "in_channels": Int(1, MAX_IN_CHANNELS),
    "num_classes": Int(1, MAX_CLASSES),
    "so2_max_frequency": Int(1, MAX_SO2_FREQUENCY),
    "so2_grid_size": Int(1, MAX_SO2_GRID_SIZE),
    "subgroup_layers": Int(0, MAX_LAYERS - 1),
})


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
        FIELDS.check({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, "architecture")
        for name in ("widths", "kernel_sizes", "pool_after"):  # lists from JSON become tuples
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if len(self.widths) != len(self.kernel_sizes):
            raise ValueError(f"architecture: widths and kernel_sizes need one entry per layer, got "
                             f"{list(self.widths)} and {list(self.kernel_sizes)}")
        if any(k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(f"architecture.kernel_sizes must be odd (symmetric padding keeps equivariance), got "
                             f"{list(self.kernel_sizes)}")
        if any(i >= len(self.widths) for i in self.pool_after) or len(set(self.pool_after)) < len(self.pool_after):
            raise ValueError(f"architecture.pool_after holds layer indices from 0 to {len(self.widths) - 1}, each "
                             f"once, got {list(self.pool_after)}")
        if self.so2_grid_size < 2 * self.so2_max_frequency + 1:
            raise ValueError(f"architecture.so2_grid_size must be at least 2 * so2_max_frequency + 1 = "
                             f"{2 * self.so2_max_frequency + 1} (fewer rotations cannot tell the frequencies "
                             f"apart), got {self.so2_grid_size}")
        if self.subgroup_layers and (self.group not in SUBGROUPS or not self.subgroup_layers < len(self.widths)):
            raise ValueError(f"architecture: subgroup_layers={self.subgroup_layers!r} needs a group with a subgroup "
                             f"({', '.join(SUBGROUPS)}) and between 1 and {len(self.widths) - 1} layers")
        if self.stored_values() > MAX_STORED_VALUES or self.mflops() > MAX_MFLOPS:
            raise ValueError(f"architecture: {self.stored_values():,} filter values and {self.mflops():,.0f} "
                             f"MFLOPs per {INPUT_SIZE}x{INPUT_SIZE} image are more than a network of this zoo may "
                             f"have ({MAX_STORED_VALUES:,} and {MAX_MFLOPS:,}); got widths {list(self.widths)}, "
                             f"kernel_sizes {list(self.kernel_sizes)}, pool_after {list(self.pool_after)}")

    @classmethod
    def known(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: Mapping) -> "Architecture":
        """From config.json's "architecture" (or any mapping); an unknown key or a value out of bounds raises a
        ``ValueError`` naming it."""
        FIELDS.check(values, "architecture")
        return cls(**values)

    def replace(self, **changes) -> "Architecture":
        """This architecture with some arguments changed; an unknown keyword raises, listing the known ones."""
        check_keywords(changes, "architecture")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """What config.json stores (lists, as JSON has them)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def layers(self) -> list[Layer]:
        """Every conv layer's sizes, by arithmetic (what ``EquivariantCNN`` builds with escnn)."""
        layers, group, channels, size = [], self.group, self.in_channels, INPUT_SIZE
        for i, (width, kernel_size) in enumerate(zip(self.widths, self.kernel_sizes)):
            if self.subgroup_layers and i == len(self.widths) - self.subgroup_layers:
                group = SUBGROUPS[group]  # a restriction: the same channels, seen by the subgroup
            d = fibre_dim(group, self.so2_max_frequency)
            layers.append(Layer(group, d, num_fields(width, d), channels, kernel_size, size))
            channels = layers[-1].channels
            size = (size + 1) // 2 if i in self.pool_after else size
        return layers

    @property
    def num_features(self) -> int:
        """Invariant features the head sees: the last layer's fields."""
        return self.layers()[-1].fields

    def stored_values(self) -> int:
        """Values of the convolution filters and the head: what a checkpoint stores, but for a few per channel."""
        return (sum(layer.channels * layer.in_channels * layer.kernel_size ** 2 for layer in self.layers())
                + (self.num_features + 1) * self.num_classes)

    def mflops(self) -> float:
        """Forward MFLOPs (multiply and add counted apart) for one 28x28 image: the convolutions, and for SO(2) the
        ELU on the grid and the group pooling (two and one (N, d) matrix products per field and pixel)."""
        macs = 0
        for layer in self.layers():
            pixels = layer.size ** 2
            macs += layer.channels * layer.in_channels * layer.kernel_size ** 2 * pixels
            if layer.group == "so2":
                macs += 2 * self.so2_grid_size * layer.channels * pixels
        last = self.layers()[-1]
        if last.group == "so2":
            macs += self.so2_grid_size * last.channels * (last.size if len(self.widths) - 1 not in self.pool_after
                                                          else (last.size + 1) // 2) ** 2
        return 2 * macs / 1e6


def check_keywords(values: Mapping, what: str, extra: tuple[str, ...] = ()) -> None:
    """Raise a ``TypeError`` for keywords that are neither architecture fields nor ``extra``."""
    unknown = sorted(set(values) - set(Architecture.known()) - set(extra))
    if unknown:
        known = extra + tuple(k for k in Architecture.known() if k not in extra)
        raise TypeError(f"unknown {what} keyword(s) {unknown}; known: {', '.join(known)}")
