"""The functions ``hubconf.py`` exposes, one per preset (like timm's ``@register_model`` functions)."""
from __future__ import annotations

from torch import nn

from .registry import DEFAULT_TAG, create_model


def _entry(name: str, doc: str):
    def entry(*, pretrained: bool = True, num_classes: int = 10, weights: str = DEFAULT_TAG, export: bool = False,
              **kwargs) -> nn.Module:
        return create_model(name, pretrained=pretrained, num_classes=num_classes, weights=weights, export=export,
                            **kwargs)

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = (f"{doc}. Keywords: pretrained=True, num_classes=10, weights='rotated' or 'upright', "
                     "export=False (True: plain PyTorch, no escnn).")
    return entry


trivial_mnist = _entry("trivial_mnist", "Plain CNN (no symmetry), the baseline, trained on rotated MNIST")
c4_mnist = _entry("c4_mnist", "C4-equivariant CNN (rotations by 90 degrees) trained on rotated MNIST")
c8_mnist = _entry("c8_mnist", "C8-equivariant CNN (rotations by 45 degrees) trained on rotated MNIST")
d4_mnist = _entry("d4_mnist", "D4-equivariant CNN (90-degree rotations and flips) trained on rotated MNIST")
so2_mnist = _entry("so2_mnist", "SO(2)-equivariant CNN (all rotations, band-limited) trained on rotated MNIST")
