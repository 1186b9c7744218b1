"""Fine-tuning surgery on an ``EquivariantCNN``: a new number of input channels, a frozen backbone."""
from __future__ import annotations

import types

import torch
from escnn import nn as enn
from torch import nn

from .model import EquivariantCNN


@torch.no_grad()
def adapt_in_channels(model: EquivariantCNN, in_channels: int) -> None:
    """Make ``model`` take ``in_channels`` input channels (e.g. 3 for RGB), keeping what its first layer learned.

    The new first-layer filter for every input channel is the sum of the old filters over the old channels
    divided by ``in_channels``: an image whose channels all equal a grey image x gives exactly the features the
    old model gave for x. The coefficients in the new escnn basis are fitted by least squares (``zoo.basis``),
    exact because the target filter lies in the span of that basis.
    """
    from .basis import conv_filter, load_conv_filter

    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
    old = model.blocks[0].conv
    target = conv_filter(old).sum(dim=1, keepdim=True).repeat(1, in_channels, 1, 1) / in_channels
    in_type = enn.FieldType(model.gspace, [model.gspace.trivial_repr] * in_channels)
    new = enn.R2Conv(in_type, old.out_type, old.kernel_size, padding=old.padding, bias=False, initialize=False,
                     recompute=True)  # its own basis modules, as in zoo.model
    load_conv_filter(new, target, "first layer")
    model.blocks[0].conv = new
    model.blocks[0].in_type = in_type
    model.in_type, model.in_channels = in_type, in_channels
    model.arch = model.arch.replace(in_channels=in_channels)
    model.train(model.training)


def freeze_backbone(model: EquivariantCNN, trainable_blocks: int = 0) -> None:
    """Freeze every parameter except the head and the last ``trainable_blocks`` conv blocks (linear probing: 0).

    The frozen blocks' batch norms and nonlinearities stay in eval mode whatever ``model.train()`` says, so the
    statistics stay put too: each such module's own ``train`` is replaced by one that keeps it in eval mode.
    """
    blocks = model.blocks
    if isinstance(trainable_blocks, bool) or not isinstance(trainable_blocks, int) \
            or not 0 <= trainable_blocks <= len(blocks):
        raise ValueError(f"trainable_blocks must be an int from 0 to {len(blocks)} (the model's conv blocks), "
                         f"got {trainable_blocks!r}")
    for block in blocks[:len(blocks) - trainable_blocks]:
        block.requires_grad_(False)
        for name, module in block.named_parts():
            if name != "conv":  # a frozen conv expands its fixed filter as in training
                module.train = types.MethodType(lambda self, mode=True: type(self).train(self, False), module)
                module.eval()
