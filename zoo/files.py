"""The files of a checkpoint folder, and writing them safely (no escnn, no model: a leaf module).

A checkpoint folder is a Hugging Face model repository: ``model.safetensors`` (what was learned, format 3: see
``zoo.checkpoint``), ``config.json`` (what it is and how it was made), ``README.md`` (the model card) and
``exported.safetensors`` (the plain-PyTorch model, see ``zoo.exported``).

Every file of a folder may come from a stranger (``zoo.limits``): ``read_config`` caps the size of config.json
before reading it and checks every field of ``CheckpointInfo`` against ``CONFIG_SCHEMA``; ``verified_tensors``
compares a weights file's header with the tensors the config implies (``weights_tensors``) before its hash, and
both before a tensor is allocated.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .architecture import Architecture
from .limits import (MAX_CHANNELS, MAX_CLASSES, MAX_IN_CHANNELS, MAX_LAYERS, MAX_MIN_INPUT_SIZE, Check, Int, Json,
                     ListOf, Matrix, Nullable, Real, Record, TensorInfo, Text, check_tensors, read_json,
                     read_safetensors_header)

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
EXPORTED_NAME = "exported.safetensors"
FORMAT_VERSION = 3


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


def write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def write_config(folder: str | os.PathLike, config: dict) -> None:
    write_text(Path(folder) / CONFIG_NAME, json.dumps(config, indent=2) + "\n")


def read_config(folder: str | os.PathLike) -> dict:
    """A checkpoint folder's config.json, checked against ``CONFIG_SCHEMA`` (its size before it is read)."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {CONFIG_NAME} in {folder}: a checkpoint folder holds {WEIGHTS_NAME}, "
                                f"{CONFIG_NAME} and {CARD_NAME} (see zoo.checkpoint)")
    try:
        config = read_json(path)
    except ValueError as e:
        raise ValueError(f"{e}; restore it from the published checkpoint") from None
    missing = [k for k in ("architecture", "weights_sha256", "preset") if not isinstance(config, dict)
               or k not in config]
    if missing:
        raise ValueError(f"{path} lacks {missing}; it was not written by zoo.checkpoint.save_checkpoint")
    check_config(config, str(path))
    return config


def check_config(config: dict, source: str = CONFIG_NAME) -> None:
    """Refuse a config.json with a key ``CheckpointInfo`` does not have or a value out of ``CONFIG_SCHEMA``, naming
    the field (``source: architecture.widths[2] must be ...``)."""
    try:
        CONFIG_SCHEMA.check(config, "")
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint says about its weights: its config.json, typed (``model.meta`` of a loaded model).

    The first fields describe the run that made the weights; ``save_checkpoint`` fills in the rest. A config.json
    with a key that is not a field here is refused: it was not written by this zoo.
    """

    preset: str
    weights_tag: str | None = None  # "rotated", "upright", or "<data>-<mode>" for a fine-tuned checkpoint
    class_names: list[str] | None = None
    protocol: str | None = None  # how the metrics were measured
    metrics: dict = field(default_factory=dict)  # fractions in [0, 1], counts
    training: dict = field(default_factory=dict)  # the recipe (zoo.training.recipe)
    parent: dict | None = None  # a fine-tuned checkpoint's parent: hub_id, revision, folder, weights_sha256
    mode: str | None = None  # fine-tuning mode: finetune, probe or scratch
    format_version: int | None = None
    architecture: dict | None = None  # zoo.architecture.Architecture.to_dict()
    num_params: int | None = None
    weights_sha256: str | None = None
    input: dict | None = None  # channels, size, dtype, value_range, normalization
    versions: dict | None = None  # python, torch, escnn, safetensors, huggingface_hub
    mflops_28x28: float | None = None
    self_check: dict | None = None  # the probes' reference logits (zoo.probes)
    export: dict | None = None  # the plain-PyTorch model's layer spec and sha256 (zoo.exported)

    @classmethod
    def from_dict(cls, config: dict, source: str = "config.json") -> "CheckpointInfo":
        """From a config.json's contents, checked against ``CONFIG_SCHEMA`` (a key that is not a field raises)."""
        check_config(config, source)
        return cls(**config)

    def to_dict(self) -> dict:
        """What config.json holds: the fields that are set, in the order above."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) not in (None, {})}

    def replace(self, **changes) -> "CheckpointInfo":
        return dataclasses.replace(self, **changes)


HEX_SHA256 = Text(64, pattern="[0-9a-f]{64}")
NAME = Text(100)

# What each field of CheckpointInfo may hold (zoo.limits; the bounds are stated in docs/checkpoints.md).
CONFIG_SCHEMA = Record({
    "preset": NAME,
    "weights_tag": Nullable(NAME),
    "class_names": Nullable(ListOf(NAME, MAX_CLASSES, 1)),
    "protocol": Nullable(Text(2_000)),
    "metrics": Json(depth=3),
    "training": Json(depth=4),
    "parent": Nullable(Json(depth=2)),
    "mode": Nullable(Text(32)),
    "format_version": Nullable(Int(1, 1_000)),
    "architecture": Check(lambda value, path: Architecture.from_dict(value)),
    "num_params": Nullable(Int(0, 1_000_000_000)),
    "weights_sha256": HEX_SHA256,  # required (read_config): a load verifies the weights against it
    "input": Nullable(Record({"channels": Int(1, MAX_IN_CHANNELS), "size": ListOf(Int(1, MAX_MIN_INPUT_SIZE), 2, 2),
                              "dtype": Text(32), "value_range": ListOf(Real(), 2, 2),
                              "normalization": Text(2_000)})),
    "versions": Nullable(Json(depth=1, max_items=32, max_text=100)),
    "mflops_28x28": Nullable(Real(0, 1e9)),
    "self_check": Nullable(Record({"probes": Text(1_000), "rtol": Real(0, 1), "logits": Matrix(1_000, MAX_CLASSES)},
                                  required=("logits",))),
    # the layer kinds, their arguments and how the layers chain: zoo.exported.check_export_spec
    "export": Nullable(Record({
        "layers": ListOf(ListOf(Int(0, MAX_CHANNELS), 4, 1, first=Text(32)), 3 * MAX_LAYERS, 1),
        "group_pool": ListOf(Int(0, MAX_CHANNELS), 2, 2),
        "head": ListOf(Int(1, max(MAX_CHANNELS, MAX_CLASSES)), 2, 2),
        "in_channels": Int(1, MAX_IN_CHANNELS),
        "min_input_size": Int(1, MAX_MIN_INPUT_SIZE),
        "file": Text(100, choices=(EXPORTED_NAME,)),
        "sha256": HEX_SHA256,
    }, required=("layers", "group_pool", "head", "in_channels", "min_input_size", "sha256"))),
})


def weights_tensors(arch: Architecture) -> dict[str, TensorInfo]:
    """The tensors ``model.safetensors`` holds for ``arch`` (format 3, ``zoo.checkpoint.portable_state``), by
    arithmetic: each block's expanded filter and batch-norm tensors, named as escnn names them, and the head."""
    tensors = {}
    for i, layer in enumerate(arch.layers()):
        k, fields = layer.kernel_size, layer.fields
        tensors[f"blocks.{i}.conv.filter"] = TensorInfo("F32", (layer.channels, layer.in_channels, k, k))
        if layer.group == "so2":  # IIDBatchNorm: per field of the band-limited representation (one trivial irrep)
            irreps = "|".join(f"({j},)" for j in range(arch.so2_max_frequency + 1))
            norm = f"blocks.{i}.norm.regular_[{irreps}]_"
            shapes = {"weight": (fields, 1), "bias": (fields, 1), "running_mean": (fields, layer.fibre_dim),
                      "running_var": (fields, 1)}
            counter = f"blocks.{i}.norm.num_batches_tracked"
        else:  # InnerBatchNorm: one channel of statistics per regular field
            norm = f"blocks.{i}.norm.batch_norm_[{layer.fibre_dim}]."
            shapes = dict.fromkeys(("weight", "bias", "running_mean", "running_var"), (fields,))
            counter = norm + "num_batches_tracked"
        tensors.update({norm + name: TensorInfo("F32", shape) for name, shape in shapes.items()})
        tensors[counter] = TensorInfo("I64", ())
    tensors["head.weight"] = TensorInfo("F32", (arch.num_classes, arch.num_features))
    tensors["head.bias"] = TensorInfo("F32", (arch.num_classes,))
    return tensors


def verified_tensors(path: Path, expected: dict[str, TensorInfo], sha256: str, hint: str, advice: str) -> Path:
    """``path`` if its safetensors header lists exactly the ``expected`` tensors (names, dtypes, shapes), the file
    is as long as the header says, and it hashes to ``sha256``. Only the header is read before the hash, and the
    hash only of a file of the size the checkpoint implies (``zoo.limits.check_tensors`` words the error)."""
    if not path.is_file():
        raise FileNotFoundError(f"no {path.name} in {path.parent}; download the checkpoint again")
    check_tensors(read_safetensors_header(path), expected, str(path), hint, advice)
    return verified(path, sha256)


def check_format(config: dict, folder: str | os.PathLike) -> None:
    """Refuse a checkpoint of another format version, saying what to do about it."""
    version = config.get("format_version", 1)
    if version == FORMAT_VERSION:
        return
    if version == 2:
        raise ValueError(f"{folder} is a format-2 checkpoint: its tensors are named by position (features.<j>), "
                         "this zoo names them by block (blocks.<i>.conv). Rename them with: zoo upgrade "
                         f"{folder}  (it proves the result with the checkpoint's self-check), or download it again")
    raise ValueError(f"{folder} has format_version {version!r}; this version of the zoo reads format "
                     f"{FORMAT_VERSION}" + (": upgrade equivariant-zoo" if isinstance(version, int)
                                            and version > FORMAT_VERSION else " (format 1 is no longer read)"))


def verified(path: Path, expected_sha256: str) -> Path:
    """``path`` if it exists with the expected sha256; a clear error otherwise."""
    if not path.is_file():
        raise FileNotFoundError(f"no {path.name} in {path.parent}; download the checkpoint again")
    digest = sha256_file(path)
    if digest != expected_sha256:
        raise ValueError(f"{path} is corrupt or truncated: sha256 {digest[:12]}... but {CONFIG_NAME} says "
                         f"{expected_sha256[:12]}...; download the checkpoint again")
    return path
