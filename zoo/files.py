"""The files of a checkpoint folder, and writing them safely (no escnn, no model: a leaf module).

A checkpoint folder is a Hugging Face model repository: ``model.safetensors`` (what was learned, format 3: see
``zoo.checkpoint``), ``config.json`` (what it is and how it was made), ``README.md`` (the model card) and
``exported.safetensors`` (the plain-PyTorch model, see ``zoo.exported``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

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
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(config) - set(known))
        if unknown:
            raise ValueError(f"{source} has keys this zoo does not know ({unknown}); known: {', '.join(known)}")
        return cls(**config)

    def to_dict(self) -> dict:
        """What config.json holds: the fields that are set, in the order above."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) not in (None, {})}

    def replace(self, **changes) -> "CheckpointInfo":
        return dataclasses.replace(self, **changes)


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
