"""Exported models: plain PyTorch, no escnn, rebuilt from ``exported.safetensors`` in a checkpoint folder.

``zoo.convert.export`` turns each equivariant block into an ``nn.Conv2d`` (batch norm folded in) and the
zoo's plain ``layers``. ``save_exported`` writes its tensors beside the equivariant weights, with a small
layer spec in ``config.json["export"]``; ``load_exported`` rebuilds the model from them without importing
escnn, so a deployed model starts as fast as any ``torch.nn`` CNN. The spec may come from a stranger: before
anything is built, ``check_export_spec`` checks it against ``LAYER_KINDS`` and the bounds of ``zoo.limits``, and
the file's header must list exactly the tensors it implies (``exported_tensors``).
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
from .limits import (MAX_CHANNELS, MAX_CLASSES, MAX_KERNEL_SIZE, MAX_MFLOPS, MAX_SO2_FREQUENCY, MAX_SO2_GRID_SIZE,
                     MAX_STORED_VALUES, Int, Spec, TensorInfo, check_tensors, read_safetensors_header, show)
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
        self.pretrained_cfg = None  # a zoo.registry.PretrainedCfg on a pretrained model (zoo.create_model)

    def get_classifier(self) -> nn.Linear:
        """The linear head (timm's ``get_classifier``)."""
        return self.head

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
    args: tuple[tuple[str, Spec], ...] = ()  # what each argument is and may be (zoo.limits)
    tensors: Callable[..., dict[str, tuple[int, ...]]] = lambda: {}  # its state dict's shapes, from the arguments


_CHANNELS = Int(1, MAX_CHANNELS)

LAYER_KINDS: tuple[LayerKind, ...] = (
    LayerKind("conv", nn.Conv2d, lambda m: [m.in_channels, m.out_channels, m.kernel_size[0]],
              lambda c_in, c_out, k: nn.Conv2d(c_in, c_out, k, padding=k // 2),
              (("in_channels", _CHANNELS), ("out_channels", _CHANNELS), ("kernel_size", Int(1, MAX_KERNEL_SIZE))),
              lambda c_in, c_out, k: {"weight": (c_out, c_in, k, k), "bias": (c_out,)}),
    LayerKind("fourier_elu", FourierELU, lambda m: [m.A.shape[0], m.A.shape[1]],
              lambda n, d: FourierELU(torch.zeros(n, d), torch.zeros(d, n)),
              (("grid_size", Int(1, MAX_SO2_GRID_SIZE)), ("fibre_dim", Int(1, 2 * MAX_SO2_FREQUENCY + 1))),
              lambda n, d: {"A": (n, d), "A_inv": (d, n)}),
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


def _layer_kinds(spec: dict, source: str) -> list[tuple[LayerKind, list[int]]]:
    """Each layer's kind and arguments, each argument within its bounds (``LayerKind.args``)."""
    kinds, layers = {kind.name: kind for kind in LAYER_KINDS}, []
    for j, (name, *args) in enumerate(spec["layers"]):
        where = f"{source}: export.layers[{j}]"
        if name not in kinds:
            raise ValueError(f"{where}: unknown layer kind {show(name)} in the export spec; known: {', '.join(kinds)}")
        kind = kinds[name]
        if len(args) != len(kind.args):
            raise ValueError(f"{where}: a {name} layer takes [{', '.join([repr(name), *(a for a, _ in kind.args)])}]"
                             f", got {show(spec['layers'][j])}")
        for i, ((arg, bounds), value) in enumerate(zip(kind.args, args)):
            bounds.check(value, f"{where}[{i + 1}] ({name} {arg})")
        layers.append((kind, args))
    return layers


def exported_tensors(spec: dict, source: str = "config.json") -> dict[str, TensorInfo]:
    """The tensors ``exported.safetensors`` holds for a layer spec (every argument checked against its bounds)."""
    tensors = {}
    for j, (kind, args) in enumerate(_layer_kinds(spec, source)):
        tensors.update({f"features.{j}.{name}": TensorInfo("F32", shape) for name, shape in kind.tensors(*args).items()})
    fibre_dim, grid_rows = spec["group_pool"]
    tensors["group_pool.grid"] = TensorInfo("F32", (grid_rows, fibre_dim) if grid_rows else (0,))
    in_features, classes = spec["head"]
    tensors["head.weight"] = TensorInfo("F32", (classes, in_features))
    tensors["head.bias"] = TensorInfo("F32", (classes,))
    return tensors


def check_export_spec(spec: dict, source: str = "config.json") -> None:
    """Refuse a layer spec (already of the form ``zoo.files.CONFIG_SCHEMA`` describes) whose layers would not
    chain (a layer taking other channels than the one before gives), or that costs more than ``zoo.limits`` allows,
    naming the layer. ``build_exported`` builds only a spec that passed."""
    layers, channels, size = _layer_kinds(spec, source), spec["in_channels"], 28
    values = macs = 0
    for j, (kind, args) in enumerate(layers):
        where = f"{source}: export.layers[{j}] ({kind.name})"
        if kind.name == "conv":
            c_in, c_out, k = args
            if c_in != channels:
                raise ValueError(f"{where} takes {c_in} channels, the layers before it give {channels}")
            if k % 2 == 0:
                raise ValueError(f"{where} has kernel size {k}; the zoo's convolutions have odd kernel sizes")
            values, macs, channels = values + c_out * c_in * k * k, macs + c_out * c_in * k * k * size * size, c_out
        elif kind.name == "fourier_elu":
            n, d = args
            if channels % d:
                raise ValueError(f"{where} takes fields of {d} channels, the layers before it give {channels}")
            macs += 2 * n * channels * size * size
        elif kind.name == "blur_pool":
            size = (size + 1) // 2
    fibre_dim, grid_rows = spec["group_pool"]
    if fibre_dim < 1 or channels % fibre_dim or grid_rows > MAX_SO2_GRID_SIZE:
        raise ValueError(f"{source}: export.group_pool {spec['group_pool']} does not pool {channels} channels "
                         f"(it takes [fields' channels dividing {channels}, grid rows up to {MAX_SO2_GRID_SIZE}])")
    in_features, classes = spec["head"]
    if in_features != channels // fibre_dim or classes > MAX_CLASSES:
        raise ValueError(f"{source}: export.head {spec['head']} must take the {channels // fibre_dim} pooled features "
                         f"to at most {MAX_CLASSES:,} classes")
    values += (in_features + 1) * classes
    mflops = 2 * (macs + grid_rows * channels * size * size) / 1e6
    if values > MAX_STORED_VALUES or mflops > MAX_MFLOPS:
        raise ValueError(f"{source}: export describes {values:,} weights and {mflops:,.0f} MFLOPs per 28x28 image, "
                         f"more than a network of this zoo may have ({MAX_STORED_VALUES:,} and {MAX_MFLOPS:,})")


def build_exported(spec: dict) -> ExportedCNN:
    """The empty model of a layer spec that passed ``check_export_spec`` (weights are loaded next)."""
    modules = [kind.build(*args) for kind, args in _layer_kinds(spec, "config.json")]
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
    """Rebuild the exported model from ``exported.safetensors`` (header, spec and sha256 checked before anything is
    built), in eval mode, not yet self-checked."""
    folder = Path(folder)
    spec = config.get("export")
    path = folder / EXPORTED_NAME
    if spec is None or not path.is_file():
        raise FileNotFoundError(f"{folder} has no exported model; write it with zoo export {folder} --overwrite")
    source = str(folder / "config.json")
    # the header against the tensors the spec implies, the spec against itself and the bounds, then the hash:
    # before any tensor or module exists
    check_tensors(read_safetensors_header(path), exported_tensors(spec, source), str(path),
                  "does not match the layer spec in config.json['export']", "Download the checkpoint again")
    check_export_spec(spec, source)
    try:
        state = load_file(verified(path, spec["sha256"]))
    except (SafetensorError, OSError) as e:
        raise ValueError(f"{path} is not a readable safetensors file ({e})") from e
    model = build_exported(spec)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{path} does not match the layer spec in config.json['export'] ({e}); "
                         "download the checkpoint again") from e
    return model.eval()
