"""Hugging Face Hub: save, load and publish checkpoint folders (functions over ``zoo.checkpoint``, like timm's).

    zoo.save_pretrained(model, "c8")                          # a folder laid out as a Hub model repository
    model = zoo.from_pretrained("someone/c8_mnist")           # or a local folder; offline from the Hub cache
    zoo.push_to_hub(model, "someone/c8_mnist")                # after `huggingface-cli login`

``huggingface_hub`` is imported only here, and only when one of these is called.
"""
from __future__ import annotations

import inspect
import os
import tempfile
from pathlib import Path

from .checkpoint import load_checkpoint, save_checkpoint
from .files import CARD_NAME, CONFIG_NAME, EXPORTED_NAME, WEIGHTS_NAME
from .model import EquivariantCNN

FILES = [WEIGHTS_NAME, CONFIG_NAME, CARD_NAME, EXPORTED_NAME]


def save_pretrained(model, folder: str | os.PathLike) -> dict:
    """Write ``model`` as a checkpoint folder (what ``from_pretrained`` and ``push_to_hub`` read)."""
    return save_checkpoint(model, folder)


def from_pretrained(model_id: str | os.PathLike, *, num_classes: int | None = None, **kwargs):
    """Load a checkpoint from a local folder or a Hub repository id (downloaded into the Hub cache; offline
    with ``HF_HUB_OFFLINE=1`` when it is cached).

    Keywords that ``EquivariantCNN`` takes (e.g. ``in_channels=3``) change the architecture as in
    ``load_checkpoint``; every other keyword (``revision``, ``cache_dir``, ``token``, ``force_download``,
    ``local_files_only``, ``proxies``, ...) goes to ``huggingface_hub.snapshot_download``, never to the model.
    """
    architecture = set(inspect.signature(EquivariantCNN.__init__).parameters) - {"self", "initialize"}
    overrides = {k: v for k, v in kwargs.items() if k in architecture}
    hub_kwargs = {k: v for k, v in kwargs.items() if k not in architecture}
    folder = Path(model_id)
    if not folder.is_dir():
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(str(model_id), allow_patterns=FILES, **hub_kwargs))
    return load_checkpoint(folder, num_classes=num_classes, **overrides)


def push_to_hub(model, repo_id: str, *, token=None, private: bool | None = None, revision: str | None = None,
                commit_message: str = "Upload equivariant-zoo checkpoint") -> str:
    """Save ``model`` into a temporary folder and upload it to the Hub repository ``repo_id`` (created if needed)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(model, tmp)
        return api.upload_folder(repo_id=repo_id, folder_path=tmp, revision=revision, commit_message=commit_message)
