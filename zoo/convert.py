"""escnn model -> plain PyTorch: ``export(model)`` gives an ``ExportedCNN`` that computes the same logits.

Each of the model's blocks becomes one ``nn.Conv2d`` with its batch norm folded in, followed by the zoo's plain
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
from .model import ChannelwiseOp, ConvBlock, EquivariantCNN


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


def fold_norm(conv: enn.R2Conv, norm: enn.EquivariantModule) -> nn.Conv2d:
    """A block's R2Conv with its batch norm (eval mode) folded in: one plain ``Conv2d``."""
    plain = conv.export()
    matrix, shift = channel_affine(norm, conv.out_type.size)
    folded = nn.Conv2d(plain.in_channels, plain.out_channels, plain.kernel_size, padding=plain.padding, bias=True)
    with torch.no_grad():
        folded.weight.copy_(torch.einsum("oi,ichw->ochw", matrix, plain.weight))
        bias = plain.bias if plain.bias is not None else torch.zeros(plain.out_channels)
        folded.bias.copy_(matrix @ bias + shift)
    return folded


# escnn layer type -> its plain counterparts (the conv and its norm are folded by ``fold_norm``)
ESCNN_TO_PLAIN: dict[type, Callable[[nn.Module], list[nn.Module]]] = {
    enn.ELU: lambda layer: [nn.ELU(inplace=True)],
    enn.FourierELU: lambda layer: [FourierELU(layer.A, layer.Ainv)],
    ChannelwiseOp: lambda layer: [copy.deepcopy(layer.op)],
    enn.RestrictionModule: lambda layer: [],  # the same channels, seen by a subgroup
}


def _plain(layer: nn.Module) -> list[nn.Module]:
    for cls in type(layer).__mro__:
        if cls in ESCNN_TO_PLAIN:
            return ESCNN_TO_PLAIN[cls](layer)
    raise NotImplementedError(f"no plain-PyTorch export for {type(layer).__name__}; add it to ESCNN_TO_PLAIN")


def export_block(block: ConvBlock) -> list[nn.Module]:
    """One block as plain modules: [restriction: nothing], folded conv and norm, nonlinearity, [pool]."""
    modules = _plain(block.restrict) if block.restrict is not None else []
    modules.append(fold_norm(block.conv, block.norm))
    modules += _plain(block.act)
    return modules + (_plain(block.pool) if block.pool is not None else [])


@torch.no_grad()
def export(model: EquivariantCNN) -> ExportedCNN:
    """A plain-PyTorch copy of ``model`` (no escnn, shares no tensor with it), in eval mode, same logits."""
    was_training = model.training
    model.train()
    model.eval()  # refresh escnn's expanded filters from the current weights
    modules = [m for block in model.blocks for m in export_block(block)]
    exported = ExportedCNN(nn.Sequential(*modules), copy.deepcopy(model.group_pool), copy.deepcopy(model.head),
                           model.in_channels, model.min_input_size)
    model.train(was_training)
    return exported.eval()


def count_mflops(model: EquivariantCNN, size: int = 28) -> float:
    """Forward MFLOPs (multiply and add counted apart) for one size x size image, counted by torch on the export
    (its SO(2) nonlinearity in the plain formula: the chunked one pairs rows, doing more arithmetic than the model
    needs)."""
    from torch.utils.flop_counter import FlopCounterMode

    exported = export(model)
    for m in exported.modules():
        if isinstance(m, FourierELU):
            m.chunked = False
    with FlopCounterMode(display=False) as counter:
        exported(torch.zeros(1, model.in_channels, size, size))
    return counter.get_total_flops() / 1e6
