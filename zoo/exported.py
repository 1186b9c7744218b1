"""Exported models: plain PyTorch, no escnn, rebuilt from ``exported.safetensors`` in a checkpoint folder.

``EquivariantCNN.export()`` turns each equivariant block into an ``nn.Conv2d`` (batch norm folded in) and the
zoo's plain ``layers``. ``save_exported`` writes its tensors beside the equivariant weights, with a small
layer spec in ``config.json["export"]``; ``load_exported`` rebuilds the model from them without importing
escnn, so a deployed model starts as fast as any ``torch.nn`` CNN.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .layers import BlurPool2d, FourierELU, GroupMaxPool, check_images

EXPORTED_NAME = "exported.safetensors"


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
        return self.head(self.group_pool(self.features(x)).mean(dim=(2, 3)))


def export_spec(model: ExportedCNN) -> dict:
    """The layer list that ``build_exported`` turns back into the same (empty) module."""
    layers = []
    for m in model.features:
        if isinstance(m, nn.Conv2d):
            layers.append(["conv", m.in_channels, m.out_channels, m.kernel_size[0]])
        elif isinstance(m, FourierELU):
            layers.append(["fourier_elu", m.A.shape[0], m.A.shape[1]])
        elif isinstance(m, nn.ELU):
            layers.append(["elu"])
        elif isinstance(m, BlurPool2d):
            layers.append(["blur_pool"])
        else:
            raise TypeError(f"export_spec does not know {type(m).__name__}")
    return {"layers": layers, "group_pool": [model.group_pool.fibre_dim, model.group_pool.grid.shape[0]],
            "head": [model.head.in_features, model.head.out_features], "in_channels": model.in_channels,
            "min_input_size": model.min_input_size}


def build_exported(spec: dict) -> ExportedCNN:
    modules: list[nn.Module] = []
    for kind, *args in spec["layers"]:
        if kind == "conv":
            c_in, c_out, k = args
            modules.append(nn.Conv2d(c_in, c_out, k, padding=k // 2))
        elif kind == "fourier_elu":
            n, d = args
            modules.append(FourierELU(torch.zeros(n, d), torch.zeros(d, n)))
        elif kind == "elu":
            modules.append(nn.ELU(inplace=True))
        elif kind == "blur_pool":
            modules.append(BlurPool2d())
        else:
            raise ValueError(f"unknown layer kind {kind!r} in the export spec")
    fibre_dim, grid_rows = spec["group_pool"]
    group_pool = GroupMaxPool(fibre_dim, torch.zeros(grid_rows, fibre_dim) if grid_rows else None)
    return ExportedCNN(nn.Sequential(*modules), group_pool, nn.Linear(*spec["head"]), spec["in_channels"],
                       spec["min_input_size"])


def save_exported(model: ExportedCNN, folder: str | os.PathLike) -> dict:
    """Write the exported tensors into ``folder``; returns the spec + sha256 for ``config.json["export"]``."""
    from .checkpoint import atomic_write, sha256_file

    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    path = Path(folder) / EXPORTED_NAME
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    return {**export_spec(model), "file": EXPORTED_NAME, "sha256": sha256_file(path)}


def load_exported(folder: str | os.PathLike, num_classes: int | None = None, **overrides) -> ExportedCNN:
    """The exported model of a checkpoint folder, in eval mode, without importing escnn; verified on the probes."""
    from .checkpoint import check_format, read_config
    from .probes import self_check

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
    from .checkpoint import sha256_file

    folder = Path(folder)
    spec = config.get("export")
    path = folder / EXPORTED_NAME
    if spec is None or not path.is_file():
        raise FileNotFoundError(f"{folder} has no exported model; write it with python -m zoo.export {folder}")
    if sha256_file(path) != spec["sha256"]:
        raise ValueError(f"{path} is corrupt or truncated (sha256 mismatch); download the checkpoint again")
    try:
        state = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path} is not a readable safetensors file ({e})") from e
    model = build_exported(spec)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{path} does not match the layer spec in config.json['export'] ({e}); "
                         "download the checkpoint again") from e
    return model.eval()
