"""Exported models: plain PyTorch, no escnn, rebuilt from ``exported.safetensors`` in a checkpoint folder.

``zoo.convert.export`` turns each equivariant block into an ``nn.Conv2d`` (batch norm folded in) and the
zoo's plain ``layers``. ``save_exported`` writes its tensors beside the equivariant weights, with a small
layer spec in ``config.json["export"]``; ``load_exported`` rebuilds the model from them without importing
escnn, so a deployed model starts as fast as any ``torch.nn`` CNN.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .files import EXPORTED_NAME, atomic_write, check_format, read_config, sha256_file, verified
from .layers import BlurPool2d, FourierELU, GroupMaxPool, channels_last, check_images, check_num_classes
from .probes import self_check


class ExportedCNN(nn.Module):
    """Plain-PyTorch twin of an ``EquivariantCNN``: same input (B, C, H, W) in [0, 1], same logits."""

    def __init__(self, features: nn.Sequential, group_pool: GroupMaxPool, head: nn.Linear, in_channels: int,
                 min_input_size: int) -> None:
        super().__init__()
        self.features = features
        self.group_pool = group_pool
        self.head = head
        self.in_channels = in_channels
        self.min_input_size = min_input_size

    @torch.jit.unused
    def _check_input(self, x: torch.Tensor) -> None:
        check_images(x, self.in_channels, self.min_input_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (torch.jit.is_scripting() or torch.jit.is_tracing() or torch.compiler.is_compiling()):
            self._check_input(x)
        # channels-last: faster convolutions on CPUs, and the SO(2) nonlinearity's fields as rows of one matrix
        return self.head(self.group_pool(self.features(channels_last(x))).mean(dim=(2, 3)))


@dataclass(frozen=True)
class LayerKind:
    """One kind of layer an exported model is made of: how it is written into ``config.json["export"]`` and how
    it is rebuilt from there. ``zoo.convert`` maps escnn layers onto these kinds; ``zoo.cli.bench`` reads them."""

    name: str
    module: type
    spec: Callable[[nn.Module], list]  # the module's constructor arguments, as JSON
    build: Callable[..., nn.Module]  # an empty module from those arguments (weights are loaded next)


LAYER_KINDS: tuple[LayerKind, ...] = (
    LayerKind("conv", nn.Conv2d, lambda m: [m.in_channels, m.out_channels, m.kernel_size[0]],
              lambda c_in, c_out, k: nn.Conv2d(c_in, c_out, k, padding=k // 2)),
    LayerKind("fourier_elu", FourierELU, lambda m: [m.A.shape[0], m.A.shape[1]],
              lambda n, d: FourierELU(torch.zeros(n, d), torch.zeros(d, n))),
    LayerKind("elu", nn.ELU, lambda m: [], lambda: nn.ELU(inplace=True)),
    LayerKind("blur_pool", BlurPool2d, lambda m: [], BlurPool2d),
)


def layer_kind(module: nn.Module) -> LayerKind:
    for kind in LAYER_KINDS:
        if type(module) is kind.module:
            return kind
    raise TypeError(f"an exported model has no layer kind for {type(module).__name__}; add it to LAYER_KINDS")


def export_spec(model: ExportedCNN) -> dict:
    """The layer list that ``build_exported`` turns back into the same (empty) module."""
    layers = [[kind.name, *kind.spec(m)] for m in model.features for kind in (layer_kind(m),)]
    return {"layers": layers, "group_pool": [model.group_pool.fibre_dim, model.group_pool.grid.shape[0]],
            "head": [model.head.in_features, model.head.out_features], "in_channels": model.in_channels,
            "min_input_size": model.min_input_size}


def build_exported(spec: dict) -> ExportedCNN:
    kinds = {kind.name: kind for kind in LAYER_KINDS}
    modules: list[nn.Module] = []
    for name, *args in spec["layers"]:
        if name not in kinds:
            raise ValueError(f"unknown layer kind {name!r} in the export spec; known: {', '.join(kinds)}")
        modules.append(kinds[name].build(*args))
    fibre_dim, grid_rows = spec["group_pool"]
    group_pool = GroupMaxPool(fibre_dim, torch.zeros(grid_rows, fibre_dim) if grid_rows else None)
    return ExportedCNN(nn.Sequential(*modules), group_pool, nn.Linear(*spec["head"]), spec["in_channels"],
                       spec["min_input_size"])


def save_exported(model: ExportedCNN, folder: str | os.PathLike) -> dict:
    """Write the exported tensors into ``folder``; returns the spec + sha256 for ``config.json["export"]``."""
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    path = Path(folder) / EXPORTED_NAME
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    return {**export_spec(model), "file": EXPORTED_NAME, "sha256": sha256_file(path)}


def load_exported(folder: str | os.PathLike, num_classes: int | None = None, **overrides) -> ExportedCNN:
    """The exported model of a checkpoint folder, in eval mode, without importing escnn; verified on the probes."""
    if num_classes is not None:
        check_num_classes(num_classes)
    if overrides:
        raise ValueError(f"an exported model cannot change its architecture ({sorted(overrides)}); "
                         "create the escnn model, change it, and call .export()")
    config = read_config(folder)
    check_format(config, folder)
    model = read_exported(folder, config)
    self_check(model, config, str(Path(folder) / EXPORTED_NAME), model.in_channels)
    if num_classes is not None and num_classes != model.head.out_features:
        raise ValueError(f"the exported model has {model.head.out_features} classes; to fine-tune for "
                         f"{num_classes}, load the escnn model (export=False) and export after training")
    return model


def read_exported(folder: str | os.PathLike, config: dict) -> ExportedCNN:
    """Rebuild the exported model from ``exported.safetensors`` (sha256 checked), in eval mode, unverified."""
    folder = Path(folder)
    spec = config.get("export")
    path = folder / EXPORTED_NAME
    if spec is None or not path.is_file():
        raise FileNotFoundError(f"{folder} has no exported model; write it with zoo export {folder}")
    try:
        state = load_file(verified(path, spec["sha256"]))
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path} is not a readable safetensors file ({e})") from e
    model = build_exported(spec)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{path} does not match the layer spec in config.json['export'] ({e}); "
                         "download the checkpoint again") from e
    return model.eval()
