"""One equivariant CNN architecture, parameterised by its symmetry group (see ``zoo.groups``)."""
from __future__ import annotations

from typing import Sequence

import torch
from escnn import nn as enn
from torch import nn

from .groups import get_group
from .architecture import Architecture, num_fields
from .layers import BlurPool2d, channels_last, check_images, check_num_classes


class ChannelwiseOp(enn.EquivariantModule):
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


class ConvBlock(enn.EquivariantModule):
    """One block of the network, and the one place its structure is written:
    [restriction to a subgroup] -> ``conv`` (R2Conv) -> ``norm`` (batch norm) -> ``act`` (nonlinearity) -> [``pool``].

    Export, fine-tuning surgery, the invariance measurement and the checkpoint code iterate over
    ``model.blocks`` and these named parts. ``invariant_pool`` maps the block's output fields to invariant
    scalars (the max over the group, or over the SO(2) grid of ``act``); it is not part of ``forward``.
    """

    def __init__(self, conv: enn.R2Conv, norm: enn.EquivariantModule, act: enn.EquivariantModule,
                 pool: ChannelwiseOp | None, restrict: enn.RestrictionModule | None, invariant_pool: nn.Module) -> None:
        super().__init__()
        self.restrict, self.conv, self.norm, self.act, self.pool = restrict, conv, norm, act, pool
        object.__setattr__(self, "invariant_pool", invariant_pool)  # not a submodule: the model owns the last one
        self.in_type = (restrict or conv).in_type
        self.out_type = act.out_type

    PARTS = ("restrict", "conv", "norm", "act", "pool")  # the order forward applies them in

    def named_parts(self) -> list[tuple[str, nn.Module]]:
        """(name, layer) of the block's layers, in the order ``forward`` applies them."""
        return [(name, getattr(self, name)) for name in self.PARTS if getattr(self, name) is not None]

    def parts(self) -> list[nn.Module]:
        return [module for _, module in self.named_parts()]

    def forward(self, x: enn.GeometricTensor) -> enn.GeometricTensor:
        for part in self.parts():
            x = part(x)
        return x

    def evaluate_output_shape(self, input_shape):
        for part in self.parts():
            input_shape = part.evaluate_output_shape(input_shape)
        return input_shape


class EquivariantCNN(nn.Module):
    """Equivariant conv blocks, group pooling, global average pooling and a linear head.

    ``blocks`` holds one ``ConvBlock`` per conv layer: R2Conv -> batch norm -> ELU, followed after the blocks in
    ``pool_after`` by a stride-2 ``BlurPool2d``. Pooling over the group makes the features invariant; averaging over space makes them
    one vector of ``num_features`` numbers per image, which the linear ``head`` maps to class logits.

    Built from an ``Architecture`` (``zoo.architecture``), or from its fields as keywords (an unknown keyword
    raises, listing the known ones):
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

    Around the network, each in its own module: loading and saving (``zoo.checkpoint``, ``zoo.hf_hub``), the
    plain-PyTorch export (``zoo.convert.export``) and fine-tuning surgery (``zoo.surgery``).
    """

    min_input_size = 8  # two stride-2 pools leave at least 2x2 pixels

    def __init__(self, arch: Architecture | str | None = None, *, initialize: bool = True, **changes) -> None:
        super().__init__()
        if isinstance(arch, str):  # EquivariantCNN("c4"): a group name, the other arguments as they default
            arch, changes = None, {"group": arch, **changes}
        arch = (arch or Architecture()).replace(**changes) if changes else (arch or Architecture())
        if not isinstance(arch, Architecture):
            raise TypeError(f"EquivariantCNN takes a zoo.architecture.Architecture, got {type(arch).__name__}")
        self.arch = arch
        self.group = get_group(arch.group)
        widths, kernel_sizes, pool_after = arch.widths, arch.kernel_sizes, arch.pool_after
        in_channels, so2_max_frequency, so2_grid_size = arch.in_channels, arch.so2_max_frequency, arch.so2_grid_size
        subgroup_layers = arch.subgroup_layers
        self.gspace = self.group.gspace()
        self.in_channels = in_channels
        self.meta = None  # a zoo.files.CheckpointInfo: what a checkpoint says about these weights (zoo.checkpoint)
        self.pretrained_cfg = None  # a zoo.registry.PretrainedCfg on a pretrained model (zoo.create_model)

        self.in_type = enn.FieldType(self.gspace, [self.gspace.trivial_repr] * in_channels)
        blocks, field_type, layer_group, gspace = [], self.in_type, self.group, self.gspace
        for i, (width, kernel_size) in enumerate(zip(widths, kernel_sizes)):
            restrict = None
            if subgroup_layers and i == len(widths) - subgroup_layers:
                name, subgroup_id = self.group.subgroup
                restrict = enn.RestrictionModule(field_type, subgroup_id)
                field_type, layer_group = restrict.out_type, get_group(name)
                gspace = field_type.gspace
            fibre_dim = layer_group.fibre_dim(gspace, so2_max_frequency)
            activation = layer_group.activation(gspace, num_fields(width, fibre_dim),
                                                so2_max_frequency, so2_grid_size)
            out_type = activation.in_type
            # recompute: the layer samples its own basis. escnn otherwise hands every model the same cached
            # basis modules, so model.to("cuda") or .double() on one model would move another model's bases too.
            conv = enn.R2Conv(field_type, out_type, kernel_size, padding=kernel_size // 2, bias=False,
                              initialize=initialize, recompute=True)
            pool = ChannelwiseOp(out_type, BlurPool2d()) if i in pool_after else None
            blocks.append(ConvBlock(conv, layer_group.batch_norm(out_type), activation, pool, restrict,
                                    layer_group.group_pool(activation, fibre_dim)))
            field_type = out_type
        self.blocks = nn.ModuleList(blocks)
        self.group_pool = blocks[-1].invariant_pool
        self.invariance = layer_group.name  # the group whose action leaves the logits unchanged
        self.num_features = len(field_type)
        self.head = nn.Linear(self.num_features, arch.num_classes)

    @property
    def num_classes(self) -> int:
        return self.head.out_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> invariant feature maps (B, num_features, H/4, W/4)."""
        check_images(x, self.in_channels, self.min_input_size)
        y = enn.GeometricTensor(channels_last(x) if self.group.channels_last else x, self.in_type)
        for block in self.blocks:
            y = block(y)
        return self.group_pool(y.tensor)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Invariant feature maps -> logits, by global average pooling and the linear head."""
        return self.head(features.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_intermediates(self, x: torch.Tensor, indices: int | Sequence[int] | None = None, *,
                              invariant: bool = False, intermediates_only: bool = False
                              ) -> tuple[torch.Tensor, list[torch.Tensor]] | list[torch.Tensor]:
        """The final features and each block's output, as timm's ``forward_intermediates``.

        Returns ``(features, intermediates)``: ``features`` is ``forward_features(x)`` (invariant maps, B x
        num_features x H/4 x W/4; ``forward_head(features)`` gives the logits) and ``intermediates`` one tensor per
        block in ``indices`` (block numbers, negative from the end; an int n: the last n blocks; None: all).
        Each is the block's equivariant fields (B x C x H' x W': the block's ``out_type``, whose channels a
        rotation of the input permutes or mixes while it turns the maps), or with ``invariant=True`` their
        invariant reduction (the block's ``invariant_pool``: the max over the group, or over the SO(2) grid;
        B x fields x H' x W'), which a rotation of the input only turns. ``intermediates_only``: the list alone.
        """
        count = len(self.blocks)
        if indices is None:
            wanted = list(range(count))
        elif isinstance(indices, int):
            if not 1 <= indices <= count:
                raise ValueError(f"indices: expected a number of last blocks from 1 to {count}, got {indices}")
            wanted = list(range(count - indices, count))
        else:
            wanted = [i + count if isinstance(i, int) and -count <= i < 0 else i for i in indices]
            if not wanted or not all(isinstance(i, int) and 0 <= i < count for i in wanted):
                raise ValueError(f"indices: expected block numbers from {-count} to {count - 1}, got {list(indices)}")
        check_images(x, self.in_channels, self.min_input_size)
        y = enn.GeometricTensor(channels_last(x) if self.group.channels_last else x, self.in_type)
        intermediates = []
        for i, block in enumerate(self.blocks):
            y = block(y)
            if i in wanted:
                intermediates.append(block.invariant_pool(y.tensor) if invariant else y.tensor)
            if intermediates_only and i == max(wanted):
                return intermediates
        features = self.group_pool(y.tensor)
        return intermediates if intermediates_only else (features, intermediates)

    def get_classifier(self) -> nn.Linear:
        """The linear head (timm's ``get_classifier``); ``reset_classifier(n)`` replaces it."""
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head by a freshly initialised one with ``num_classes`` outputs (for fine-tuning)."""
        check_num_classes(num_classes)
        self.head = nn.Linear(self.num_features, num_classes)
        self.arch = self.arch.replace(num_classes=num_classes)
