"""Presets: a name, a group, architecture arguments and the weights published for it.

A preset is data; every preset is the same ``EquivariantCNN`` with another group, and the ``_wide`` presets
with 1.5 times the widths (the same width rule for any group). Where each preset's weights live, per weights
tag (``rotated``, the default: trained on rotated MNIST; ``upright``: upright MNIST only), is a record in
``zoo.records``; ``zoo.download`` finds their files.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from torch import nn

from .architecture import check_keywords
from .card import training_dataset
from .data import DATASET_CLASSES
from .download import pretrained_folder
from .files import CheckpointInfo, read_config
from .layers import check_num_classes
from .presets import PRESETS, Preset
from .records import (DEFAULT_TAG, RECORDS, WEIGHT_TAGS, WeightsRecord, checkout_weights, find_record, folder_name,
                      record_for_hub_id, tag_dataset)

HF_HUB_PREFIX = "hf-hub:"
LICENSE = "mit"  # every checkpoint the zoo publishes (its model cards say so)
# The framing (``zoo.transforms``) of pictures for weights trained on a dataset; MNIST's for any other data
DATASET_FRAMINGS = {"MNIST": "mnist_invariant", "FashionMNIST": "fashion_mnist"}


@dataclass(frozen=True)
class PretrainedCfg:
    """What pretrained weights are and what they expect (timm's ``pretrained_cfg``, torchvision's ``Weights.meta``),
    as ``model.pretrained_cfg`` of every model ``create_model(..., pretrained=True)`` returns.

    ``input_size`` is (channels, height, width); pixel values lie in ``value_range`` with the background at its
    low end, not normalised further; ``framing`` names the transform that turns a picture into such an input
    (``zoo.create_transform(model)`` builds it, see ``zoo.transforms``).
    """

    architecture: str  # the preset, e.g. "c8_mnist"
    tag: str | None = None  # the weights tag, e.g. "rotated" (None: not published by the zoo)
    hub_id: str | None = None  # the Hugging Face Hub repository, e.g. "equivariant-zoo/c8_mnist"
    revision: str | None = None  # the Hub revision the record pins
    input_size: tuple[int, int, int] = (1, 28, 28)
    value_range: tuple[float, float] = (0.0, 1.0)
    framing: str = "mnist_invariant"
    class_names: tuple[str, ...] = tuple(str(i) for i in range(10))
    license: str | None = LICENSE

    @property
    def name(self) -> str:
        """The name ``create_model`` takes for these weights: ``"c8_mnist.upright"``."""
        return f"{self.architecture}.{self.tag}" if self.tag else self.architecture

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def pretrained_cfg(config: dict, record: WeightsRecord | None = None) -> PretrainedCfg:
    """The ``PretrainedCfg`` of a checkpoint from its config.json (and its weights record, if the zoo publishes it);
    its framing follows the data the weights were trained on (``zoo.card.training_dataset``)."""
    spec = config.get("input") or {}
    channels = spec.get("channels", config.get("architecture", {}).get("in_channels", 1))
    height, width = spec.get("size", (28, 28))
    classes = config.get("class_names") or [str(i) for i in range(config.get("architecture", {}).get(
        "num_classes", 10))]
    return PretrainedCfg(architecture=config["preset"], tag=record.tag if record else config.get("weights_tag"),
                         hub_id=record.hub_id if record else None, revision=record.revision if record else None,
                         input_size=(int(channels), int(height), int(width)),
                         value_range=tuple(spec.get("value_range", (0.0, 1.0))), class_names=tuple(classes),
                         framing=_framing(training_dataset(config)), license=LICENSE if record else None)


def _framing(dataset: str) -> str:
    return DATASET_FRAMINGS.get(dataset, DATASET_FRAMINGS["MNIST"])


def resolve_pretrained_cfg(name: str) -> PretrainedCfg:
    """The ``PretrainedCfg`` of a published preset by name (``"c8_mnist"``, ``"c8_mnist.upright"``,
    ``"hf-hub:equivariant-zoo/c8_mnist"``), from its weights record: nothing is read or downloaded."""
    preset, tag, hub_id = parse_model_name(name)
    if hub_id is not None:
        record = record_for_hub_id(hub_id)
        if record is None:
            raise ValueError(f"{hub_id} is not a repository the zoo publishes; load the model "
                             f"(zoo.create_model({name!r}, pretrained=True)) and pass it instead")
    else:
        get_preset(preset)
        record = find_record(preset, tag or DEFAULT_TAG)
        if record is None:
            check_tag(preset, tag or DEFAULT_TAG)
            dataset = tag_dataset(tag or DEFAULT_TAG)
            return PretrainedCfg(architecture=preset, tag=None, license=None,
                                 input_size=(PRESETS[preset].architecture.in_channels, 28, 28),
                                 framing=_framing(dataset), class_names=tuple(DATASET_CLASSES[dataset]))
    arch = PRESETS[record.preset].architecture
    channels, (height, width) = record.input.get("channels", arch.in_channels), record.input.get("size", (28, 28))
    dataset = tag_dataset(record.tag)
    return PretrainedCfg(architecture=record.preset, tag=record.tag, hub_id=record.hub_id, revision=record.revision,
                         input_size=(int(channels), int(height), int(width)),
                         value_range=tuple(record.input.get("value_range", (0.0, 1.0))), framing=_framing(dataset),
                         class_names=tuple(DATASET_CLASSES[dataset]))


def parse_model_name(name: str) -> tuple[str | None, str | None, str | None]:
    """``"c8_mnist"`` -> (preset, None, None); ``"c8_mnist.upright"`` -> (preset, tag, None) (timm's name.tag);
    ``"hf-hub:owner/repo"`` -> (None, None, "owner/repo")."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"expected a model name such as 'c8_mnist', 'c8_mnist.upright' or "
                        f"'hf-hub:equivariant-zoo/c8_mnist', got {name!r}")
    if name.startswith(HF_HUB_PREFIX):
        hub_id = name[len(HF_HUB_PREFIX):]
        if hub_id.count("/") != 1 or not all(hub_id.split("/")):
            raise ValueError(f"{name!r}: expected {HF_HUB_PREFIX}owner/repository, e.g. "
                             f"{HF_HUB_PREFIX}equivariant-zoo/c8_mnist")
        return None, None, hub_id
    preset, _, tag = name.partition(".")
    if _ and not tag:
        raise ValueError(f"{name!r}: expected name.tag, e.g. c8_mnist.upright (tags: {', '.join(WEIGHT_TAGS)})")
    return preset, tag or None, None


def list_models(filter: str | Sequence[str] = "", pretrained: bool = False) -> list[str]:
    """Names of the presets, sorted; ``filter``: shell-style patterns (``"c8*"``; any of a list), ``pretrained``:
    only presets with published weights (any tag)."""
    names = sorted(PRESETS)
    if pretrained:
        names = [n for n in names if any(r.preset == n for r in RECORDS)]
    patterns = [filter] if isinstance(filter, str) else list(filter)
    if any(patterns):
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns if p)]
    return names


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


def create_model(name: str, pretrained: bool = False, num_classes: int | None = None, weights: str | None = None,
                 export: bool = False, checkpoint_dir: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None, local_files_only: bool = False,
                 initialize: bool = True, **overrides) -> nn.Module:
    """Build preset ``name``; with ``pretrained=True`` load its published weights (eval mode, self-checked).

    ``name`` is a preset, a preset and its weights tag as timm writes them (``"c8_mnist.upright"``: the same as
    ``weights="upright"``), or a Hugging Face Hub repository (``"hf-hub:equivariant-zoo/c8_mnist"``, loaded as
    ``zoo.from_pretrained`` loads it, with ``pretrained=True``). A pretrained model carries ``pretrained_cfg``
    (a ``PretrainedCfg``): its input, framing, class names, Hub id and tag; ``zoo.create_transform(model)``.
    ``num_classes`` different from the checkpoint's keeps every pretrained tensor but the head.
    ``weights`` picks the tag (default ``rotated``); ``export=True`` returns the plain-PyTorch model
    (see ``zoo.convert.export``), which never imports escnn. ``overrides`` change architecture arguments
    (e.g. ``in_channels=3``; an unknown keyword raises, listing the known ones); ``initialize=False`` skips
    escnn's slow weight initialisation of an untrained model.

    Pretrained weights come from ``checkpoint_dir`` if given, else the checkout's ``weights/``, else the Hugging
    Face cache (``cache_dir``), else a download of just the files this load needs; ``local_files_only=True``
    (or ``HF_HUB_OFFLINE=1``) never downloads. See ``zoo.download``.
    """
    name, weights, hub_id = _resolve_name(name, weights)
    if hub_id is not None:
        if not pretrained:
            raise ValueError(f"{HF_HUB_PREFIX}{hub_id} is not a repository the zoo publishes, so it has no preset to "
                             "build untrained; pass pretrained=True to load it")
        from .hf_hub import from_pretrained

        model = from_pretrained(hub_id, num_classes=num_classes, export=export, cache_dir=cache_dir,
                                local_files_only=local_files_only, **overrides)
        meta = getattr(model, "meta", None)
        if isinstance(meta, CheckpointInfo):
            model.pretrained_cfg = _as_built(pretrained_cfg(meta.to_dict()), model)
        return model
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

        model = load_exported(folder, num_classes=num_classes, **overrides)
    else:
        model = _escnn_module("checkpoint").load_checkpoint(folder, num_classes=num_classes, expect_preset=name,
                                                            **overrides)
    model.pretrained_cfg = _as_built(pretrained_cfg(read_config(folder), find_record(name, weights)), model)
    return model


def _as_built(cfg: PretrainedCfg, model: nn.Module) -> PretrainedCfg:
    """``cfg`` with the classes and input channels of ``model`` as it was built: a new head (``num_classes``)
    has no class names yet, a new first layer (``in_channels``) takes other images."""
    classes = model.get_classifier().out_features
    if classes == cfg.num_classes and model.in_channels == cfg.input_size[0]:
        return cfg
    names = cfg.class_names if classes == cfg.num_classes else tuple(str(i) for i in range(classes))
    return dataclasses.replace(cfg, class_names=names, input_size=(model.in_channels, *cfg.input_size[1:]))


def _resolve_name(name: str, weights: str | None) -> tuple[str | None, str, str | None]:
    """(preset, weights tag, Hub id) from ``create_model``'s name and ``weights``; a conflict is an error."""
    preset, tag, hub_id = parse_model_name(name)
    if hub_id is not None:
        record = record_for_hub_id(hub_id)
        if record is None:
            if weights is not None:
                raise ValueError(f"{name!r} names its weights itself; leave weights= out (got {weights!r})")
            return None, DEFAULT_TAG, hub_id
        preset, tag = record.preset, record.tag
    if tag is not None and weights is not None and weights != tag:
        raise ValueError(f"{name!r} asks for the {tag!r} weights but weights={weights!r} was passed; give the tag "
                         f"once (create_model({f'{preset}.{weights}'!r}) or create_model({preset!r}, "
                         f"weights={weights!r}))")
    return preset, tag or weights or DEFAULT_TAG, None


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
