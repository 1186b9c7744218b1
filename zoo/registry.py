"""Presets: a name, a group, architecture arguments and the weights published for it.

A preset is data; every preset is the same ``EquivariantCNN`` with another group, and the ``_wide`` presets
with 1.5 times the widths (the same width rule for any group). Where each preset's weights live, per weights
tag (``rotated``, the default: trained on rotated MNIST; ``upright``: upright MNIST only), is a record in
``zoo.records``; ``zoo.download`` finds their files.
"""
from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from .architecture import check_keywords
from .download import pretrained_folder
from .files import CheckpointInfo
from .layers import check_num_classes
from .presets import PRESETS, Preset
from .records import DEFAULT_TAG, RECORDS, WEIGHT_TAGS, checkout_weights, folder_name


def list_models() -> list[str]:
    """Names of the presets, sorted."""
    return sorted(PRESETS)


def published_models(weights: str = DEFAULT_TAG) -> list[str]:
    """Names of the presets with published ``weights`` (a tag), sorted: those with a weights record."""
    return sorted(r.preset for r in RECORDS if r.tag == weights and r.preset in PRESETS)


def get_preset(name: str) -> Preset:
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return PRESETS[name]


def check_tag(name: str, weights: str) -> None:
    if weights not in WEIGHT_TAGS:
        raise ValueError(f"unknown weights tag {weights!r} for {name}; known tags: {', '.join(WEIGHT_TAGS)}")


def weights_folder(name: str, weights: str = DEFAULT_TAG) -> Path:
    """Where the checkpoint of preset ``name`` with weights tag ``weights`` lives in this git checkout (where
    maintainers publish; an installed zoo downloads instead, see ``zoo.download``)."""
    get_preset(name)
    check_tag(name, weights)
    checkout = checkout_weights()
    if checkout is None:
        raise FileNotFoundError("this zoo was installed from a wheel and has no weights/ folder: publishing runs "
                                "in a git checkout (pass --out for a folder of your own)")
    return checkout / folder_name(name, weights)


def create_model(name: str, pretrained: bool = False, num_classes: int | None = None, weights: str = DEFAULT_TAG,
                 export: bool = False, checkpoint_dir: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, local_files_only: bool = False,
                 initialize: bool = True, **overrides) -> nn.Module:
    """Build preset ``name``; with ``pretrained=True`` load its published weights (eval mode, self-checked).

    ``num_classes`` different from the checkpoint's keeps every pretrained tensor but the head.
    ``weights`` picks the tag (``rotated`` or ``upright``); ``export=True`` returns the plain-PyTorch model
    (see ``zoo.convert.export``), which never imports escnn. ``overrides`` change architecture arguments
    (e.g. ``in_channels=3``; an unknown keyword raises, listing the known ones); ``initialize=False`` skips
    escnn's slow weight initialisation of an untrained model.

    Pretrained weights come from ``checkpoint_dir`` if given, else the checkout's ``weights/``, else the Hugging
    Face cache (``cache_dir``), else a download of just the files this load needs; ``local_files_only=True``
    (or ``HF_HUB_OFFLINE=1``) never downloads. See ``zoo.download``.
    """
    preset = get_preset(name)
    check_tag(name, weights)
    check_keywords(overrides, "create_model", ("pretrained", "num_classes", "weights", "export", "checkpoint_dir",
                                               "cache_dir", "local_files_only", "initialize"))
    if num_classes is not None:
        check_num_classes(num_classes)  # before anything is downloaded, loaded or logged
    if not pretrained:
        changes = {**overrides, **({} if num_classes is None else {"num_classes": num_classes})}
        model = _escnn_module("model").EquivariantCNN(preset.architecture.replace(**changes), initialize=initialize)
        model.meta = CheckpointInfo(preset=name)
        return _escnn_module("convert").export(model) if export else model
    folder = pretrained_folder(name, weights, export=export, checkpoint_dir=checkpoint_dir, cache_dir=cache_dir,
                               local_files_only=local_files_only)
    if export:
        from .exported import load_exported

        return load_exported(folder, num_classes=num_classes, **overrides)
    return _escnn_module("checkpoint").load_checkpoint(folder, num_classes=num_classes, expect_preset=name,
                                                       **overrides)


def _escnn_module(module: str):
    """Import a zoo module that needs escnn (only then: the exported path must not), with a clear error without it."""
    import importlib

    try:
        return importlib.import_module(f".{module}", __package__)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in ("escnn", "lie_learn", "py3nj"):
            raise
        raise ImportError(f"the escnn model needs escnn, which is not installed ({e}); install it with the "
                          "README's setup.sh (or pip install escnn), or load the plain-PyTorch model with "
                          "export=True") from e
