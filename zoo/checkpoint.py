"""Checkpoint folders: ``model.safetensors`` + ``config.json`` + ``README.md``, laid out as a Hugging Face model repo.

A checkpoint stores only what was learned: parameters and batch-norm statistics. escnn's bases, expanded
filters and Fourier matrices are rebuilt from ``config.json["architecture"]``. ``config.json`` also records the
sha256 of ``model.safetensors``, verified on every load, and everything needed to use the weights.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
FORMAT_VERSION = 1
_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def learned_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and batch-norm statistics, as contiguous, unshared tensors (what safetensors accepts)."""
    params = {name for name, _ in model.named_parameters()}
    return {name: tensor.detach().contiguous().clone() for name, tensor in model.state_dict().items()
            if name in params or name.endswith(_STATISTICS)}


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)`` and rename the result onto ``path``: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def library_versions() -> dict[str, str]:
    import escnn
    import huggingface_hub
    import safetensors

    return {"python": platform.python_version(), "torch": torch.__version__, "escnn": escnn.__version__,
            "safetensors": safetensors.__version__, "huggingface_hub": huggingface_hub.__version__}


def save_checkpoint(model, folder: str | os.PathLike) -> dict:
    """Write ``model`` (an ``EquivariantCNN``) and its ``model.meta`` into ``folder``; returns the config written.

    Every file is written atomically; the weights go first, so a config never names missing weights.
    """
    from .card import model_card
    from .exported import save_exported
    from .model import count_mflops

    folder = Path(folder)
    state = learned_state(model)
    preset = model.meta.get("preset", model.arch["group"])
    atomic_write(folder / WEIGHTS_NAME,
                 lambda tmp: save_file(state, tmp, metadata={"format": "pt", "preset": preset}))
    config = {
        **{k: v for k, v in model.meta.items() if k not in ("architecture", "weights_sha256", "num_params")},
        "format_version": FORMAT_VERSION,
        "preset": preset,
        "architecture": dict(model.arch),
        "num_params": sum(p.numel() for p in model.parameters()),
        "weights_sha256": sha256_file(folder / WEIGHTS_NAME),
    }
    config.setdefault("class_names", [str(i) for i in range(model.num_classes)])
    config.setdefault("input", default_input_spec(model.in_channels))
    config.setdefault("versions", library_versions())
    config["mflops_28x28"] = round(count_mflops(model), 2)
    config["export"] = save_exported(model.export(), folder)
    atomic_write(folder / CONFIG_NAME, lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2) + "\n"))
    atomic_write(folder / CARD_NAME, lambda tmp: Path(tmp).write_text(model_card(config)))
    model.meta = config
    return config


def default_input_spec(in_channels: int) -> dict:
    return {"channels": in_channels, "size": [28, 28], "dtype": "float32", "value_range": [0.0, 1.0],
            "normalization": "none: pixel values in [0, 1] with background 0 (MNIST divided by 255)"}


def read_config(folder: str | os.PathLike) -> dict:
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {CONFIG_NAME} in {folder}: a checkpoint folder holds {WEIGHTS_NAME}, "
                                f"{CONFIG_NAME} and {CARD_NAME} (see zoo.checkpoint)")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); restore it from the published checkpoint") from e
    missing = [k for k in ("architecture", "weights_sha256", "preset") if k not in config]
    if missing:
        raise ValueError(f"{path} lacks {missing}; it was not written by zoo.checkpoint.save_checkpoint")
    return config


def load_checkpoint(folder: str | os.PathLike, num_classes: int | None = None, expect_preset: str | None = None,
                    **overrides):
    """Build the model a checkpoint folder describes and load its weights (eval mode).

    ``num_classes`` different from the checkpoint's drops only the head (logged) and puts a fresh one in
    its place; every other tensor must match exactly. ``expect_preset`` refuses a checkpoint made for
    another preset. ``overrides`` change architecture arguments that do not touch the weights' shapes.
    """
    from .model import EquivariantCNN

    folder = Path(folder)
    config = read_config(folder)
    if expect_preset is not None and config["preset"] != expect_preset:
        raise ValueError(f"checkpoint {folder} was made for preset {config['preset']!r}, not {expect_preset!r}")
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_NAME} in {folder}; download the checkpoint again")
    digest = sha256_file(weights)
    if digest != config["weights_sha256"]:
        raise ValueError(f"{weights} is corrupt or truncated: sha256 {digest[:12]}... but {CONFIG_NAME} says "
                         f"{config['weights_sha256'][:12]}...; download the checkpoint again")
    try:
        state = load_file(weights)
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{weights} is not a readable safetensors file ({e}); download it again") from e

    in_channels = overrides.pop("in_channels", None)
    arch = {**config["architecture"], **overrides}
    model = EquivariantCNN(**arch, initialize=False)
    load_learned_state(model, state, source=str(weights))
    if in_channels is not None and in_channels != model.in_channels:
        logger.warning("%s: adapted the first layer from %d to %d input channels (filters summed over the old "
                       "channels, divided by the new count)", folder, model.in_channels, in_channels)
        model.adapt_in_channels(in_channels)
    if num_classes is not None and num_classes != model.num_classes:
        logger.warning("%s: dropped head.weight and head.bias (%d classes) for a new head with %d classes",
                       folder, model.num_classes, num_classes)
        model.reset_classifier(num_classes)
    model.meta = config
    return model.eval()


def load_learned_state(model, state: dict[str, torch.Tensor], source: str = "state") -> None:
    """Load parameters and batch-norm statistics; every learned tensor must be present with its shape.

    Loads in train mode, then leaves train mode, so escnn's expanded filters are rebuilt from the new weights.
    """
    expected = learned_state(model)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        details = "; ".join(f"{label}: {keys[:4]}{' ...' if len(keys) > 4 else ''}" for label, keys in
                            (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys)
        raise ValueError(f"{source} does not fit this architecture ({model.arch['group']}, widths "
                         f"{model.arch['widths']}): {details}. Was it made for another preset?")
    was_training = model.training
    model.train()
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys  # checked above; missing keys are escnn's derived buffers
    model.train(was_training)


def update_metrics(folder: str | os.PathLike, metrics: dict) -> dict:
    """Replace the test metrics in a checkpoint's config.json and regenerate its model card."""
    from .card import model_card

    folder = Path(folder)
    config = read_config(folder)
    config["metrics"] = {**config.get("metrics", {}), **metrics}
    config["protocol"] = config.get("protocol") or "see zoo/data.py"
    atomic_write(folder / CONFIG_NAME, lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2) + "\n"))
    atomic_write(folder / CARD_NAME, lambda tmp: Path(tmp).write_text(model_card(config)))
    return config
