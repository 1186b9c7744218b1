"""Checkpoint folders: ``model.safetensors`` + ``config.json`` + ``README.md``, laid out as a Hugging Face model repo.

Format 3 stores what was learned in a form that means the same on every machine: each equivariant convolution
as its expanded filter (out, in, k, k), never as escnn coefficients, whose kernel basis escnn may build
differently on another CPU (see ``zoo.basis``); batch-norm parameters and statistics and the head as they are.
Loading fits the coefficients of the locally built basis by least squares. ``config.json`` records the sha256
of ``model.safetensors`` (verified on every load), the architecture, and the logits of the embedded probe digits
(``zoo.probes``) that every load reproduces before it returns a model. Tensors are named after the model's
blocks (``blocks.<i>.conv.filter``, ``blocks.<i>.norm...``); format 2 named them by position in a flat list
(``features.<j>``) and is refused with the command that renames them (``zoo upgrade``).
"""
from __future__ import annotations

import logging
import os
import platform
from pathlib import Path

import torch
from escnn import nn as enn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .architecture import Architecture, check_keywords
from .basis import conv_filter, load_conv_filter
from .card import model_card
from .convert import count_mflops, export
from .exported import save_exported
from .files import (CARD_NAME, FORMAT_VERSION, WEIGHTS_NAME, CheckpointInfo, atomic_write, check_format, read_config,
                    sha256_file, verified_tensors, weights_tensors, write_config, write_text)
from .layers import check_num_classes
from .model import EquivariantCNN
from .presets import PRESETS
from .probes import reference_logits, self_check
from .surgery import adapt_in_channels

logger = logging.getLogger(__name__)

FILTER_SUFFIX = ".filter"  # an R2Conv's expanded filter, stored in place of its ".weights" coefficients
_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def learned_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and batch-norm statistics, as contiguous, unshared tensors (what safetensors accepts)."""
    params = {name for name, _ in model.named_parameters()}
    return {name: tensor.detach().contiguous().clone() for name, tensor in model.state_dict().items()
            if name in params or name.endswith(_STATISTICS)}


def block_convs(model) -> dict[str, enn.R2Conv]:
    """Every block's convolution by its state-dict name (``blocks.<i>.conv``)."""
    return {f"blocks.{i}.conv": block.conv for i, block in enumerate(model.blocks)}


def portable_state(model) -> dict[str, torch.Tensor]:
    """``learned_state`` with every block's convolution coefficients replaced by its expanded filter."""
    state = learned_state(model)
    for name, conv in block_convs(model).items():
        del state[f"{name}.weights"]
        state[name + FILTER_SUFFIX] = conv_filter(conv)
    return state


def library_versions() -> dict[str, str]:
    import escnn
    import huggingface_hub
    import safetensors

    return {"python": platform.python_version(), "torch": torch.__version__, "escnn": escnn.__version__,
            "safetensors": safetensors.__version__, "huggingface_hub": huggingface_hub.__version__}


def save_checkpoint(model, folder: str | os.PathLike) -> dict:
    """Write ``model`` (an ``EquivariantCNN``) and its ``model.meta`` (a ``CheckpointInfo``: what the run that
    made it says) into ``folder``; returns the config written.

    Every file is written atomically; the weights go first, so a config never names missing weights.
    """
    folder = Path(folder)
    info = model.meta if isinstance(model.meta, CheckpointInfo) else CheckpointInfo(preset=model.arch.group)
    state = portable_state(model)
    atomic_write(folder / WEIGHTS_NAME,
                 lambda tmp: save_file(state, tmp, metadata={"format": "pt", "preset": info.preset}))
    info = info.replace(
        format_version=FORMAT_VERSION, architecture=model.arch.to_dict(),
        num_params=sum(p.numel() for p in model.parameters()), weights_sha256=sha256_file(folder / WEIGHTS_NAME),
        class_names=info.class_names or [str(i) for i in range(model.num_classes)],
        input=info.input or default_input_spec(model.in_channels), versions=info.versions or library_versions(),
        mflops_28x28=round(count_mflops(model), 2), self_check=reference_logits(model, model.in_channels),
        export=save_exported(export(model), folder))
    config = info.to_dict()
    write_config(folder, config)
    write_text(folder / CARD_NAME, model_card(config))
    model.meta = info
    return config


def default_input_spec(in_channels: int) -> dict:
    return {"channels": in_channels, "size": [28, 28], "dtype": "float32", "value_range": [0.0, 1.0],
            "normalization": "none: pixel values in [0, 1] with background 0 (MNIST divided by 255)"}


def load_checkpoint(folder: str | os.PathLike, num_classes: int | None = None, expect_preset: str | None = None,
                    **overrides):
    """Build the model a checkpoint folder describes and load its weights (eval mode).

    Nothing is built before config.json has passed its schema and bounds (``zoo.files.read_config``) and the
    weights file's header lists exactly the tensors its architecture implies (``zoo.files.verified_tensors``).

    ``num_classes`` different from the checkpoint's drops only the head (logged) and puts a fresh one in
    its place; every other tensor must match exactly. ``expect_preset`` refuses a checkpoint made for
    another preset. ``overrides`` change architecture arguments that do not touch the weights' shapes.
    """
    check_keywords(overrides, "load_checkpoint")
    if num_classes is not None:
        check_num_classes(num_classes)
    folder = Path(folder)
    config = read_config(folder)
    check_format(config, folder)
    info = CheckpointInfo.from_dict(config, str(folder / "config.json"))
    if expect_preset is not None and config["preset"] != expect_preset:
        raise ValueError(f"checkpoint {folder} was made for preset {config['preset']!r}, not {expect_preset!r}")
    saved = checked_architecture(config, folder)
    in_channels = overrides.pop("in_channels", None)
    wanted = saved.replace(**overrides)  # checked before any weight is read
    if in_channels is not None:
        saved.replace(in_channels=in_channels)
    # the header against the tensors the architecture implies, then the hash: before any tensor or module exists
    weights = verified_tensors(folder / WEIGHTS_NAME, weights_tensors(saved), config["weights_sha256"],
                               f"does not fit its architecture ({saved.group}, widths {list(saved.widths)})",
                               "Was it made for another preset?")
    try:
        state = load_file(weights)
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{weights} is not a readable safetensors file ({e}); download it again") from e

    model = EquivariantCNN(saved, initialize=False)
    load_portable_state(model, state, source=str(weights))
    self_check(model.eval(), config, str(folder), model.in_channels)  # before any change to the model
    if wanted != saved:  # verified as saved; now the same weights in the architecture asked for
        logger.info("%s: self-check passed; rebuilding with %s", folder, overrides)
        model = EquivariantCNN(wanted, initialize=False)
        load_portable_state(model, state, source=str(weights))
    model.meta = info
    if in_channels is not None and in_channels != model.in_channels:
        logger.warning("%s: adapted the first layer from %d to %d input channels (filters summed over the old "
                       "channels, divided by the new count)", folder, model.in_channels, in_channels)
        adapt_in_channels(model, in_channels)
    if num_classes is not None and num_classes != model.num_classes:
        logger.warning("%s: dropped head.weight and head.bias (%d classes) for a new head with %d classes",
                       folder, model.num_classes, num_classes)
        model.reset_classifier(num_classes)
    return model.eval()


def checked_architecture(config: dict, folder) -> Architecture:
    """The architecture config.json describes, refused if it contradicts the rest of the config: a preset whose
    group is another, or class names of another count."""
    arch = Architecture.from_dict(config["architecture"])
    preset = PRESETS.get(config["preset"])
    if preset is not None and preset.group != arch.group:
        raise ValueError(f"{folder}/config.json contradicts itself: preset {config['preset']!r} is a {preset.group} "
                         f"network, its architecture a {arch.group} one; restore the file or download it again")
    names = config.get("class_names")
    if names is not None and len(names) != arch.num_classes:
        raise ValueError(f"{folder}/config.json contradicts itself: {len(names)} class names for "
                         f"{arch.num_classes} classes; restore the file or download it again")
    return arch


def load_portable_state(model, state: dict[str, torch.Tensor], source: str = "state") -> None:
    """Load a format-2 state: fit each stored filter in the local kernel basis, load the other tensors as they are.

    Every tensor must be present with its shape. Loads in train mode, then leaves train mode, so escnn's
    expanded filters are rebuilt from the new weights.
    """
    _check_keys(portable_state(model), state, model, source)
    convs = block_convs(model)
    was_training = model.training
    model.train()
    result = model.load_state_dict({k: v for k, v in state.items() if not k.endswith(FILTER_SUFFIX)}, strict=False)
    assert not result.unexpected_keys  # checked above; missing keys: the coefficients and escnn's derived buffers
    for name, module in convs.items():
        load_conv_filter(module, state[name + FILTER_SUFFIX], f"{source}: {name}")
    model.train(was_training)


def load_learned_state(model, state: dict[str, torch.Tensor], source: str = "state") -> None:
    """Load parameters (escnn coefficients) and batch-norm statistics; every learned tensor must be present.

    For resume checkpoints, which never leave the machine that wrote them (published checkpoints use
    ``load_portable_state``). Loads in train mode, then leaves it, so escnn's expanded filters are rebuilt.
    """
    _check_keys(learned_state(model), state, model, source)
    was_training = model.training
    model.train()
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys  # checked above; missing keys are escnn's derived buffers
    model.train(was_training)


def _check_keys(expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor], model, source: str) -> None:
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        details = "; ".join(f"{label}: {keys[:4]}{' ...' if len(keys) > 4 else ''}" for label, keys in
                            (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys)
        raise ValueError(f"{source} does not fit this architecture ({model.arch.group}, widths "
                         f"{list(model.arch.widths)}): {details}. Was it made for another preset?")


def update_metrics(folder: str | os.PathLike, metrics: dict) -> dict:
    """Replace the test metrics in a checkpoint's config.json and regenerate its model card."""
    folder = Path(folder)
    info = CheckpointInfo.from_dict(read_config(folder), str(folder / "config.json"))
    info = info.replace(metrics={**info.metrics, **metrics}, protocol=info.protocol or "see zoo/data.py")
    config = info.to_dict()
    write_config(folder, config)
    write_text(folder / CARD_NAME, model_card(config))
    return config
