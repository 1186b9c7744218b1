"""One equivariant CNN architecture, parameterised by its symmetry group (see ``zoo.groups``)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
from escnn import nn as enn
from huggingface_hub import ModelHubMixin, snapshot_download
from torch import nn

from .groups import get_group
from .exported import ExportedCNN
from .layers import BlurPool2d, FourierELU, check_images


class _ChannelwiseOp(enn.EquivariantModule):
    """Runs the stride-2 ``BlurPool2d`` (the same filter on every channel, so it commutes with the fibre action) on a GeometricTensor."""

    def __init__(self, field_type: enn.FieldType, op: nn.Module) -> None:
        super().__init__()
        self.in_type = self.out_type = field_type
        self.op = op

    def forward(self, x: enn.GeometricTensor) -> enn.GeometricTensor:
        return enn.GeometricTensor(self.op(x.tensor), self.out_type)

    def evaluate_output_shape(self, input_shape):
        b, c, h, w = input_shape
        return b, c, (h + 1) // 2, (w + 1) // 2


class EquivariantCNN(nn.Module, ModelHubMixin, library_name="equivariant-zoo", license="mit",
                     tags=["image-classification", "equivariance", "escnn"]):
    """Equivariant conv blocks, group pooling, global average pooling and a linear head.

    Each block is R2Conv -> batch norm -> ELU, followed after the blocks in ``pool_after`` by a stride-2
    ``BlurPool2d``. Pooling over the group makes the features invariant; averaging over space makes them
    one vector of ``num_features`` numbers per image, which the linear ``head`` maps to class logits.

    Args:
        group: ``"trivial"``, ``"c4"``, ``"c8"``, ``"d4"`` or ``"so2"`` (see ``zoo.groups.GROUPS``).
        widths: per conv layer, the channels of the plain CNN with the same parameter budget; the layer
            gets ``round(width / sqrt(d))`` fields of dimension d.
        kernel_sizes: per conv layer, an odd kernel size (padding keeps the spatial size).
        pool_after: indices of the layers followed by a stride-2 blur pool.
        in_channels: input channels, each a scalar (trivial) field: 1 for grey, 3 for RGB.
        num_classes: outputs of the linear head.
        so2_max_frequency, so2_grid_size: SO(2) only: band limit L of the fields and the number of
            rotations the ELU and the group pooling are evaluated on.
        subgroup_layers: build the last this many conv layers for the group's subgroup (D4: C4) after an
            escnn ``RestrictionModule``. Early layers share filters across flips; the prediction is then
            invariant to the subgroup only, so mirror images (a 2 and a mirrored 2, close to a 5) stay apart.
            This is E2CNN's D16|5C16 recipe for MNIST-rot.
        initialize: run escnn's (slow) weight initialisation; pass False when weights are loaded next.

    Input: float tensor (B, in_channels, H, W), pixel values in [0, 1] with background 0, H, W >= 8.
    Output: logits (B, num_classes).
    """

    min_input_size = 8  # two stride-2 pools leave at least 2x2 pixels

    def __init__(self, group: str = "c8", widths: Sequence[int] = (16, 32, 32, 64, 64),
                 kernel_sizes: Sequence[int] = (7, 5, 5, 5, 3), pool_after: Sequence[int] = (0, 2),
                 in_channels: int = 1, num_classes: int = 10, so2_max_frequency: int = 3,
                 so2_grid_size: int = 16, subgroup_layers: int = 0, initialize: bool = True) -> None:
        super().__init__()
        if len(widths) != len(kernel_sizes) or not widths:
            raise ValueError(f"widths and kernel_sizes need one entry per layer, got {list(widths)} and {list(kernel_sizes)}")
        if any(k % 2 == 0 or k < 1 for k in kernel_sizes):
            raise ValueError(f"kernel sizes must be odd (symmetric padding keeps equivariance), got {list(kernel_sizes)}")
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
        _check_num_classes(num_classes)
        self.group = get_group(group)
        if subgroup_layers and (self.group.subgroup is None or not 0 < subgroup_layers < len(widths)):
            raise ValueError(f"subgroup_layers={subgroup_layers!r} needs a group with a subgroup (d4) and "
                             f"between 1 and {len(widths) - 1} layers")
        self.arch = dict(group=group, widths=list(widths), kernel_sizes=list(kernel_sizes),
                         pool_after=list(pool_after), in_channels=in_channels, num_classes=num_classes,
                         so2_max_frequency=so2_max_frequency, so2_grid_size=so2_grid_size,
                         subgroup_layers=subgroup_layers)
        self.gspace = self.group.gspace()
        self.in_channels = in_channels
        self.meta: dict = {}  # what a checkpoint says about these weights (see zoo.checkpoint)

        self.in_type = enn.FieldType(self.gspace, [self.gspace.trivial_repr] * in_channels)
        layers, field_type, layer_group, gspace = [], self.in_type, self.group, self.gspace
        for i, (width, kernel_size) in enumerate(zip(widths, kernel_sizes)):
            if subgroup_layers and i == len(widths) - subgroup_layers:
                name, subgroup_id = self.group.subgroup
                layers.append(enn.RestrictionModule(field_type, subgroup_id))
                field_type, layer_group = layers[-1].out_type, get_group(name)
                gspace = field_type.gspace
            fibre_dim = layer_group.fibre_dim(gspace, so2_max_frequency)
            activation = layer_group.activation(gspace, layer_group.num_fields(width, fibre_dim),
                                                so2_max_frequency, so2_grid_size)
            out_type = activation.in_type
            layers += [enn.R2Conv(field_type, out_type, kernel_size, padding=kernel_size // 2, bias=False,
                                  initialize=initialize),
                       layer_group.batch_norm(out_type), activation]
            if i in pool_after:
                layers.append(_ChannelwiseOp(out_type, BlurPool2d()))
            field_type = out_type
        self.features = enn.SequentialModule(*layers)
        self.group_pool = layer_group.group_pool(activation, fibre_dim)
        self.invariance = layer_group.name  # the group whose action leaves the logits unchanged
        self.num_features = len(field_type)
        self.head = nn.Linear(self.num_features, num_classes)

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> invariant feature maps (B, num_features, H/4, W/4)."""
        check_images(x, self.in_channels, self.min_input_size)
        y = self.features(enn.GeometricTensor(x, self.in_type)).tensor
        return self.group_pool(y)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Invariant feature maps -> logits, by global average pooling and the linear head."""
        return self.head(features.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head by a freshly initialised one with ``num_classes`` outputs (for fine-tuning)."""
        _check_num_classes(num_classes)
        self.head = nn.Linear(self.num_features, num_classes)
        self.arch["num_classes"] = num_classes

    @torch.no_grad()
    def adapt_in_channels(self, in_channels: int) -> None:
        """Take ``in_channels`` input channels (e.g. 3 for RGB), keeping what the first layer learned.

        The new first-layer filter for every input channel is the sum of the old filters over the old
        channels divided by ``in_channels``: an image whose channels are all equal to a grey image x gives
        exactly the features the old model gave for x. (The coefficients in the new escnn basis are found by
        least squares, which is exact because the target filter lies in the span of that basis.)
        """
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
        old = self.features[0]
        old.eval()
        target = old.filter.sum(dim=1, keepdim=True).repeat(1, in_channels, 1, 1) / in_channels
        in_type = enn.FieldType(self.gspace, [self.gspace.trivial_repr] * in_channels)
        new = enn.R2Conv(in_type, old.out_type, old.kernel_size, padding=old.padding, bias=False,
                         initialize=False)
        n = new.weights.numel()
        basis = torch.stack([new.basisexpansion(e).reshape(-1) for e in torch.eye(n)], dim=1)  # (filter size, n)
        new.weights.copy_(torch.linalg.lstsq(basis, target.reshape(-1, 1)).solution[:, 0])
        self.features._modules["0"] = new
        self.features.in_type = in_type
        self.in_type, self.in_channels = in_type, in_channels
        self.arch["in_channels"] = in_channels
        self.train(self.training)

    def freeze_backbone(self, trainable_blocks: int = 0) -> None:
        """Freeze every parameter except the head and the last ``trainable_blocks`` conv blocks (linear probing: 0).

        Frozen batch-norm layers are kept in eval mode by ``train()`` so their statistics stay put too.
        """
        convs = [m for m in self.features if isinstance(m, enn.R2Conv)]
        keep = set(range(len(convs) - trainable_blocks, len(convs))) if trainable_blocks else set()
        block = -1
        for module in self.features:
            if isinstance(module, enn.R2Conv):
                block += 1
            for p in module.parameters():
                p.requires_grad_(block in keep)
        self._frozen_blocks = len(convs) - len(keep)

    def train(self, mode: bool = True) -> "EquivariantCNN":
        super().train(mode)
        frozen = getattr(self, "_frozen_blocks", 0)
        if mode and frozen:
            block = -1
            for module in self.features:
                if isinstance(module, enn.R2Conv):
                    block += 1
                if block < frozen and not isinstance(module, enn.R2Conv):
                    module.eval()  # batch norm of a frozen block: keep its running statistics
        return self

    # Hugging Face Hub: save_pretrained / from_pretrained / push_to_hub come from ModelHubMixin.
    def _save_pretrained(self, save_directory: Path) -> None:
        from .checkpoint import save_checkpoint

        save_checkpoint(self, save_directory)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, revision: str | None, cache_dir, force_download: bool,
                         local_files_only: bool, token, num_classes: int | None = None, **overrides):
        from .checkpoint import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, load_checkpoint

        folder = model_id
        if not os.path.isdir(model_id):
            folder = snapshot_download(model_id, revision=revision, cache_dir=cache_dir,
                                       force_download=force_download, local_files_only=local_files_only,
                                       token=token, allow_patterns=[WEIGHTS_NAME, CONFIG_NAME, CARD_NAME])
        return load_checkpoint(folder, num_classes=num_classes, **overrides)

    @torch.no_grad()
    def export(self) -> nn.Module:
        """A plain-PyTorch copy (no escnn), in eval mode, computing the same logits.

        Each block becomes one ``nn.Conv2d`` with its batch norm folded in, followed by ``nn.ELU`` (or the
        grid ``FourierELU`` for SO(2)) and ``BlurPool2d``; then the same group pooling and head.
        """
        was_training = self.training
        self.train()
        self.eval()  # refresh escnn's expanded filters from the current weights
        modules: list[nn.Module] = []
        layers = list(self.features)
        i = 0
        while i < len(layers):
            layer = layers[i]
            if isinstance(layer, enn.R2Conv):
                conv = layer.export()
                norm = layers[i + 1]
                modules.append(_fold_affine(conv, norm, layer.out_type.size))
                i += 2
                continue
            if isinstance(layer, enn.ELU):
                modules.append(nn.ELU(inplace=True))
            elif isinstance(layer, enn.FourierELU):
                modules.append(FourierELU(layer.A, layer.Ainv))
            elif isinstance(layer, _ChannelwiseOp):
                modules.append(layer.op.__class__())
            elif isinstance(layer, enn.RestrictionModule):
                pass  # the same channels, seen by a subgroup: nothing to compute
            else:
                raise NotImplementedError(f"no plain-PyTorch export for {type(layer).__name__}")
            i += 1
        exported = ExportedCNN(nn.Sequential(*modules), self.group_pool, self.head, self.in_channels,
                               self.min_input_size)
        self.train(was_training)
        return exported.eval()


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


def _fold_affine(conv: nn.Conv2d, norm: nn.Module, channels: int) -> nn.Conv2d:
    """Fold an eval-mode escnn batch norm into the conv before it (see ``channel_affine``)."""
    matrix, shift = channel_affine(norm, channels)
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, padding=conv.padding, bias=True)
    folded.weight.copy_(torch.einsum("oi,ichw->ochw", matrix, conv.weight))
    bias = conv.bias if conv.bias is not None else torch.zeros(channels)
    folded.bias.copy_(matrix @ bias + shift)
    return folded


def _check_num_classes(num_classes: object) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")


def count_mflops(model: EquivariantCNN, size: int = 28) -> float:
    """Forward MFLOPs (multiply and add counted apart) for one size x size image, counted by torch on the export."""
    from torch.utils.flop_counter import FlopCounterMode

    exported = model.export()
    with FlopCounterMode(display=False) as counter:
        exported(torch.zeros(1, model.in_channels, size, size))
    return counter.get_total_flops() / 1e6
