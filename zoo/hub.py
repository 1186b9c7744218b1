"""The functions ``hubconf.py`` exposes, one per preset (like timm's ``@register_model`` functions)."""
from __future__ import annotations

from torch import nn

from .registry import DEFAULT_TAG, PRESETS, WEIGHT_TAGS, create_model


def _entry(name: str):
    def entry(*, pretrained: bool = True, num_classes: int = 10, weights: str = DEFAULT_TAG, export: bool = False,
              **kwargs) -> nn.Module:
        return create_model(name, pretrained=pretrained, num_classes=num_classes, weights=weights, export=export,
                            **kwargs)

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = (f"{PRESETS[name].description}. Keywords: pretrained=True, num_classes=10, "
                     f"weights={' or '.join(repr(t) for t in WEIGHT_TAGS)}, export=False (True: plain PyTorch, "
                     "no escnn).")
    return entry


trivial_mnist = _entry("trivial_mnist")
c4_mnist = _entry("c4_mnist")
c8_mnist = _entry("c8_mnist")
c8_wide_mnist = _entry("c8_wide_mnist")
d4_mnist = _entry("d4_mnist")
so2_mnist = _entry("so2_mnist")
