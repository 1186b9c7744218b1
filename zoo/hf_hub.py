"""Hugging Face Hub: save, load and publish checkpoint folders (functions over ``zoo.checkpoint``, like timm's).

    zoo.save_pretrained(model, "c8")                          # a folder laid out as a Hub model repository
    model = zoo.from_pretrained("equivariant-zoo/c8_mnist")   # a Hub repository id, or a local folder
    zoo.push_to_hub(model, "someone/c8_finetuned")            # after `hf auth login`

``huggingface_hub`` is imported only when the Hub or its cache is asked (``zoo.download``).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .architecture import check_keywords
from .download import fetch_unrecorded, needed_files, pretrained_folder
from .exported import load_exported
from .records import record_for_hub_id


def save_pretrained(model, folder: str | os.PathLike) -> dict:
    """Write ``model`` as a checkpoint folder (what ``from_pretrained`` and ``push_to_hub`` read)."""
    from .checkpoint import save_checkpoint

    return save_checkpoint(model, folder)


def from_pretrained(model_id: str | os.PathLike, *, num_classes: int | None = None, export: bool = False,
                    revision: str | None = None, cache_dir: str | os.PathLike | None = None,
                    token: str | bool | None = None, force_download: bool = False, local_files_only: bool = False,
                    **overrides):
    """Load a checkpoint from a local folder or a Hub repository id; ``export=True`` gives the plain-PyTorch model.

    A repository the zoo publishes (``equivariant-zoo/c8_mnist``) resolves as ``create_model`` does: the
    checkout's ``weights/``, the Hugging Face cache, then a download of only the files the load needs, pinned to
    the record's revision and verified against its sha256 (another ``revision`` is loaded like any repository).
    Any other repository is downloaded as its ``revision`` (default main) stands, and its weights must hash to
    what its ``config.json`` says. ``HF_HUB_OFFLINE=1`` or ``local_files_only=True`` never downloads.
    Other keywords change architecture arguments that ``EquivariantCNN`` takes (e.g. ``in_channels=3``).
    """
    check_keywords(overrides, "from_pretrained", ("num_classes", "export", "revision", "cache_dir", "token",
                                                  "force_download", "local_files_only"))
    folder = Path(model_id)
    if not folder.is_dir():
        options = dict(cache_dir=cache_dir, local_files_only=local_files_only, force_download=force_download,
                       token=token)
        record = record_for_hub_id(str(model_id))
        if record is not None and revision in (None, record.revision):
            folder = pretrained_folder(record.preset, record.tag, export=export, **options)
        else:
            folder = fetch_unrecorded(str(model_id), needed_files(export), revision, **options)
    if export:
        return load_exported(folder, num_classes=num_classes, **overrides)
    from .checkpoint import load_checkpoint  # escnn: only for the escnn model

    return load_checkpoint(folder, num_classes=num_classes, **overrides)


def push_to_hub(model, repo_id: str, *, token=None, private: bool | None = None, revision: str | None = None,
                commit_message: str = "Upload equivariant-zoo checkpoint") -> str:
    """Save ``model`` into a temporary folder and upload it to the Hub repository ``repo_id`` (created if needed)."""
    from huggingface_hub import HfApi

    from .checkpoint import save_checkpoint

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(model, tmp)
        return api.upload_folder(repo_id=repo_id, folder_path=tmp, revision=revision, commit_message=commit_message)
