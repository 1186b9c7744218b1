"""The files of a checkpoint folder, and writing them safely (no escnn, no model: a leaf module).

A checkpoint folder is a Hugging Face model repository: ``model.safetensors`` (what was learned, format 3: see
``zoo.checkpoint``), ``config.json`` (what it is and how it was made), ``README.md`` (the model card) and
``exported.safetensors`` (the plain-PyTorch model, see ``zoo.exported``).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
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
