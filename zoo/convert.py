"""escnn model -> plain PyTorch: ``export(model)`` gives an ``ExportedCNN`` that computes the same logits.

Each equivariant block becomes one ``nn.Conv2d`` with its batch norm folded in, followed by the zoo's plain
nonlinearity and pooling modules (``zoo.layers``); group pooling and head are copied. ``ESCNN_TO_PLAIN`` is the
one table from escnn layer types to their plain counterparts; ``zoo.exported.LAYER_KINDS`` says how those are
stored and rebuilt.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch
from escnn import nn as enn
from torch import nn

from .exported import ExportedCNN
from .layers import FourierELU
from .model import ChannelwiseOp, EquivariantCNN


def channel_affine(norm: nn.Module, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The eval-mode map of an escnn batch norm on the channels, as ``(matrix, shift)``: y = matrix @ x + shift.

    Read off by probing: its value at 0 is the shift, at each basis vector minus the shift a column of the
    matrix. This is exact for any batch norm in eval mode, whatever its change of basis.
    """
    probe = torch.cat([torch.zeros(1, channels), torch.eye(channels)]).reshape(channels + 1, channels, 1, 1)
    norm.eval()
    with torch.no_grad():
        out = norm(enn.GeometricTensor(probe, norm.in_type)).tensor.reshape(channels + 1, channels)
    return (out[1:] - out[0]).T, out[0]  # matrix[o, i]: output channel o from input channel i


def _conv_and_norm(layers: list, i: int) -> tuple[list[nn.Module], int]:
    """An R2Conv and the batch norm after it -> one Conv2d with the norm folded in."""
    conv, norm = layers[i].export(), layers[i + 1]
    matrix, shift = channel_affine(norm, layers[i].out_type.size)
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding, bias=True)
    with torch.no_grad():
        folded.weight.copy_(torch.einsum("oi,ichw->ochw", matrix, conv.weight))
        bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
        folded.bias.copy_(matrix @ bias + shift)
    return [folded], 2


# escnn layer type -> function(layers, index) -> (plain modules, number of escnn layers consumed)
ESCNN_TO_PLAIN: dict[type, Callable[[list, int], tuple[list[nn.Module], int]]] = {
    enn.R2Conv: _conv_and_norm,
    enn.ELU: lambda layers, i: ([nn.ELU(inplace=True)], 1),
    enn.FourierELU: lambda layers, i: ([FourierELU(layers[i].A, layers[i].Ainv)], 1),
    ChannelwiseOp: lambda layers, i: ([copy.deepcopy(layers[i].op)], 1),
    enn.RestrictionModule: lambda layers, i: ([], 1),  # the same channels, seen by a subgroup
}


def _converter(layer: nn.Module):
    for cls in type(layer).__mro__:
        if cls in ESCNN_TO_PLAIN:
            return ESCNN_TO_PLAIN[cls]
    raise NotImplementedError(f"no plain-PyTorch export for {type(layer).__name__}; add it to ESCNN_TO_PLAIN")


@torch.no_grad()
def export(model: EquivariantCNN) -> ExportedCNN:
    """A plain-PyTorch copy of ``model`` (no escnn, shares no tensor with it), in eval mode, same logits."""
    was_training = model.training
    model.train()
    model.eval()  # refresh escnn's expanded filters from the current weights
    layers, modules, i = list(model.features), [], 0
    while i < len(layers):
        plain, used = _converter(layers[i])(layers, i)
        modules += plain
        i += used
    exported = ExportedCNN(nn.Sequential(*modules), copy.deepcopy(model.group_pool), copy.deepcopy(model.head),
                           model.in_channels, model.min_input_size)
    model.train(was_training)
    return exported.eval()


def count_mflops(model: EquivariantCNN, size: int = 28) -> float:
    """Forward MFLOPs (multiply and add counted apart) for one size x size image, counted by torch on the export."""
    from torch.utils.flop_counter import FlopCounterMode

    exported = export(model)
    with FlopCounterMode(display=False) as counter:
        exported(torch.zeros(1, model.in_channels, size, size))
    return counter.get_total_flops() / 1e6
